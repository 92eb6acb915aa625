/* backend_sys.c: the system allocator as a backend, twice: sys (plain) and raw (the raw family
 * of the release build, which also refuses pool blocks: handing one to the system allocator
 * would corrupt the system heap, so it is reported and the process aborts). */
#include "backend.h"

#include <stdio.h>

static void *sys_malloc(void *ctx, size_t n) {
    (void)ctx;
    return pymt__sys_malloc(n);
}
static void *sys_calloc(void *ctx, size_t nelem, size_t elsize) {
    (void)ctx;
    return pymt__sys_calloc(nelem, elsize);
}
static void *sys_realloc(void *ctx, void *p, size_t n) {
    (void)ctx;
    return pymt__sys_realloc(p, n);
}
static void sys_free(void *ctx, void *p) {
    (void)ctx;
    pymt__sys_free(p);
}
static size_t sys_usable(void *ctx, const void *p) {
    (void)ctx;
    return pymt__sys_usable_size(p);
}

const pymt__backend pymt__backend_sys = {NULL, sys_malloc, sys_calloc, sys_realloc, sys_free,
                                         sys_usable};

PYMT__NOINLINE PYMT__COLD static void raw_mismatch(const char *fn, const void *p) {
    char msg[256];
    snprintf(msg, sizeof msg,
             "pymt: fatal: %s(%p): the block was allocated by object memory "
             "(pymt_object_malloc family, a pool block) and is released through raw memory "
             "(pymt_mem_* family); free it with pymt_object_free\n",
             fn, p);
    pymt__fatal(msg);
}

static void *raw_realloc(void *ctx, void *p, size_t n) {
    if (pymt__unlikely(p != NULL && pymt__arena_lookup(p)))
        raw_mismatch("pymt_mem_realloc", p);
    return sys_realloc(ctx, p, n);
}
static void raw_free(void *ctx, void *p) {
    if (pymt__unlikely(pymt__arena_lookup(p)))
        raw_mismatch("pymt_mem_free", p);
    sys_free(ctx, p);
}

const pymt__backend pymt__backend_raw = {NULL, sys_malloc, sys_calloc, raw_realloc, raw_free,
                                         sys_usable};

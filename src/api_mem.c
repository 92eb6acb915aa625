/* api_mem.c: raw memory, pymt_mem_* (the PyMem_Malloc family): undistinguished chunks from the
 * system allocator in every mode, thread-safe without any lock of pymt's. The one check the
 * release build makes: a pool block handed to pymt_mem_free or pymt_mem_realloc belongs to object
 * memory, and giving it to the system allocator would corrupt the system heap, so it is reported
 * and the process aborts. Debug mode forwards everything to debug.c. */
#include <errno.h>
#include <stdio.h>

#include "arena.h"

PYMT__NOINLINE PYMT__COLD static void mem_mismatch(const char *fn, const void *p) {
    char msg[256];
    snprintf(msg, sizeof msg,
             "pymt: fatal: %s(%p): the block was allocated by object memory "
             "(pymt_object_malloc family, a pool block) and is released through raw memory "
             "(pymt_mem_* family); free it with pymt_object_free\n",
             fn, p);
    pymt__fatal(msg);
}

PYMT_API void *pymt_mem_malloc(size_t n) {
    if (pymt__unlikely(n > PTRDIFF_MAX)) {
        errno = ENOMEM;
        return NULL;
    }
    pymt__ensure_init();
    if (pymt__unlikely(pymt__opt.debug))
        return pymt__debug_malloc(PYMT__FAM_RAW, n, false);
    return pymt__sys_malloc(n);
}

PYMT_API void *pymt_mem_calloc(size_t nelem, size_t elsize) {
    size_t n;
    if (pymt__unlikely(!pymt__calloc_size(nelem, elsize, &n)))
        return NULL;
    pymt__ensure_init();
    if (pymt__unlikely(pymt__opt.debug))
        return pymt__debug_malloc(PYMT__FAM_RAW, n, true);
    return pymt__sys_calloc(nelem, elsize);
}

PYMT_API void *pymt_mem_realloc(void *p, size_t n) {
    if (pymt__unlikely(n > PTRDIFF_MAX)) {
        errno = ENOMEM;
        return NULL;
    }
    pymt__ensure_init();
    if (pymt__unlikely(pymt__opt.debug))
        return pymt__debug_realloc(PYMT__FAM_RAW, p, n);
    if (pymt__unlikely(p != NULL && pymt__arena_lookup(p)))
        mem_mismatch("pymt_mem_realloc", p);
    return pymt__sys_realloc(p, n);
}

PYMT_API void pymt_mem_free(void *p) {
    if (p == NULL)
        return;
    pymt__ensure_init(); /* also as the process's first call: debug mode must check p */
    if (pymt__unlikely(pymt__opt.debug)) {
        pymt__debug_free(PYMT__FAM_RAW, p);
        return;
    }
    if (pymt__unlikely(pymt__arena_lookup(p)))
        mem_mismatch("pymt_mem_free", p);
    pymt__sys_free(p);
}

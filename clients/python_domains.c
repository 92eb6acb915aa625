/* python_domains.c: the PEP 445 adaptors (python_domains.h). ctx is unused; CPython has
 * already refused sizes above PY_SSIZE_T_MAX. malloc and free, most of CPython's calls, carry
 * object memory's fast paths inline (objmem.h): through the public functions each call paid a
 * jump more, and these adaptors are always linked into the same binary as pymt. */
#define PY_SSIZE_T_CLEAN
#include "python_domains.h"

#include <stdlib.h>

#include "objmem.h"
#include "pymt/pymt.h"

static void *raw_malloc(void *ctx, size_t n) {
    (void)ctx;
    return pymt_mem_malloc(n);
}
static void *raw_calloc(void *ctx, size_t nelem, size_t elsize) {
    (void)ctx;
    return pymt_mem_calloc(nelem, elsize);
}
static void *raw_realloc(void *ctx, void *p, size_t n) {
    (void)ctx;
    return pymt_mem_realloc(p, n);
}
static void raw_free(void *ctx, void *p) {
    (void)ctx;
    pymt_mem_free(p);
}
static void *obj_malloc(void *ctx, size_t n) {
    (void)ctx;
    return pymt__objmem_malloc(n);
}
static void *obj_calloc(void *ctx, size_t nelem, size_t elsize) {
    (void)ctx;
    return pymt_object_calloc(nelem, elsize);
}
static void *obj_realloc(void *ctx, void *p, size_t n) {
    (void)ctx;
    return pymt_object_realloc(p, n);
}
static void obj_free(void *ctx, void *p) {
    (void)ctx;
    pymt__objmem_free(p);
}

void pymt_python_tables(PyMemAllocatorEx *raw, PyMemAllocatorEx *obj) {
    /* CPython's own pymalloc never purges a pool, only whole arenas, and a Python heap swings
     * by tens of MiB (a list of a million tuples built and dropped): let free pools keep up to
     * 32 MiB resident (as much as the pools in use) instead of the library's 8 MiB, unless the
     * user chose. Set before pymt's first allocation, which reads it. */
    setenv("PYMT_PURGE_MAX", "32M", 0);
    *raw = (PyMemAllocatorEx){NULL, raw_malloc, raw_calloc, raw_realloc, raw_free};
    *obj = (PyMemAllocatorEx){NULL, obj_malloc, obj_calloc, obj_realloc, obj_free};
}

/* api_mem.c: raw memory, pymt_mem_* (the PyMem_Malloc family): undistinguished chunks from the
 * system allocator in every mode, thread-safe without any lock of pymt's. Each entry point
 * checks its size, initialises if need be, and calls the raw family's backend table: raw
 * (the system allocator, refusing pool blocks) or the debug backend over it. */
#include <errno.h>

#include "init.h"

PYMT_API void *pymt_mem_malloc(size_t n) {
    if (pymt__unlikely(n > PTRDIFF_MAX)) {
        errno = ENOMEM;
        return NULL;
    }
    pymt__ensure_init();
    return pymt__table_raw->malloc(pymt__table_raw->ctx, n);
}

PYMT_API void *pymt_mem_calloc(size_t nelem, size_t elsize) {
    size_t n;
    if (pymt__unlikely(!pymt__calloc_size(nelem, elsize, &n)))
        return NULL;
    pymt__ensure_init();
    return pymt__table_raw->calloc(pymt__table_raw->ctx, nelem, elsize);
}

PYMT_API void *pymt_mem_realloc(void *p, size_t n) {
    if (pymt__unlikely(n > PTRDIFF_MAX)) {
        errno = ENOMEM;
        return NULL;
    }
    pymt__ensure_init();
    return pymt__table_raw->realloc(pymt__table_raw->ctx, p, n);
}

PYMT_API void pymt_mem_free(void *p) {
    if (p == NULL)
        return;
    pymt__ensure_init();
    pymt__table_raw->free(pymt__table_raw->ctx, p);
}

/* api_objmem.c: object memory, pymt_object_malloc/calloc/realloc/free (the PyObject_Malloc
 * family), and pymt_usable_size. malloc and free are the inline fast paths of objmem.h; calloc
 * pops from the same bins and zeroes the block, and realloc of a pool block whose class the
 * thread caches is served here too (kept in place, or moved through the bins); the rest check
 * their sizes, initialise if need be, and call object memory's backend table. */
#include <errno.h>
#include <string.h>

#include "objmem.h"

PYMT__FAST_ENTRY PYMT_API void *pymt_object_malloc(size_t n) {
    return pymt__objmem_malloc(n);
}

PYMT__FAST_ENTRY PYMT_API void pymt_object_free(void *p) {
    pymt__objmem_free(p);
}

PYMT_API void *pymt_object_calloc(size_t nelem, size_t elsize) {
    size_t n;
    if (pymt__unlikely(!pymt__calloc_size(nelem, elsize, &n)))
        return NULL;
    /* malloc's fast path, then the zeroing the pools backend would do (pool_alloc) */
    void *p = pymt__objmem_pop(n);
    if (pymt__likely(p != NULL))
        return memset(p, 0, n);
    pymt__ensure_init();
    return pymt__table_objmem->calloc(pymt__table_objmem->ctx, nelem, elsize);
}

/* realloc of p, whose pool tag is tag (0: not a pool block), when the fast path below did not
 * keep it in place: moved through the bins when p is a pool block whose class the thread
 * caches (its bin has a bound, so the pools backend with thread caches is in force; in every
 * other mode, and for a thread that does not cache, the bins have bound 0 and the table
 * decides), served from them when p is NULL, else through object memory's table. */
static PYMT__NOINLINE void *realloc_slow(void *p, size_t n, unsigned tag) {
    if (p == NULL) {
        /* a malloc (CPython's first append to an empty list): malloc's pop, else the table */
        void *q = pymt__objmem_pop(n);
        if (q != NULL)
            return q;
    } else if (tag != 0 && n != 0) {
        unsigned c = pymt__tag_class(tag);
        if (pymt__tbin_max(pymt__tcache_bin(c)) != 0) {
            size_t size = pymt__class_to_size(c), target = pymt__realloc_target(n, size);
            void *q = pymt__objmem_pop(target);
            if (q != NULL) {
                PYMT_TRACK_RESIZE(q, target, n);
                PYMT_TRACK_OPEN(p, size); /* the copy reads past the old request */
                memcpy(q, p, n < size ? n : size);
                pymt__objmem_free(p);
                return q;
            }
        }
    }
    if (pymt__unlikely(n > PTRDIFF_MAX)) {
        errno = ENOMEM;
        return NULL;
    }
    pymt__ensure_init();
    return pymt__table_objmem->realloc(pymt__table_objmem->ctx, p, n);
}

/* The fast path: a pool block whose class the thread caches stays in place when n fits it and
 * is more than three quarters of it (the pools backend's rule, pools_realloc in
 * backend_pools.c). */
PYMT_API void *pymt_object_realloc(void *p, size_t n) {
    unsigned tag = pymt__pool_tag(p);
    if (pymt__likely(tag != 0)) {
        unsigned c = pymt__tag_class(tag);
        size_t size = pymt__class_to_size(c);
        if (pymt__likely(n != 0 && pymt__realloc_keeps(n, size)) &&
            pymt__likely(pymt__tbin_max(pymt__tcache_bin(c)) != 0)) {
            PYMT_TRACK_RESIZE(p, size, n);
            return p;
        }
    }
    return realloc_slow(p, n, tag);
}

PYMT_API size_t pymt_usable_size(const void *p) {
    if (p == NULL)
        return 0;
    pymt__ensure_init();
    return pymt__table_objmem->usable(pymt__table_objmem->ctx, p);
}

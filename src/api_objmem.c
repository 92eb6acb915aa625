/* api_objmem.c: object memory, pymt_object_malloc/calloc/realloc/free (the PyObject_Malloc
 * family). Requests of 1..512 bytes take the thread-cache fast path (tcache.h); 0 is served as
 * 1 (debug mode gets it as 0); larger requests, pooling off, and debug mode go through the
 * out-of-line paths below.
 * free() asks the arena map (lock-free) whether a pointer is a pool block: pool blocks go back
 * to the thread cache, anything else to the system allocator.
 *   fast path malloc: size check, bin pop                    -> pymt__tcache_alloc
 *   fast path free:   arena map lookup, arena's class table  -> pymt__tcache_free
 * Both are inline in objmem.h, which CPython's PEP 445 adaptors use too.
 * Debug mode costs the fast path nothing: its bins have max 0, so every call reaches a _slow
 * function, which forwards to debug.c. */
#include <errno.h>
#include <string.h>

#include "large.h"
#include "objmem.h"

bool pymt__is_pool_block(const void *p) {
    return pymt__arena_lookup(p);
}

void *pymt__objmem_malloc_slow(size_t n) {
    if (pymt__unlikely(n > PTRDIFF_MAX)) {
        errno = ENOMEM;
        return NULL;
    }
    pymt__ensure_init();
    /* before 0 becomes 1: the debug layer must see 0 bytes, so that its trailing guard starts
     * at the payload and pymt_usable_size says 0, as for pymt_mem_malloc(0) */
    if (pymt__unlikely(pymt__opt.debug))
        return pymt__debug_malloc(PYMT__FAM_OBJMEM, n, false);
    if (n == 0)
        return pymt__tcache_alloc(0, 1);
    return pymt__large_malloc(n, false);
}

PYMT_API void *pymt_object_malloc(size_t n) {
    return pymt__objmem_malloc(n);
}

PYMT_API void *pymt_object_calloc(size_t nelem, size_t elsize) {
    size_t n;
    if (pymt__unlikely(!pymt__calloc_size(nelem, elsize, &n)))
        return NULL;
    pymt__ensure_init();
    if (pymt__unlikely(pymt__opt.debug))
        return pymt__debug_malloc(PYMT__FAM_OBJMEM, n, true);
    if (n <= PYMT__SMALL_MAX) {
        void *p = pymt_object_malloc(n);
        if (p != NULL)
            memset(p, 0, n ? n : 1);
        return p;
    }
    return pymt__large_malloc(n, true);
}

void pymt__objmem_free_other(void *p) {
    if (p == NULL)
        return;
    pymt__ensure_init();
    if (pymt__unlikely(pymt__opt.debug)) {
        pymt__debug_free(PYMT__FAM_OBJMEM, p);
        return;
    }
    pymt__large_free(p);
}

PYMT_API void pymt_object_free(void *p) {
    pymt__objmem_free(p);
}

PYMT_API void *pymt_object_realloc(void *p, size_t n) {
    if (p == NULL)
        return pymt_object_malloc(n);
    if (pymt__unlikely(n > PTRDIFF_MAX)) {
        errno = ENOMEM;
        return NULL;
    }
    pymt__ensure_init();
    if (pymt__unlikely(pymt__opt.debug))
        return pymt__debug_realloc(PYMT__FAM_OBJMEM, p, n);
    if (pymt__arena_lookup(p)) {
        size_t size = pymt__class_to_size(pymt__block_class(p));
        size_t want = n ? n : 1;
        /* pymalloc's rule: stay when it fits and shrinks by less than a quarter */
        if (want <= size && 4 * want > 3 * size) {
            PYMT_TRACK_RESIZE(p, size, want);
            return p;
        }
        void *q = pymt_object_malloc(want);
        if (q == NULL)
            return NULL;
        PYMT_TRACK_OPEN(p, size); /* the copy reads past the old request */
        memcpy(q, p, want < size ? want : size);
        pymt_object_free(p);
        return q;
    }
    if (!pymt__opt.pooling)
        return pymt__sys_realloc(p, n);
    if (n > PYMT__SMALL_MAX)
        return pymt__large_realloc(p, n);
    /* a large block shrinking under the threshold moves into the pools */
    void *q = pymt_object_malloc(n);
    if (q == NULL)
        return NULL;
    size_t have = pymt__sys_usable_size(p);
    memcpy(q, p, n < have ? n : have);
    pymt__large_free(p);
    return q;
}

/* ---- the same family without debug checks, for debug.c's own blocks ---------------------- */

void *pymt__objmem_malloc_nodebug(size_t n) {
    if (n > PTRDIFF_MAX) {
        errno = ENOMEM;
        return NULL;
    }
    pymt__ensure_init();
    if (pymt__opt.pooling && n <= PYMT__SMALL_MAX) {
        void *p = pymt__pool_alloc_one(pymt__size_to_class(n ? n : 1));
        if (p != NULL)
            PYMT_TRACK_ALLOC(p, n);
        return p;
    }
    return pymt__large_malloc(n, false);
}

void pymt__objmem_free_nodebug(void *p) {
    if (p == NULL)
        return;
    if (pymt__arena_lookup(p)) {
        PYMT_TRACK_FREE(p, pymt__class_to_size(pymt__block_class(p)));
        pymt__pool_free_one(p);
        return;
    }
    pymt__large_free(p);
}

size_t pymt__objmem_usable_nodebug(const void *p) {
    if (p == NULL)
        return 0;
    if (pymt__arena_lookup(p))
        return pymt__class_to_size(pymt__block_class(p));
    return pymt__sys_usable_size(p);
}

PYMT_API size_t pymt_usable_size(const void *p) {
    if (p == NULL)
        return 0;
    pymt__ensure_init(); /* also as the process's first call: debug mode answers for p */
    if (pymt__unlikely(pymt__opt.debug))
        return pymt__debug_usable_size(p);
    if (!pymt__arena_lookup(p))
        return pymt__sys_usable_size(p);
    size_t n = pymt__class_to_size(pymt__block_class(p));
    PYMT_TRACK_USABLE(p, n); /* the program may now use all n bytes */
    return n;
}

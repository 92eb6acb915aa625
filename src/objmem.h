/* objmem.h: the object-memory fast paths, inline, for pymt_object_malloc and pymt_object_free
 * (api_objmem.c) and for callers inside pymt's own binaries that reach object memory through
 * another signature: CPython's PEP 445 adaptors (clients/python_domains.c) would otherwise
 * pay a call and a jump to the public function on every allocation and free. */
#ifndef PYMT_OBJMEM_H
#define PYMT_OBJMEM_H

#include "arena.h"
#include "pool.h"
#include "tcache.h"

/* Requests of 0 bytes and of more than 512 (debug mode included: small ones reach debug.c
 * through the thread cache's slow path). */
void *pymt__objmem_malloc_slow(size_t n) PYMT__NOINLINE;
/* p is not a pool block: NULL, a debug block, a large block, or a pooling-off block. */
void pymt__objmem_free_other(void *p) PYMT__NOINLINE;

/* pymt_object_malloc. */
static inline void *pymt__objmem_malloc(size_t n) {
    if (pymt__likely(n - 1 < PYMT__SMALL_MAX))
        return pymt__tcache_alloc(pymt__size_to_class(n), n);
    return pymt__objmem_malloc_slow(n);
}

/* pymt_object_free. */
static inline void pymt__objmem_free(void *p) {
    if (pymt__likely(pymt__arena_lookup(p))) {
        pymt__tcache_free(p, pymt__block_class(p));
        return;
    }
    pymt__objmem_free_other(p);
}

#endif /* PYMT_OBJMEM_H */

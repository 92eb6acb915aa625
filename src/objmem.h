/* objmem.h: object memory's fast paths, inline: pymt_object_malloc and pymt_object_free
 * (api_objmem.c) are these, and so are callers inside pymt's own binaries that reach object
 * memory through another signature (CPython's PEP 445 adaptors in clients/python_domains.c).
 *   malloc: 1..512 bytes, and 513 bytes to the medium ceiling while the tier is on -> pop
 *           the thread's bin of the class; anything else, or an empty bin -> the slow path,
 *           which goes through object memory's backend table (init.h)
 *   free:   a pool block (its pool tag, arena.h) -> push on the thread's bin; anything else
 *           (tag 0: its bin is always full), or a full bin -> the slow path, through the table
 * No mode is tested here: in every mode but pymalloc with caches the bins are empty with max 0,
 * so every call takes the slow path, and the table there says what the mode does.
 * This is the one internal header a client may include: the CPython adaptors
 * (clients/python_domains.c, linked with the static library) inline pymt__objmem_malloc and
 * pymt__objmem_free through it, and reach nothing else of src/. */
#ifndef PYMT_OBJMEM_H
#define PYMT_OBJMEM_H

#include "init.h"

/* The continuations: initialise if need be, then the table (objmem.c). */
void *pymt__objmem_malloc_slow(size_t n) PYMT__NOINLINE;
void pymt__objmem_free_slow(void *p) PYMT__NOINLINE;

/* The inline parts alone, for the two families whose blocks the thread caches hold (object
 * memory and objects: the same pools backend whenever the bins are in use), each family
 * continuing through its own table on a miss.
 * pop: a block for n bytes from the thread's bin of its class; NULL when the bin is empty, n is
 * 0 or past the pools' ceiling (513..the medium ceiling only while the tier is on). */
static inline void *pymt__objmem_pop(size_t n) {
    if (pymt__likely(n <= PYMT__SMALL_MAX))
        return pymt__tcache_pop_small(n);
    if (n - 1 < pymt__medium_limit())
        return pymt__tcache_pop(pymt__size_to_medium_class(n), n);
    return NULL;
}
/* push: p on the thread's bin of its class when p is a pool block and the bin has room. */
static inline bool pymt__objmem_push(void *p) {
    return pymt__likely(pymt__tcache_push_tagged(p, pymt__pool_tag(p)));
}

/* pymt_object_malloc. */
static inline void *pymt__objmem_malloc(size_t n) {
    void *p = pymt__objmem_pop(n);
    if (pymt__likely(p != NULL))
        return p;
    return pymt__objmem_malloc_slow(n);
}

/* pymt_object_free. */
static inline void pymt__objmem_free(void *p) {
    if (pymt__objmem_push(p))
        return;
    pymt__objmem_free_slow(p);
}

#endif /* PYMT_OBJMEM_H */

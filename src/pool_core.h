/* pool_core.h: what pool.c and its validators (pool_check.c) share: a core's struct, the
 * cores, and the tests of a pool's state they both use. Private to the pool layer. */
#ifndef PYMT_POOL_CORE_H
#define PYMT_POOL_CORE_H

#include "pool.h"

/* One classic core: pymalloc's lists and counters behind a mutex of its own. An arena belongs
 * to one core from the moment the core takes it until it is retired; the arena records the
 * core's index in the pad of its pool 0 (pymt__arena_core), so the core of a block is found
 * from its address, without a lock. */
typedef struct pymt__core {
    pthread_mutex_t mutex;
    unsigned index;                               /* in pymt__cores[]; set once at init */
    size_t locks;                                 /* acquisitions (under the mutex) */
    size_t contended;                             /* acquisitions whose trylock found the
                                                     mutex busy (under the mutex) */
    pymt__pool *usedpools[PYMT__NCLASSES];        /* partly used pools per class */
    pymt__arena *usable_arenas;
    pymt__arena *nfp2lasta[PYMT__POOLS_PER_ARENA + 1];
    size_t class_pools[PYMT__NCLASSES];           /* pools assigned to each class */
    size_t pools_used;                            /* their sum */
    size_t class_blocks[PYMT__NCLASSES];          /* blocks those pools hold */
    size_t class_out[PYMT__NCLASSES];             /* blocks out of those pools */
    /* Free pools of the core's usable arenas whose pages are still resident ("dirty": they held
     * blocks since they were last carved from scratch). Past the core's bound (dirty_bound)
     * the pools of the emptiest arenas are purged down to half of it: their pages after the
     * first go back to the kernel, and the pool starts carving from scratch when it is used
     * again. */
    size_t dirty_total;
    /* Pools purged since the start, and purged pools taken again (each a refault that keeping
     * the pool would have saved). The refaults since the last pymt_trim (refaulted -
     * refaulted_trim, the core's regret) say how far the heap swings: the bound keeps at least
     * that many dirty pools, so a heap that empties and fills again in cycles (a program
     * building and dropping a big structure) learns to keep its pools after the first cycles. */
    size_t purged, refaulted, refaulted_trim;
} __attribute__((aligned(64))) pymt__core;

/* The cores, and how many are in use (pymt__pool_init sets it once, before any thread
 * allocates). */
extern PYMT__HIDDEN pymt__core pymt__cores[PYMT__CORES_MAX];
extern PYMT__HIDDEN unsigned pymt__ncores;

/* Is b a carved block of pool, of class c (a link of the pool's own free list)? */
static inline bool pymt__pool_holds_block(const pymt__pool *pool, const void *b, unsigned c) {
    uintptr_t off = (uintptr_t)b - (uintptr_t)pool;
    uintptr_t head = pymt__pool_overhead(pool);
    return off >= head && off < pool->nextoffset && pymt__class_divides(off - head, c);
}

/* Is free pool `pool` dirty: has it carved blocks since it was last purged or made? */
static inline bool pymt__pool_dirty(const pymt__pool *pool) {
    return pool->nextoffset > pymt__pool_overhead(pool);
}

/* Has pool no free block, carved or not? (A full pool is on no list.) */
static inline bool pymt__pool_is_full(const pymt__pool *pool) {
    return pool->freeblock == NULL && pool->nextoffset > pymt__pool_maxnext(pool->szidx);
}

/* Validator of one core's lists (its lock held): pool_check.c. */
bool pymt__pool_core_lists_check(const pymt__core *k);

#endif /* PYMT_POOL_CORE_H */

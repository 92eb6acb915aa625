/* pool.h: the pool core (pool.c): the core lock, pool headers, and the batch entry points the
 * thread caches and the API use. Entry points ending in _locked need pymt__core_lock held. */
#ifndef PYMT_POOL_H
#define PYMT_POOL_H

#include <pthread.h>

#include "arena.h"
#include "harden.h"

/* The pool header (struct pymt__pool) is in types.h. */
#define PYMT__POOL_OVERHEAD ((sizeof(struct pymt__pool) + PYMT__ALIGNMENT - 1) & ~(size_t)(PYMT__ALIGNMENT - 1))

static inline pymt__pool *pymt__pool_of(const void *p) {
    return (pymt__pool *)((uintptr_t)p & ~(uintptr_t)PYMT__POOL_MASK);
}

/* Pool 0 of an arena keeps the core index after its header (below); its blocks start at 128.
 *   pool 0: | header 48 | core 1 | pad 79 | blocks ...      (blocks start at 128)
 *   pool k: | header 48 | blocks ...                        (blocks start at 48)
 * free() reads a block's class from the pool tags (arena.h), not from its pool header: pool
 * headers sit at 16 KiB-aligned addresses, which share a handful of cache sets, so with a few
 * hundred pools in use every header read missed L2; the tags of 64 MiB of pools share a page. */
#define PYMT__POOL0_OVERHEAD 128u
/* The index of the core an arena belongs to (pool.c), in the pad of pool 0 after its header:
 * written when a core takes the arena, before any of its blocks is handed out, and not again
 * until the arena is retired, so a thread holding a block of the arena (live, or free in a
 * cache or the depot) reads it without a lock. */
#define PYMT__ARENA_CORE_OFFSET 48u
#define PYMT__CORES_MAX 16u
_Static_assert(PYMT__ARENA_CORE_OFFSET >= sizeof(struct pymt__pool) &&
                   PYMT__ARENA_CORE_OFFSET < PYMT__POOL0_OVERHEAD,
               "core index in pool 0's pad");
_Static_assert(PYMT__CORES_MAX <= 32, "a core index fits a byte and a 32-bit mask");
static inline unsigned pymt__arena_core(const void *p) {
    return *(const uint8_t *)(((uintptr_t)p & ~(uintptr_t)PYMT__ARENA_MASK) +
                              PYMT__ARENA_CORE_OFFSET);
}
static inline void pymt__arena_core_set(uintptr_t arena, unsigned core) {
    *(uint8_t *)(arena + PYMT__ARENA_CORE_OFFSET) = (uint8_t)core;
}
/* The class of p, a pointer into a carved pool (pymt__arena_lookup(p) holds). */
static inline unsigned pymt__block_class(const void *p) {
    return pymt__tag_class(pymt__pool_tag(p));
}
/* Bytes before the first block of a pool. */
static inline size_t pymt__pool_overhead(const pymt__pool *pool) {
    return ((uintptr_t)pool & PYMT__ARENA_MASK) == 0 ? PYMT__POOL0_OVERHEAD : PYMT__POOL_OVERHEAD;
}
/* Blocks of class c in a pool (16 B -> 1021 ... 512 B -> 31; pool 0 of an arena a few fewer). */
static inline size_t pymt__pool_blocks(const pymt__pool *pool, unsigned c) {
    return (PYMT__POOL_SIZE - pymt__pool_overhead(pool)) / pymt__class_to_size(c);
}
/* The largest offset in a pool at which a whole block of class c fits (pymalloc's
 * maxnextoffset, which the header no longer stores). */
static inline uint32_t pymt__pool_maxnext(unsigned c) {
    return (uint32_t)(PYMT__POOL_SIZE - pymt__class_to_size(c));
}

/* Is off, an offset from a pool's first block, a multiple of class c's block size? Without a
 * division: off is a multiple of 16 and off/16 of d = c + 1, which for off/16 < 2^32 holds
 * exactly when (off/16) * ceil(2^64 / d) mod 2^64 < ceil(2^64 / d) (Lemire, Kaser and Kurz,
 * "Faster remainder by direct computation", 2019); pymt__class_magic[c] is that ceiling (0 for
 * d = 1, where every offset qualifies). */
extern const uint64_t pymt__class_magic[PYMT__NCLASSES];
static inline bool pymt__class_divides(uintptr_t off, unsigned c) {
    uint64_t m = pymt__class_magic[c];
    return (off & (PYMT__ALIGNMENT - 1)) == 0 &&
           (uint64_t)(off >> PYMT__ALIGNMENT_SHIFT) * m <= m - 1;
}
/* Does b, in a pool of class c, sit on a block boundary of that pool? */
static inline bool pymt__block_aligned(const void *b, unsigned c) {
    uintptr_t head = ((uintptr_t)b & PYMT__ARENA_MASK) < PYMT__POOL_SIZE ? PYMT__POOL0_OVERHEAD
                                                                          : PYMT__POOL_OVERHEAD;
    /* head <= offset <= maxnext in one unsigned comparison (below head wraps around) */
    uintptr_t rel = ((uintptr_t)b & PYMT__POOL_MASK) - head;
    return rel <= pymt__pool_maxnext(c) - head && pymt__class_divides(rel, c);
}
/* Is b the start of a block of class c in one of pymt's arenas? The hardened mode's check of
 * a pointer decoded from a free-list link: the arena map, the arena's class table and b's
 * offset in its pool, never the pool header (a cache miss, and the header may be what an
 * attacker overwrote). */
static inline bool pymt__block_ok(const void *b, unsigned c) {
    return pymt__arena_lookup(b) && pymt__block_class(b) == c && pymt__block_aligned(b, c);
}

/* Has the pool of b, a block boundary of a pool in use, carved b yet? The hardened mode's check
 * of a pointer the program frees, which the arena map, the class table and the grid cannot
 * tell from a block handed out. The carving offset only grows while the pool has a block out
 * (the program's, so the carve of b happened before its free), under the core lock; both sides
 * are relaxed atomics. */
static inline bool pymt__block_carved(const void *b) {
    const pymt__pool *pool = (const pymt__pool *)((uintptr_t)b & ~(uintptr_t)PYMT__POOL_MASK);
    return ((uintptr_t)b & PYMT__POOL_MASK) < pymt__plain_load_relaxed(&pool->nextoffset);
}

/* The pool core is several classic cores (pool.c), each with its own arenas and mutex; a
 * thread takes its batches from one of them, and a block goes back to the core of its arena.
 * pymt__pool_init fixes their number (0: one) and the most bytes of free pools they keep resident
 * (PYMT_PURGE_MAX, split between them) before any thread allocates; pymt__pool_cores
 * says how many there are.
 * Locks, in the order they are taken: the global lock, then core 0, 1, ..., then the arena
 * layer's own. pymt__global_lock guards what is global (the thread-cache registry); the
 * refill and flush entry points below take one core's lock and never the global one.
 * pymt__core_lock takes the global lock and every core's (stats, trim, fork, validators,
 * tests): the entry points ending in _locked need it held. */
void pymt__pool_init(unsigned ncores, size_t purge_max);
/* The index of the calling thread's core, chosen at its first call: the core with the fewest
 * live threads counted (ties in turn). */
unsigned pymt__pool_self_core(void);
/* The calling thread's cache is set up: it counts as one of its core's live threads (its core
 * chosen now if it has none yet). */
void pymt__pool_thread_join(void);
/* The calling thread's cache is gone (its destructor, at thread exit): it no longer counts as
 * one of its core's live threads. */
void pymt__pool_thread_gone(void);
/* Live threads counted on core k (0 for k past the cores; pymt_print_stats, tests). */
unsigned pymt__pool_core_threads(unsigned k);
unsigned pymt__pool_cores(void);
void pymt__global_lock(void);
void pymt__global_unlock(void);
void pymt__core_lock(void);
void pymt__core_unlock(void);

/* Chains of free blocks pass between the pool core, the depot and the thread caches linked
 * through word 0 (pymt__link_get / pymt__link_set: encoded in the hardened mode, where every
 * block of a chain also carries the free marker in word 1; harden.h).
 * In the hardened mode the core checks a pool's header (canary, class, arena, offsets, count)
 * before it uses it, every link it follows and every block given back, and stops the program
 * with a report on the first that fails (harden.h). */
/* Take want blocks of class c from the pools, or fewer when memory runs out; returns the chain
 * (linked through word 0, NULL-terminated) and sets *got. A pool's whole free list is spliced
 * on in O(1), without touching its blocks, when *got stays <= limit (want <= limit), so *got
 * may exceed want by up to limit - want. *got == 0 means out of memory (errno ENOMEM).
 * pymt__pool_take: from the calling thread's core, taking that core's lock (and no other).
 * pymt__pool_take_locked: the same with pymt__core_lock held. */
void *pymt__pool_take(unsigned c, size_t want, size_t limit, size_t *got);
void *pymt__pool_take_locked(unsigned c, size_t want, size_t limit, size_t *got);
/* Give back chains of blocks (each linked through word 0, NULL-terminated), any classes, any
 * cores: each block goes to the core of its arena, and each core concerned is locked once.
 * Arenas that became wholly free are retired before it returns. No core lock held (the global
 * lock may be). */
void pymt__pool_give_chains(void *const *chains, unsigned nchains);
void pymt__pool_give(void *chain);
/* The same for one chain with pymt__core_lock held: arenas that became wholly free are added
 * to *retire (linked through nextarena) for pymt__pool_retire_list after the lock is dropped. */
void pymt__pool_give_locked(void *chain, pymt__arena **retire);
/* Retire a list collected by pymt__pool_give_locked. No lock needed. */
void pymt__pool_retire_list(pymt__arena *retire);

/* One block / one free with the lock taken inside (classic mode, debug mode, dead threads).
 * Hardened mode: alloc_one clears the block's link and marker; free_one stops the program with
 * a report when p is not a block start or is already free. */
void *pymt__pool_alloc_one(unsigned c);
void pymt__pool_free_one(void *p);
/* Hardened mode: is block p on its pool's free list (a double free's report says where the
 * block was found)? Walks the list, stopping at a link that fails its check. Core lock held. */
bool pymt__pool_lists_block_locked(const void *p);

/* Per-class figures under pymt__core_lock (stats). */
typedef struct pymt__pool_class_counts {
    size_t pools, blocks, out; /* pools of the class; blocks they hold; blocks out of them */
} pymt__pool_class_counts;
/* Per-class figures over all cores, the empty pools, core-lock acquisitions, and how many
 * of those found a core's lock busy first (a trylock that failed). */
void pymt__pool_counts_locked(pymt__pool_class_counts out[PYMT__NCLASSES], size_t *pools_free,
                              size_t *lock_count, size_t *contended);
/* Free pools of arenas in use purged since the start, and those of them taken again (each a
 * refault), over all cores. pymt__core_lock held. */
void pymt__pool_purge_counts_locked(size_t *purged, size_t *refaulted);
/* Validators (debug preset assertions and the white-box test), pymt__core_lock held.
 * pymt__pool_check_locked: one pool in use or empty: its counts, offsets, free list, class
 *   entry and core index agree, and it is on its core's usedpools[class] exactly when it is
 *   partly used.
 * pymt__pool_lists_check_locked: for every core, usedpools and usable_arenas are well-formed
 *   doubly linked lists of that core's pools and arenas; usable_arenas ascends in nfreepools
 *   and nfp2lasta points at the last arena of each count.
 * pymt__heap_check_locked: every active arena belongs to a core and passes its check with its
 *   carved pools, and per core the per-class counts (pools, blocks, blocks out) and the dirty
 *   count add up to what its pools hold. */
bool pymt__pool_check_locked(const pymt__pool *pool);
bool pymt__pool_lists_check_locked(void);
bool pymt__heap_check_locked(void);

/* Unmap the reserve arenas and the wholly free ones the cores keep, and purge every free pool
 * of the arenas in use (pymt_trim; what goes back counts in pymt__arena_released_self). Takes
 * the lock. */
void pymt__pool_trim(void);
/* fork handlers: the global lock and every core's (pymt__core_lock). The arena layer's lock
 * comes after the medium classes' (init.c takes them in that order). */
void pymt__pool_atfork_prepare(void);
void pymt__pool_atfork_parent(void);
void pymt__pool_atfork_child(void);

#endif /* PYMT_POOL_H */

/* medium.h: the medium tier (medium.c): requests of 513 bytes to 256 KiB from pymt's own
 * arenas, in 36 classes four per doubling (internal.h: pymt__size_to_medium_class).
 *
 *   medium arena: 1 MiB, one class, one run of blocks
 *   +--------+-----+---------+--------+-----+-------+-------+-- ... --+-------+------+
 *   | header | pad | npurged | purged | pad | blk 0 | blk 1 |         | blk n | tail |
 *   +--------+-----+---------+--------+-----+-------+-------+-- ... --+-------+------+
 *   0        48    52        56     64    128
 * The header is a pool header (struct pymt__pool: class, count, carve offset, free list,
 * list links), so a medium arena is a pool of 1 MiB; after it, the purged list (free blocks
 * whose pages went back, medium.c) and its length. Its 64 pool tags (arena.h) all hold the
 * medium class: the fast paths of free (objmem.h) and of the thread caches (tcache.h) serve
 * medium blocks unchanged, with the medium classes' bins after the small ones. Classes 640 B
 * .. 16 KiB hold 1638 .. 63 blocks per arena, 32 KiB 31, 64 KiB 15, 128 KiB 7, 256 KiB 3: the
 * untouched end of an arena of big blocks costs address space, not memory.
 *
 * Each class has its own lock and its own arenas: a refill of one medium class never waits for
 * the pool cores or for another class. Lock order: the global lock (a trimmer giving spares
 * back), then a class lock, then the arena layer's own lock (a fresh arena); a class lock is
 * never held while a core or the global lock is taken. The validator takes every class lock,
 * in class order, as the fork handler does.
 * Not for the hardened mode, which keeps the tier off (init.c). */
#ifndef PYMT_MEDIUM_H
#define PYMT_MEDIUM_H

#include "pool.h"

/* Above 512 and at most this, a request is a medium one: PYMT__MEDIUM_MAX with the tier on,
 * PYMT__SMALL_MAX (no medium request) with it off. Set once by init. */
extern PYMT__HIDDEN _Atomic size_t pymt__medium_max;
/* Relaxed: a thread may ask before init has run (512 then), and init's store is the only one. */
static inline size_t pymt__medium_limit(void) {
    return pymt__load_relaxed(&pymt__medium_max);
}
void pymt__medium_init(bool on, size_t purge_max);

/* What a realloc that moves a block of the pools (size bytes, its class's) to hold n bytes asks
 * for: n raised to a quarter more than size (small) or half more (medium) when n is less,
 * within n's tier, unless n would then be too small to keep its place in the class it lands in
 * (pymt__realloc_keeps: the next growth by a few bytes would move it back down). The small
 * classes are 16 bytes apart, so a block grown a little at a time would move at every one of
 * them; a list grown by CPython's rule (an eighth more, plus 6) would move at every other
 * medium class. A shrink asks for n. */
static inline size_t pymt__realloc_target(size_t n, size_t size) {
    size_t want = size + (size > PYMT__SMALL_MAX ? size / 2 : size / 4);
    if (n <= size || n >= want)
        return n;
    size_t lim = n <= PYMT__SMALL_MAX ? PYMT__SMALL_MAX : pymt__medium_limit();
    if (n > lim)
        return n;
    if (want > lim)
        want = lim;
    return pymt__realloc_keeps(n, pymt__class_to_size(pymt__size_class(want))) ? want : n;
}

/* Is class c a medium one? */
static inline bool pymt__is_medium(unsigned c) {
    return c >= PYMT__NCLASSES;
}

/* Take want blocks of medium class c (at least one, fewer only when memory runs out): the
 * chain (linked through word 0, NULL-terminated), its length in *got. NULL with *got 0 and
 * errno ENOMEM when not one block can be had. Takes the class lock. */
void *pymt__medium_take(unsigned c, size_t want, size_t *got);
/* Give back a chain of blocks of medium class c (linked through word 0, NULL-terminated).
 * Takes the class lock; an arena left wholly free is kept (one per class) or retired. */
void pymt__medium_give(unsigned c, void *chain);
/* One block, one free (the locked backend, threads without a cache). */
void *pymt__medium_alloc_one(unsigned c);
void pymt__medium_free_one(void *p);

/* ---- both tiers, by class: what the thread caches and the locked backend call -------------- */

/* Take a batch of class c: small classes from the calling thread's pool core under that
 * core's lock (up to limit when a pool's whole free list can be spliced: pymt__pool_take),
 * medium ones from their class. *got 0 (NULL) means out of memory, errno ENOMEM. */
static inline void *pymt__block_take(unsigned c, size_t want, size_t limit, size_t *got) {
    if (pymt__is_medium(c))
        return pymt__medium_take(c, want, got);
    return pymt__pool_take(c, want, limit, got);
}
/* Give back a chain of blocks of class c to its tier (small blocks to their arenas' cores). */
static inline void pymt__block_give(unsigned c, void *chain) {
    if (pymt__is_medium(c))
        pymt__medium_give(c, chain);
    else
        pymt__pool_give(chain);
}
/* Give back chains of blocks (each of one class, linked through word 0, NULL-terminated, the
 * array reordered): the medium ones to their classes, the small ones to their cores, each core
 * concerned locked once (pymt__pool_give_chains). No core or class lock held (the global lock
 * may be). */
void pymt__block_give_chains(void **chains, unsigned nchains);
static inline void *pymt__block_alloc_one(unsigned c) {
    return pymt__is_medium(c) ? pymt__medium_alloc_one(c) : pymt__pool_alloc_one(c);
}
static inline void pymt__block_free_one(void *p) {
    if (pymt__is_medium(pymt__block_class(p)))
        pymt__medium_free_one(p);
    else
        pymt__pool_free_one(p);
}

/* Per-class figures (stats): c is 0..PYMT__NMEDIUM-1; pools counts arenas. Takes each class
 * lock in turn. *empty: wholly free arenas kept; *locks, *contended: class-lock acquisitions,
 * and those that found the lock taken; *purged, *refaulted: free blocks purged, and purged
 * blocks taken again, since the start. */
void pymt__medium_counts(pymt__pool_class_counts out[PYMT__NMEDIUM], size_t *empty,
                         size_t *locks, size_t *contended, size_t *purged, size_t *refaulted);
/* Unmap every wholly free arena kept (pymt_trim). Also gives the kernel the pages inside the
 * free blocks of the arenas in use, so a few blocks still held do not keep whole arenas
 * resident (each purged once: it moves to its arena's purged list). What goes back counts in
 * pymt__arena_released_self. */
void pymt__medium_trim(void);
/* Validator: every arena of class c (index 0..PYMT__NMEDIUM-1) has a consistent header (class,
 * count, carve offset, a free list and a purged list of carved blocks of the class, together
 * as long as the count says, the purged one as long as its length says), no earlier owner's
 * pages left past its last block (dirty_end), pool tags holding the class, and is on the
 * class's list exactly when it has a free block; the class's counts (arenas, blocks out, dirty
 * blocks) add up; the arenas kept empty over all classes are as many as counted, and no more
 * than the cap. Takes every class lock. */
bool pymt__medium_check(unsigned i);

/* fork handlers: every class lock, after the global and core locks and before the arena
 * layer's (the lock order above; init.c calls them in that order). */
void pymt__medium_atfork_prepare(void);
void pymt__medium_atfork_parent(void);
void pymt__medium_atfork_child(void);

#endif /* PYMT_MEDIUM_H */

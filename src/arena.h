/* arena.h: arenas, the arena range and its pool tags, and the arena reserve (arena.c). */
#ifndef PYMT_ARENA_H
#define PYMT_ARENA_H

#include "types.h"

/* The arena range: every arena lives in one reservation of address space made at init; the
 * range is PROT_NONE except where memory is mapped.
 *   base                 base + 16 MiB
 *   | pool tags, 16 MiB  | slot 0 | slot 1 | ...  slot n-1 |     (n: up to 2^18 - 16)
 * Slot i of the arena table is at base + 16 MiB + i MiB. The pool tags, one byte per 16 KiB of
 * the 256 GiB that follow base (mapped read-write without swap at init; the kernel gives pages
 * only where tags are written: one 4 KiB page of tags covers 64 MiB of pools), answer "is this
 * pointer ours, and of which class?" with a subtraction, a shift, a compare and one load. A
 * tag is (class + 1) * 2 for the pool it covers (pymt__class_tag; times 2 so that a thread
 * cache finds the class's 16-byte bin at tag * 8 bytes with one lea, and a byte holds all 68
 * classes), 0 for anything else (a pool never carved, an arena gone, the tags themselves, the
 * part of the 256 GiB past a smaller range): written under
 * the lock of the pool's owner (a core's, a medium class's) while the pool holds no live
 * block, read by free() of a live block, so the read never races with the write; relaxed
 * atomics for readers of wild pointers. base is written once at init; before, it is 2^64 -
 * 256 GiB, below which every user address lies, so nothing is in the range and no tag is read. */
#define PYMT__RANGE_MAX ((size_t)1 << 38) /* the span the tags cover: 256 GiB */
#define PYMT__TAGS (PYMT__RANGE_MAX >> PYMT__POOL_BITS) /* 16 Mi tags: 16 MiB */
#define PYMT__RANGE_NONE ((uintptr_t)0 - PYMT__RANGE_MAX)
extern PYMT__HIDDEN _Atomic uintptr_t pymt__range_base;

/* Tag and class. */
#define PYMT__TAG_SHIFT 1
_Static_assert(((PYMT__NBINS + 1) << PYMT__TAG_SHIFT) <= 255, "a tag fits a byte");
static inline unsigned pymt__class_tag(unsigned c) {
    return (c + 1) << PYMT__TAG_SHIFT;
}
static inline unsigned pymt__tag_class(unsigned tag) {
    return (tag >> PYMT__TAG_SHIFT) - 1;
}

/* The tag of p's pool: pymt__class_tag(its class) when p is in a carved pool of an arena, else
 * 0. */
static inline unsigned pymt__pool_tag(const void *p) {
    uintptr_t base = pymt__load_relaxed(&pymt__range_base);
    uintptr_t i = ((uintptr_t)p - base) >> PYMT__POOL_BITS;
    if (pymt__unlikely(i >= PYMT__TAGS))
        return 0;
    return pymt__load_relaxed((_Atomic uint8_t *)base + i);
}
/* Is p in a pool of either tier that has been carved since its arena was mapped? (Blocks of the
 * pools, free or live, and the headers: callers check alignment where it matters.) */
static inline bool pymt__arena_lookup(const void *p) {
    return pymt__pool_tag(p) != 0;
}
/* The tag of the pool at address pool (in the range): the owner's lock held, no live block in
 * the pool. */
static inline _Atomic uint8_t *pymt__pool_tag_at(const void *pool) {
    uintptr_t base = pymt__load_relaxed(&pymt__range_base);
    return (_Atomic uint8_t *)base + (((uintptr_t)pool - base) >> PYMT__POOL_BITS);
}
static inline void pymt__pool_tag_set(const void *pool, unsigned c) {
    pymt__store_relaxed(pymt__pool_tag_at(pool), (uint8_t)pymt__class_tag(c));
}
static inline void pymt__pool_tag_clear(const void *pool) {
    pymt__store_relaxed(pymt__pool_tag_at(pool), 0);
}

/* One-time set-up (the slot table), from init: hugepages maps arenas in 2 MiB-aligned pairs
 * advised for transparent huge pages; reserve is how many wholly free arenas are kept mapped
 * with their pages discarded, warm_bytes the most kept with their pages resident (an eighth of
 * the heap's arenas, at most that: pymt__arena_retire).
 * Returns false on failure. */
bool pymt__arena_init(bool hugepages, unsigned reserve, size_t warm_bytes);
/* A wholly free arena in state (ACTIVE for a pool core, MEDIUM for a medium class): from the
 * reserve, else freshly mapped. The caller holds the lock of the structure the arena joins (a
 * core's or a medium class's); the arena layer serialises its own part with a lock of its
 * own, taken last. NULL + ENOMEM when the OS refuses or the table is full. */
pymt__arena *pymt__arena_new_locked(uint32_t state);
/* Dispose of an arena its owner unlinked (state RETIRING), outside the owner's lock: into the
 * warm reserve (pages resident) while that holds fewer than an eighth of the arenas in use (at
 * most warm_bytes' worth), else into the reserve (pages discarded) while it has room, else
 * unmapped. Lock-free but when the heap has shrunk under the warm arenas: then the excess goes
 * cold, popped under the arena layer's lock. */
void pymt__arena_retire(pymt__arena *a);
/* What the earlier owners of a warm arena carved stays resident (dirty_end); a new owner that
 * carves from the base up gives back the part past its own carving. Both with the owner's lock
 * held. pymt__arena_note_carved: a's owner, about to retire it, carved [0, carved).
 * pymt__arena_discard_uncarved: give back the pages of [carved, dirty_end) (the last one
 * whole) and lower dirty_end to carved; the bytes count as released by the calling thread.
 * Nothing when dirty_end is at most carved. */
static inline void pymt__arena_note_carved(pymt__arena *a, size_t carved) {
    if (carved > a->dirty_end)
        a->dirty_end = (uint32_t)carved;
}
void pymt__arena_discard_uncarved(pymt__arena *a, size_t carved);
/* Clear the tags of a RETIRING (or RESERVE) arena and unmap it (the range keeps its place);
 * the slot goes to the free-slot stack. Counted as released by the calling thread. */
void pymt__arena_unmap_retiring(pymt__arena *a);
/* Unmap every reserve arena (pymt_trim). Core lock held. */
void pymt__arena_trim_locked(void);
/* What the calling thread gave back to the OS from the arena range so far: 1 MiB for each
 * arena it unmapped, and the bytes of the pages it discarded from arenas in use, which their
 * owners add with pymt__arena_note_released (not the discard of an arena going into the cold
 * reserve: it counts when it is unmapped). pymt_trim returns the difference it made. */
size_t pymt__arena_released_self(void);
void pymt__arena_note_released(size_t bytes);
/* fork: prepare takes the arena layer's lock (after the core locks), parent and child release
 * it; in the child nothing in flight survives. */
void pymt__arena_atfork_prepare(void);
void pymt__arena_atfork_parent(void);
void pymt__arena_atfork_child(void);

/* Is a one of the arena table's records, handed out so far? (The hardened mode's check of a
 * pool header's arena pointer before the core follows it.) Core lock held. */
bool pymt__arena_is_record_locked(const pymt__arena *a);

/* Validator: a's record is consistent with its state (an ACTIVE arena is mapped at its slot's
 * address, its counts within bounds, exactly its carved pools tagged, its free-pool list as
 * long as the pools it counts carved and free).
 * Core lock held. */
bool pymt__arena_check_locked(const pymt__arena *a);
/* Calls f(a, ctx) for every arena in state, in slot order (validators, stats), with the locks
 * of the arenas in that state held: pymt__core_lock for ACTIVE (the pool cores'), every medium
 * class lock for MEDIUM (medium.c). */
void pymt__arena_foreach_locked(uint32_t state, void (*f)(pymt__arena *a, void *ctx), void *ctx);

/* Has the range no slot left? True from the moment a new arena found neither a recycled nor a
 * never-used slot until a slot is given back (relaxed: a hint for the backends, which then
 * serve the request from the system allocator as pymalloc does when it cannot get an arena). */
bool pymt__arena_range_full(void);

/* Bytes of the arenas in use, of both tiers (not the reserve): what the heap spans now (relaxed
 * counters; a hint). */
size_t pymt__arena_heap_bytes(void);

/* The size of the arena range, its tags included (0 before init, or without pools). */
size_t pymt__arena_range_bytes(void);

/* Counters for stats (relaxed atomics; exact when quiescent). */
typedef struct pymt__arena_counters {
    size_t current, reserve, allocated_total, reclaimed_total, highwater;
    size_t warm; /* of the reserve, the arenas with their pages resident */
    size_t published, adopted;
} pymt__arena_counters;
void pymt__arena_counters_get(pymt__arena_counters *out);

#endif /* PYMT_ARENA_H */

/* arena.h: arenas, the arena map, and the arena reserve (arena.c). */
#ifndef PYMT_ARENA_H
#define PYMT_ARENA_H

#include "types.h"

/* The arena map: "is this pointer in one of our arenas?" without the lock. One bit per 1 MiB of
 * the 48-bit user address space: 2^28 bits = 32 MiB of BSS, zero pages the kernel maps only
 * where arenas live (one 4 KiB page of bits covers 32 GiB of addresses), so a lookup is one
 * load from a line shared by every arena within 512 MiB. A bit is set (release) when an arena is
 * mapped and cleared before it is unmapped; readers use acquire loads. The arena object is found
 * through the pool header (pool->arena) once a pointer is known to be ours. */
#define PYMT__MAP_WORDS ((size_t)1 << (48 - PYMT__ARENA_BITS - 6))
extern _Atomic uint64_t pymt__arena_map[PYMT__MAP_WORDS];

static inline bool pymt__arena_lookup(const void *p) {
    uintptr_t w = (uintptr_t)p >> (PYMT__ARENA_BITS + 6);
    if (pymt__unlikely(w >= PYMT__MAP_WORDS))
        return false;
    /* pairs with the release in arena_map_set */
    uint64_t bits = pymt__load_acquire(&pymt__arena_map[w]);
    return (bits >> (((uintptr_t)p >> PYMT__ARENA_BITS) & 63)) & 1;
}

/* One-time set-up (the slot table), from init: hugepages maps arenas in 2 MiB-aligned pairs
 * advised for transparent huge pages; reserve is how many wholly free arenas are kept mapped.
 * Returns false on failure. */
bool pymt__arena_init(bool hugepages, unsigned reserve);
/* A wholly free arena in state (ACTIVE for a pool core, MEDIUM for a medium class): from the
 * reserve, else freshly mapped. The caller holds the lock of the structure the arena joins (a
 * core's or a medium class's); the arena layer serialises its own part with a lock of its
 * own, taken last. NULL + ENOMEM when the OS refuses or the table is full. */
pymt__arena *pymt__arena_new_locked(uint32_t state);
/* Dispose of an arena the core unlinked (state RETIRING), outside the core lock: into the
 * reserve (pages discarded) while it has room, else unmapped. Lock-free. */
void pymt__arena_retire(pymt__arena *a);
/* Clear the map entry of a RETIRING arena and unmap it; the slot goes to the free-slot stack. */
void pymt__arena_unmap_retiring(pymt__arena *a);
/* Unmap every reserve arena (pymt_trim). Returns bytes released. Core lock held. */
size_t pymt__arena_trim_locked(void);
/* fork: prepare takes the arena layer's lock (after the core locks), parent and child release
 * it; in the child nothing in flight survives. */
void pymt__arena_atfork_prepare(void);
void pymt__arena_atfork_parent(void);
void pymt__arena_atfork_child(void);

/* Is a one of the arena table's records, handed out so far? (The hardened mode's check of a
 * pool header's arena pointer before the core follows it.) Core lock held. */
bool pymt__arena_is_record_locked(const pymt__arena *a);

/* Validator: a's record is consistent with its state (an ACTIVE arena is mapped, in the map,
 * its counts within bounds, its free-pool list as long as the pools it counts carved and free).
 * Core lock held. */
bool pymt__arena_check_locked(const pymt__arena *a);
/* Calls f(a, ctx) for every arena in state, in slot order (validators, stats), with the locks
 * of the arenas in that state held: pymt__core_lock for ACTIVE (the pool cores'), every medium
 * class lock for MEDIUM (medium.c). */
void pymt__arena_foreach_locked(uint32_t state, void (*f)(pymt__arena *a, void *ctx), void *ctx);

/* Counters for stats (relaxed atomics; exact when quiescent). */
typedef struct pymt__arena_counters {
    size_t current, reserve, allocated_total, reclaimed_total, highwater;
    size_t published, adopted;
} pymt__arena_counters;
void pymt__arena_counters_get(pymt__arena_counters *out);

#endif /* PYMT_ARENA_H */

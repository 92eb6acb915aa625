/* arena.h: arenas, the arena map, and the arena reserve (arena.c). */
#ifndef PYMT_ARENA_H
#define PYMT_ARENA_H

#include "atomic.h"
#include "internal.h"

typedef struct pymt__pool pymt__pool;

enum pymt__arena_state {
    PYMT__ARENA_UNUSED = 0, /* slot without memory (on the free-slot stack or never used) */
    PYMT__ARENA_ACTIVE,     /* holds pools; owned by the core (lock) */
    PYMT__ARENA_RETIRING,   /* wholly free, unlinked; owned by the thread retiring it */
    PYMT__ARENA_RESERVE     /* wholly free, pages discarded, on the reserve stack */
};

/* Arena metadata lives in a table of its own (never in the arena, never freed), so the lock-free
 * stacks can link these objects and a stale link never points into unmapped memory. */
typedef struct pymt__arena {
    ck_stack_entry_t link;      /* reserve / free-slot stacks; first member (see arena_of_link) */
    uintptr_t address;          /* base of the 1 MiB mapping; 0 when the slot has none */
    pymt__pool *freepools;      /* empty pools, linked through pool->nextpool (core lock) */
    uint32_t nfreepools;        /* empty pools, carved or not (core lock) */
    uint32_t ncarved;           /* pools carved so far, from the base up (core lock) */
    struct pymt__arena *nextarena, *prevarena; /* usable_arenas, ascending nfreepools */
    uint32_t index;             /* slot number in the table */
    uint32_t state;             /* enum pymt__arena_state */
} pymt__arena;

/* The arena map: "is this pointer in one of our arenas?" without the lock. Two levels over the
 * 48-bit user address space: 14 bits -> leaf, 14 bits -> entry, 20 bits inside the arena.
 * Leaves are mapped on demand under the core lock and never freed; entries are set (release)
 * when an arena is mapped and cleared before it is unmapped. Readers use acquire loads. */
#define PYMT__MAP_LEAF_BITS 14
#define PYMT__MAP_TOP_BITS (48 - PYMT__ARENA_BITS - PYMT__MAP_LEAF_BITS)
typedef struct pymt__map_leaf {
    _Atomic(pymt__arena *) entry[1u << PYMT__MAP_LEAF_BITS];
} pymt__map_leaf;
extern _Atomic(pymt__map_leaf *) pymt__arena_map[1u << PYMT__MAP_TOP_BITS];

static inline pymt__arena *pymt__arena_lookup(const void *p) {
    uintptr_t a = (uintptr_t)p;
    if (pymt__unlikely(a >> 48))
        return NULL;
    pymt__map_leaf *leaf =
        pymt__load_acquire(&pymt__arena_map[a >> (PYMT__ARENA_BITS + PYMT__MAP_LEAF_BITS)]);
    if (pymt__unlikely(leaf == NULL))
        return NULL;
    /* pairs with the release store in arena_map_set */
    return pymt__load_acquire(
        &leaf->entry[(a >> PYMT__ARENA_BITS) & ((1u << PYMT__MAP_LEAF_BITS) - 1)]);
}

/* One-time set-up (the slot table), from init. Returns false on failure. */
bool pymt__arena_init(void);
/* A wholly free arena for the core: from the reserve, else freshly mapped. Core lock held.
 * NULL + ENOMEM when the OS refuses or the table is full. */
pymt__arena *pymt__arena_new_locked(void);
/* Dispose of an arena the core unlinked (state RETIRING), outside the core lock: into the
 * reserve (pages discarded) while it has room, else unmapped. Lock-free. */
void pymt__arena_retire(pymt__arena *a);
/* Clear the map entry of a RETIRING arena and unmap it; the slot goes to the free-slot stack. */
void pymt__arena_unmap_retiring(pymt__arena *a);
/* Unmap every reserve arena (pymt_trim). Returns bytes released. Core lock held. */
size_t pymt__arena_trim_locked(void);
/* In the child after fork: nothing in flight survives; recount. Core lock held. */
void pymt__arena_atfork_child(void);

/* Counters for stats (relaxed atomics; exact when quiescent). */
typedef struct pymt__arena_counters {
    size_t current, reserve, allocated_total, reclaimed_total, highwater;
    size_t published, adopted;
} pymt__arena_counters;
void pymt__arena_counters_get(pymt__arena_counters *out);

#endif /* PYMT_ARENA_H */

/* arena.c: arenas (1 MiB, 1 MiB-aligned mappings that the pool core carves into 64 pools of
 * 16 KiB), the arena map that answers "is this pointer ours?" without a lock, and the arena
 * reserve.
 *
 *   arena: 1 MiB, 1 MiB-aligned; pool and arena of a block by masking the address
 *   +---------+---------+---------+-- ... --+----------+
 *   | pool 0  | pool 1  | pool 2  |         | pool 63  |   64 pools x 16 KiB
 *   +---------+---------+---------+-- ... --+----------+
 *   metadata (pymt__arena) in a separate table of PYMT__MAX_ARENAS slots, reserved with
 *   MAP_NORESERVE at init, touched only as arenas are used, never freed.
 *
 * Life of an arena: UNUSED slot -> ACTIVE (mapped, on its core's lists; core lock), or MEDIUM
 * (mapped, one medium class's run of blocks: medium.c) -> when all its pools (blocks) are free
 * its owner unlinks it and marks it RETIRING -> pymt__arena_retire, outside the lock: either
 * RESERVE (pages discarded with MADV_DONTNEED, pushed on the lock-free reserve stack, still in
 * the arena map) or unmapped (map entry cleared first, then munmap, then the slot is
 * pushed on the lock-free free-slot stack). The core takes arenas back from the reserve, then
 * slots from the free-slot stack, under its lock.
 *
 * Lock-free stacks (ConcurrencyKit ck_stack through lfstack.c): pushes come from any thread
 * without a lock; pops and take-alls happen only under arena_mutex (the arena layer's own lock,
 * taken inside pymt__arena_new_locked and pymt__arena_trim_locked, after any core lock: several
 * cores take arenas at once), so there is one popper at a time and the ABA problem cannot
 * arise (the entry a popper read cannot be popped and re-pushed by anyone else before its
 * CAS). Entries are the metadata objects, which are never
 * unmapped, so a stale next pointer is never a dangling one.
 *
 * Huge pages (PYMT_HUGEPAGES=1): arenas are mapped two at a time, 2 MiB-aligned, advised
 * MADV_HUGEPAGE. The kernel backs a range with a huge page at the first touch only when the
 * whole aligned 2 MiB lies in one mapping, which an arena mapped on its own never does; the
 * second arena of a pair waits in arena_half until the core needs one.
 *
 * Never calls malloc. */
#include "arena.h"

#include <errno.h>
#include <pthread.h>

#include "lfstack.h"
#include "os.h"
#include "track.h"

#define PYMT__MAX_ARENAS (1u << 18) /* 256 GiB of pool memory */

_Atomic uint64_t pymt__arena_map[PYMT__MAP_WORDS];

static pthread_mutex_t arena_mutex = PTHREAD_MUTEX_INITIALIZER; /* pops, slots, arena_half */
static pymt__arena *arena_table;   /* PYMT__MAX_ARENAS slots; set once at init */
/* slots handed out so far: written under arena_mutex (release, after the slot's index);
 * validators under any core lock read it (acquire) */
static _Atomic uint32_t arena_table_used;
static ck_stack_t arena_reserve;   /* RESERVE arenas; pushed lock-free, popped under lock */
static ck_stack_t arena_free_slots;/* UNUSED slots that once had memory; same discipline */
static void *arena_half;           /* huge pages: a pair's second arena, not handed out
                                      (arena_mutex) */
static bool arena_hugepages;       /* set once at init */
static unsigned arena_reserve_max; /* set once at init */

/* Written by many threads, read by stats: relaxed counters. */
static _Atomic size_t arenas_current, arenas_reserve_n, arenas_allocated_total,
    arenas_reclaimed_total, arenas_highwater, arena_published, arena_adopted;

static pymt__arena *arena_of_link(ck_stack_entry_t *e) {
    _Static_assert(offsetof(pymt__arena, link) == 0, "link is the first member");
    return (pymt__arena *)e;
}

bool pymt__arena_init(bool hugepages, unsigned reserve) {
    arena_hugepages = hugepages;
    arena_reserve_max = reserve;
    arena_table = pymt__os_reserve(sizeof(pymt__arena) * PYMT__MAX_ARENAS);
    return arena_table != NULL;
}

static void arena_map_set(uintptr_t base, bool on) {
    uint64_t bit = (uint64_t)1 << ((base >> PYMT__ARENA_BITS) & 63);
    _Atomic uint64_t *w = &pymt__arena_map[base >> (PYMT__ARENA_BITS + 6)];
    /* pairs with the acquire in pymt__arena_lookup */
    if (on)
        pymt__fetch_or_release(w, bit);
    else
        pymt__fetch_and_release(w, ~bit);
}

static void counter_max(_Atomic size_t *hw, size_t v) {
    size_t cur = pymt__load_relaxed(hw);
    while (cur < v && !pymt__cas_weak_relaxed(hw, &cur, v)) {
    }
}

/* Memory for one arena. arena_mutex held. */
static void *arena_map_locked(void) {
    if (!arena_hugepages)
        return pymt__os_map_aligned(PYMT__ARENA_SIZE, PYMT__ARENA_SIZE);
    void *mem = arena_half;
    if (mem != NULL) {
        arena_half = NULL;
        return mem;
    }
    mem = pymt__os_map_aligned(2 * PYMT__ARENA_SIZE, 2 * PYMT__ARENA_SIZE);
    if (mem == NULL)
        return NULL;
    (void)pymt__os_advise_huge(mem, 2 * PYMT__ARENA_SIZE); /* refused: plain pages */
    arena_half = (char *)mem + PYMT__ARENA_SIZE;
    return mem;
}

static pymt__arena *arena_new(uint32_t state);

pymt__arena *pymt__arena_new_locked(uint32_t state) {
    pthread_mutex_lock(&arena_mutex);
    pymt__arena *a = arena_new(state);
    int e = errno;
    pthread_mutex_unlock(&arena_mutex);
    errno = e;
    return a;
}

/* pymt__arena_new_locked with arena_mutex held. */
static pymt__arena *arena_new(uint32_t state) {
    /* 1. a reserve arena: already mapped and in the map, pages discarded (read as zero) */
    ck_stack_entry_t *e = pymt__ck_pop_upmc(&arena_reserve);
    if (e != NULL) {
        pymt__tsan_acquire(&arena_reserve); /* pairs with the release in pymt__arena_retire */
        pymt__arena *a = arena_of_link(e);
        pymt__fetch_sub_relaxed(&arenas_reserve_n, 1);
        pymt__fetch_add_relaxed(&arena_adopted, 1);
        pymt__store_relaxed(&a->state, state);
        a->freepools = NULL;
        a->ncarved = 0;
        a->nfreepools = PYMT__POOLS_PER_ARENA;
        a->nextarena = a->prevarena = NULL;
        return a;
    }
    /* 2. a slot: recycled, else the next never-used one */
    pymt__arena *a;
    e = pymt__ck_pop_upmc(&arena_free_slots);
    if (e != NULL) {
        pymt__tsan_acquire(&arena_free_slots); /* pairs with the release in pymt__arena_unmap_retiring */
        a = arena_of_link(e);
    } else if (pymt__load_relaxed(&arena_table_used) < PYMT__MAX_ARENAS) {
        uint32_t used = pymt__load_relaxed(&arena_table_used);
        a = &arena_table[used];
        a->index = used;
        /* pairs with the acquires in the validators */
        pymt__store_release(&arena_table_used, used + 1);
    } else {
        errno = ENOMEM;
        return NULL;
    }
    void *mem = arena_map_locked();
    if (mem != NULL && ((uintptr_t)mem >> 48) != 0) {
        /* outside the map's reach: never happens without a hint above 47 bits */
        pymt__os_unmap(mem, PYMT__ARENA_SIZE);
        mem = NULL;
    }
    if (mem == NULL) {
        a->address = 0;
        pymt__store_relaxed(&a->state, PYMT__ARENA_UNUSED);
        pymt__tsan_release(&arena_free_slots);
        pymt__ck_push_upmc(&arena_free_slots, &a->link);
        errno = ENOMEM;
        return NULL;
    }
    a->address = (uintptr_t)mem;
    arena_map_set(a->address, true);
    pymt__store_relaxed(&a->state, state);
    a->freepools = NULL;
    a->ncarved = 0;
    a->nfreepools = PYMT__POOLS_PER_ARENA;
    a->nextarena = a->prevarena = NULL;
    size_t cur = pymt__fetch_add_relaxed(&arenas_current, 1) + 1;
    pymt__fetch_add_relaxed(&arenas_allocated_total, 1);
    counter_max(&arenas_highwater, cur);
    return a;
}

void pymt__arena_unmap_retiring(pymt__arena *a) {
    uintptr_t base = a->address;
    /* cleared before munmap: once the range can belong to someone else, no free() of a pointer
     * in it may take it for ours */
    arena_map_set(base, false);
    PYMT_TRACK_RELEASE(base, PYMT__ARENA_SIZE);
    pymt__os_unmap((void *)base, PYMT__ARENA_SIZE);
    a->address = 0;
    pymt__store_relaxed(&a->state, PYMT__ARENA_UNUSED);
    pymt__fetch_sub_relaxed(&arenas_current, 1);
    pymt__fetch_add_relaxed(&arenas_reclaimed_total, 1);
    pymt__tsan_release(&arena_free_slots); /* pairs with the acquire in pymt__arena_new_locked */
    pymt__ck_push_upmc(&arena_free_slots, &a->link);
}

void pymt__arena_retire(pymt__arena *a) {
    pymt__assert(pymt__load_relaxed(&a->state) == PYMT__ARENA_RETIRING);
    size_t had = pymt__fetch_add_relaxed(&arenas_reserve_n, 1);
    if (had < arena_reserve_max) {
        PYMT_TRACK_RELEASE(a->address, PYMT__ARENA_SIZE);
        pymt__os_discard((void *)a->address, PYMT__ARENA_SIZE);
        pymt__store_relaxed(&a->state, PYMT__ARENA_RESERVE);
        pymt__fetch_add_relaxed(&arena_published, 1);
        pymt__tsan_release(&arena_reserve); /* pairs with the acquire in pymt__arena_new_locked */
        pymt__ck_push_upmc(&arena_reserve, &a->link);
        return;
    }
    pymt__fetch_sub_relaxed(&arenas_reserve_n, 1);
    pymt__arena_unmap_retiring(a);
}

size_t pymt__arena_trim_locked(void) {
    /* Under arena_mutex, like every other take from the reserve: one popper at a time. */
    pthread_mutex_lock(&arena_mutex);
    ck_stack_entry_t *e = pymt__ck_batch_pop_upmc(&arena_reserve);
    size_t released = 0;
    if (e != NULL)
        pymt__tsan_acquire(&arena_reserve);
    while (e != NULL) {
        ck_stack_entry_t *next = e->next;
        pymt__arena *a = arena_of_link(e);
        pymt__fetch_sub_relaxed(&arenas_reserve_n, 1);
        pymt__arena_unmap_retiring(a);
        released += PYMT__ARENA_SIZE;
        e = next;
    }
    if (arena_half != NULL) {
        /* resident when its pair got a huge page */
        pymt__os_unmap(arena_half, PYMT__ARENA_SIZE);
        arena_half = NULL;
        released += PYMT__ARENA_SIZE;
    }
    pthread_mutex_unlock(&arena_mutex);
    return released;
}

void pymt__arena_atfork_prepare(void) {
    pthread_mutex_lock(&arena_mutex);
}

void pymt__arena_atfork_parent(void) {
    pthread_mutex_unlock(&arena_mutex);
}

void pymt__arena_atfork_child(void) {
    /* Arenas that were between unlink and retire in other threads are lost to the child; the
     * counters stay as they were (they count mappings, which the child inherited). The forking
     * thread took the mutex in prepare and is the child's only thread. */
    pthread_mutex_unlock(&arena_mutex);
}

void pymt__arena_counters_get(pymt__arena_counters *out) {
    out->current = pymt__load_relaxed(&arenas_current);
    out->reserve = pymt__load_relaxed(&arenas_reserve_n);
    out->allocated_total = pymt__load_relaxed(&arenas_allocated_total);
    out->reclaimed_total = pymt__load_relaxed(&arenas_reclaimed_total);
    out->highwater = pymt__load_relaxed(&arenas_highwater);
    out->published = pymt__load_relaxed(&arena_published);
    out->adopted = pymt__load_relaxed(&arena_adopted);
}

bool pymt__arena_is_record_locked(const pymt__arena *a) {
    uintptr_t off = (uintptr_t)a - (uintptr_t)arena_table;
    return arena_table != NULL && (uintptr_t)a >= (uintptr_t)arena_table &&
           off < (uintptr_t)pymt__load_acquire(&arena_table_used) * sizeof(pymt__arena) &&
           off % sizeof(pymt__arena) == 0;
}

bool pymt__arena_check_locked(const pymt__arena *a) {
    if (a == NULL || a->index >= pymt__load_acquire(&arena_table_used) ||
        &arena_table[a->index] != a)
        return false;
    uint32_t state = pymt__load_relaxed(&a->state);
    if (state == PYMT__ARENA_MEDIUM) /* its header and blocks: pymt__medium_check */
        return a->address != 0 && (a->address & PYMT__ARENA_MASK) == 0 &&
               pymt__arena_lookup((const void *)a->address);
    if (state != PYMT__ARENA_ACTIVE)
        return state <= PYMT__ARENA_RESERVE;
    if (a->address == 0 || (a->address & PYMT__ARENA_MASK) != 0 ||
        !pymt__arena_lookup((const void *)a->address))
        return false;
    if (a->ncarved > PYMT__POOLS_PER_ARENA || a->nfreepools > PYMT__POOLS_PER_ARENA ||
        a->nfreepools < PYMT__POOLS_PER_ARENA - a->ncarved)
        return false;
    /* the free-pool list holds exactly the carved pools that are free */
    uint32_t listed = 0;
    for (const pymt__pool *p = a->freepools; p != NULL; p = p->nextpool) {
        if (((uintptr_t)p & ~(uintptr_t)PYMT__ARENA_MASK) != a->address || p->arena != a ||
            ++listed > a->ncarved)
            return false;
    }
    return listed == a->nfreepools - (PYMT__POOLS_PER_ARENA - a->ncarved);
}

void pymt__arena_foreach_locked(uint32_t state, void (*f)(pymt__arena *a, void *ctx), void *ctx) {
    uint32_t used = pymt__load_acquire(&arena_table_used);
    for (uint32_t i = 0; i < used; i++)
        if (pymt__load_relaxed(&arena_table[i].state) == state)
            f(&arena_table[i], ctx);
}

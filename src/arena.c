/* arena.c: arenas (1 MiB, 1 MiB-aligned, carved by the pool core into 64 pools of 16 KiB),
 * the arena range and the pool tags that answer "is this pointer ours, and of which class?"
 * without a lock (arena.h), and the arena reserve.
 *
 *   the range, reserved at init (PROT_NONE; up to 256 GiB of address space, no memory):
 *   +-----------+--------+--------+-- ... --+-----------+
 *   | tags      | slot 0 | slot 1 |         | slot n-1  |   slots 1 MiB each; a slot's memory
 *   +-----------+--------+--------+-- ... --+-----------+   is mapped while its arena lives
 *    16 MiB, sparse (arena.h)
 *   arena: | pool 0 | pool 1 | ... | pool 63 |   pool and arena of a block by masking the address
 *   metadata (pymt__arena) in a separate table with a record per slot, reserved with
 *   MAP_NORESERVE at init, touched only as slots are used, never freed.
 *
 * Life of an arena: UNUSED slot -> ACTIVE (mapped, on its core's lists; core lock), or MEDIUM
 * (mapped, one medium class's run of blocks: medium.c) -> when all its pools (blocks) are free
 * its owner unlinks it and marks it RETIRING -> pymt__arena_retire, outside the lock: its tags
 * cleared, then RESERVE, either warm (pages left resident, on the warm stack, while that holds
 * fewer than an eighth of the arenas in use and at most PYMT_PURGE_MAX's worth) or cold (pages
 * discarded with MADV_DONTNEED, on the reserve stack, up to PYMT_ARENA_RESERVE of them), or
 * unmapped (PROT_NONE again, then the slot is pushed on the lock-free free-slot stack). A
 * retire that finds more warm arenas than the heap now allows sends the excess cold, so a heap
 * that has emptied keeps none. The core takes arenas back from the warm stack, then the
 * reserve, then slots from the free-slot stack, then never-used slots, under its lock.
 * A warm arena keeps what its owners carved resident, and a new owner carves lazily from the
 * base: dirty_end says how far the earlier owners carved (an owner raises it as it retires the
 * arena: pymt__arena_note_carved; cold and fresh arenas have 0), and the new owner gives back
 * what lies past its own carving with pymt__arena_discard_uncarved: a medium class the end no
 * block of its covers when it takes the arena, pymt_trim the rest.
 *
 * Lock-free stacks (ConcurrencyKit ck_stack through lfstack.c): pushes come from any thread
 * without a lock; pops and take-alls happen only under arena_mutex (the arena layer's own lock,
 * taken inside pymt__arena_new_locked and pymt__arena_trim_locked, after any core lock: several
 * cores take arenas at once), so there is one popper at a time and the ABA problem cannot
 * arise (the entry a popper read cannot be popped and re-pushed by anyone else before its
 * CAS). Entries are the metadata objects, which are never
 * unmapped, so a stale next pointer is never a dangling one.
 *
 * Huge pages (PYMT_HUGEPAGES=1): never-used slots are mapped two at a time (the range is 2 MiB
 * aligned, so an even slot and the next make an aligned 2 MiB), advised MADV_HUGEPAGE. The
 * kernel backs a range with a huge page at the first touch only when the whole aligned 2 MiB
 * lies in one mapping, which an arena mapped on its own never is; the second slot of a pair
 * waits, mapped, in arena_half until the core needs one.
 *
 * Never calls malloc. */
#include "arena.h"

#include <errno.h>
#include <pthread.h>

#include "lfstack.h"
#include "os.h"
#include "track.h"

#define TAGS_BYTES ((size_t)PYMT__TAGS)     /* at the range's base */
#define RANGE_MIN (TAGS_BYTES + ((size_t)64 << 20)) /* the least range init accepts: 64 slots */

_Atomic uintptr_t pymt__range_base = PYMT__RANGE_NONE;

static pthread_mutex_t arena_mutex = PTHREAD_MUTEX_INITIALIZER; /* pops, slots, arena_half */
static pymt__arena *arena_table;   /* a record per slot of the range; set once at init */
static uint32_t arena_slots;       /* slots in the range; set once at init */
static size_t range_bytes;         /* the range's size, tags included; set once at init */
static _Atomic size_t slots_mapped; /* slots with memory (arenas, the reserve, arena_half) */
static _Atomic bool range_full;    /* no slot left at the last look (pymt__arena_range_full) */
/* slots handed out so far: written under arena_mutex (release, after the slot's index);
 * validators under any core lock read it (acquire) */
static _Atomic uint32_t arena_table_used;
/* The reserve, two stacks of RESERVE arenas: pushed lock-free, popped under arena_mutex. n
 * counts the arenas on the stack (a place is taken before the push: spare_room). */
typedef struct spare_stack {
    ck_stack_t stack;
    _Atomic size_t n;
} spare_stack;
static spare_stack reserve_warm; /* pages resident, up to warm_bound() */
static spare_stack reserve_cold; /* pages discarded, up to PYMT_ARENA_RESERVE */
static ck_stack_t arena_free_slots;/* UNUSED slots that once had memory; same discipline */
static pymt__arena *arena_half;    /* huge pages: a pair's second slot, mapped, not handed
                                      out (arena_mutex) */
static bool arena_hugepages;       /* set once at init */
static unsigned arena_reserve_max; /* set once at init */
static size_t arena_warm_max;      /* the most warm arenas (PYMT_PURGE_MAX in arenas); init */

/* What the calling thread gave back to the OS from the range (pymt__arena_released_self): 1 MiB
 * for each arena it unmapped, and the pages it discarded from arenas that stay in use. Its own:
 * pymt_trim tells its own work from other threads' by the difference. */
static PYMT__TLS size_t released_self;

/* Written by many threads, read by stats: relaxed counters. */
static _Atomic size_t arenas_current, arenas_allocated_total,
    arenas_reclaimed_total, arenas_highwater, arena_published, arena_adopted;

static pymt__arena *arena_of_link(ck_stack_entry_t *e) {
    _Static_assert(offsetof(pymt__arena, link) == 0, "link is the first member");
    return (pymt__arena *)e;
}

bool pymt__arena_init(bool hugepages, unsigned reserve, size_t warm_bytes) {
    arena_hugepages = hugepages;
    arena_reserve_max = reserve;
    arena_warm_max = warm_bytes >> PYMT__ARENA_BITS;
    size_t size;
    void *base = pymt__os_reserve_range(PYMT__RANGE_MAX, RANGE_MIN, 2 * PYMT__ARENA_SIZE, &size);
    if (base == NULL)
        return false;
    if ((((uintptr_t)base + size - 1) >> 48) != 0) {
        /* the depot packs a block address into 48 bits (depot.c); mmap without a hint never
         * goes there */
        pymt__os_unmap(base, size);
        errno = ENOMEM;
        return false;
    }
    uint32_t slots = (uint32_t)((size - TAGS_BYTES) >> PYMT__ARENA_BITS);
    arena_table = pymt__os_reserve(sizeof(pymt__arena) * slots);
    if (arena_table == NULL || !pymt__os_commit_sparse(base, TAGS_BYTES)) {
        if (arena_table != NULL)
            pymt__os_unmap(arena_table, sizeof(pymt__arena) * slots);
        arena_table = NULL;
        pymt__os_unmap(base, size);
        return false;
    }
    arena_slots = slots;
    range_bytes = size;
    pymt__store_relaxed(&pymt__range_base, (uintptr_t)base);
    return true;
}

static uintptr_t slot_address(uint32_t index) {
    return pymt__load_relaxed(&pymt__range_base) + TAGS_BYTES + ((uintptr_t)index << PYMT__ARENA_BITS);
}

/* The tags of a's 64 pools back to 0 (a RETIRING arena: no block of it is live or cached). */
static void tags_clear(const pymt__arena *a) {
    for (unsigned k = 0; k < PYMT__POOLS_PER_ARENA; k++)
        pymt__pool_tag_clear((const char *)a->address + k * PYMT__POOL_SIZE);
}

static void counter_max(_Atomic size_t *hw, size_t v) {
    size_t cur = pymt__load_relaxed(hw);
    while (cur < v && !pymt__cas_weak_relaxed(hw, &cur, v)) {
    }
}

/* Map n slots from at, as far as RLIMIT_AS allows: the slots already mapped count as mappings
 * of their own (pymt__os_space_allows), so the range, which the kernel counted whole when it
 * was reserved, never lets the pools grow past a limit set later. */
static bool slot_commit(uintptr_t at, uint32_t n) {
    size_t inside = pymt__load_relaxed(&slots_mapped) << PYMT__ARENA_BITS;
    if (!pymt__os_space_allows(n * PYMT__ARENA_SIZE, inside) ||
        !pymt__os_commit((void *)at, n * PYMT__ARENA_SIZE))
        return false;
    pymt__fetch_add_relaxed(&slots_mapped, n);
    return true;
}

/* The next never-used slot with its memory mapped, or two with huge pages (the second waits in
 * arena_half). arena_mutex held. NULL + ENOMEM when the range has no such slot left (*full
 * true) or the kernel refuses (*full false). */
static pymt__arena *slot_fresh_locked(bool *full) {
    uint32_t used = pymt__load_relaxed(&arena_table_used), n = arena_hugepages ? 2 : 1;
    *full = used + n > arena_slots;
    if (*full) {
        errno = ENOMEM;
        return NULL;
    }
    if (!slot_commit(slot_address(used), n))
        return NULL;
    if (arena_hugepages) /* refused: plain pages */
        (void)pymt__os_advise_huge((void *)slot_address(used), n * PYMT__ARENA_SIZE);
    for (uint32_t i = 0; i < n; i++) {
        arena_table[used + i].index = used + i;
        arena_table[used + i].address = slot_address(used + i);
    }
    /* pairs with the acquires in the validators */
    pymt__store_release(&arena_table_used, used + n);
    if (n == 2)
        arena_half = &arena_table[used + 1];
    return &arena_table[used];
}

/* A recycled slot with its memory mapped, or NULL: none (*refused false), or the kernel
 * refused (*refused true, errno ENOMEM). */
static pymt__arena *slot_recycled_locked(bool *refused) {
    *refused = false;
    ck_stack_entry_t *e = pymt__ck_pop_upmc(&arena_free_slots);
    if (e == NULL)
        return NULL;
    pymt__tsan_acquire(&arena_free_slots); /* pairs with the release in slot_release */
    pymt__arena *a = arena_of_link(e);
    if (!slot_commit(slot_address(a->index), 1)) {
        *refused = true;
        pymt__tsan_release(&arena_free_slots);
        pymt__ck_push_upmc(&arena_free_slots, &a->link);
        return NULL;
    }
    a->address = slot_address(a->index);
    if (arena_hugepages) /* joins its pair's other half when that is mapped */
        (void)pymt__os_advise_huge((void *)a->address, PYMT__ARENA_SIZE);
    return a;
}

/* A slot with its memory mapped (address set, state UNUSED): the half a huge-page pair left,
 * a recycled slot, else a never-used one; with huge pages never-used pairs come before
 * recycled slots, which are single (an aligned pair only while the range has never-used
 * slots left). arena_mutex held. NULL + ENOMEM when the range is full or the kernel refuses. */
static pymt__arena *slot_take_locked(void) {
    pymt__arena *a = arena_half;
    if (a != NULL) {
        arena_half = NULL;
        return a;
    }
    bool refused = false, full = false;
    if (arena_hugepages) {
        a = slot_fresh_locked(&full);
        if (a == NULL)
            a = slot_recycled_locked(&refused);
    } else {
        a = slot_recycled_locked(&refused);
        if (a == NULL && !refused)
            a = slot_fresh_locked(&full);
    }
    if (a == NULL && full && !refused) /* no slot at all, not a refusal */
        pymt__store_relaxed(&range_full, true);
    return a;
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

/* Take a place on s for one more arena while it holds fewer than bound; false otherwise. */
static bool spare_room(spare_stack *s, size_t bound) {
    if (pymt__fetch_add_relaxed(&s->n, 1) < bound)
        return true;
    pymt__fetch_sub_relaxed(&s->n, 1);
    return false;
}

/* Push a (RESERVE, its place taken) on s. */
static void spare_push(spare_stack *s, pymt__arena *a) {
    pymt__fetch_add_relaxed(&arena_published, 1);
    pymt__tsan_release(&s->stack); /* pairs with the acquire in spare_pop_locked */
    pymt__ck_push_upmc(&s->stack, &a->link);
}

/* Pop an arena off s, or NULL. arena_mutex held (one popper at a time). */
static pymt__arena *spare_pop_locked(spare_stack *s) {
    ck_stack_entry_t *e = pymt__ck_pop_upmc(&s->stack);
    if (e == NULL)
        return NULL;
    pymt__tsan_acquire(&s->stack);
    pymt__fetch_sub_relaxed(&s->n, 1);
    return arena_of_link(e);
}

/* pymt__arena_new_locked with arena_mutex held. */
static pymt__arena *arena_new(uint32_t state) {
    /* 1. a reserve arena, still mapped, tags clear: a warm one (its pages resident, holding
     * what they held) before one whose pages were discarded */
    pymt__arena *a = spare_pop_locked(&reserve_warm);
    if (a == NULL)
        a = spare_pop_locked(&reserve_cold);
    if (a != NULL) {
        /* dirty_end stays: the new owner gives back what it will not carve soon */
        pymt__fetch_add_relaxed(&arena_adopted, 1);
        pymt__store_relaxed(&a->state, state);
        a->freepools = NULL;
        a->ncarved = 0;
        a->nfreepools = PYMT__POOLS_PER_ARENA;
        a->nextarena = a->prevarena = NULL;
        return a;
    }
    /* 2. a slot, its memory mapped */
    a = slot_take_locked();
    if (a == NULL)
        return NULL;
    pymt__store_relaxed(&a->state, state);
    a->freepools = NULL;
    a->ncarved = 0;
    a->nfreepools = PYMT__POOLS_PER_ARENA;
    a->nextarena = a->prevarena = NULL;
    a->dirty_end = 0;
    size_t cur = pymt__fetch_add_relaxed(&arenas_current, 1) + 1;
    pymt__fetch_add_relaxed(&arenas_allocated_total, 1);
    counter_max(&arenas_highwater, cur);
    return a;
}

/* a's memory back to the kernel and its slot on the free-slot stack (a is RETIRING, its tags
 * clear, or arena_half). */
static void slot_release(pymt__arena *a) {
    PYMT_TRACK_RELEASE(a->address, PYMT__ARENA_SIZE);
    pymt__os_decommit((void *)a->address, PYMT__ARENA_SIZE);
    pymt__fetch_sub_relaxed(&slots_mapped, 1);
    pymt__store_relaxed(&range_full, false);
    a->address = 0;
    pymt__store_relaxed(&a->state, PYMT__ARENA_UNUSED);
    pymt__tsan_release(&arena_free_slots); /* pairs with the acquire in slot_recycled_locked */
    pymt__ck_push_upmc(&arena_free_slots, &a->link);
}

void pymt__arena_unmap_retiring(pymt__arena *a) {
    tags_clear(a);
    pymt__fetch_sub_relaxed(&arenas_current, 1);
    pymt__fetch_add_relaxed(&arenas_reclaimed_total, 1);
    slot_release(a);
    released_self += PYMT__ARENA_SIZE;
}

void pymt__arena_discard_uncarved(pymt__arena *a, size_t carved) {
    /* the earlier owner's last page is dirty to its end; nothing past carved is the owner's */
    size_t page = pymt__os_page_size();
    size_t end = ((size_t)a->dirty_end + page - 1) & ~(page - 1);
    if (end <= carved)
        return;
    a->dirty_end = (uint32_t)carved;
    released_self += pymt__os_discard((char *)a->address + carved, end - carved);
}

void pymt__arena_note_released(size_t bytes) {
    released_self += bytes;
}

size_t pymt__arena_released_self(void) {
    return released_self;
}

size_t pymt__arena_heap_bytes(void) {
    size_t cur = pymt__load_relaxed(&arenas_current);
    size_t spare = pymt__load_relaxed(&reserve_warm.n) + pymt__load_relaxed(&reserve_cold.n);
    return cur > spare ? (cur - spare) << PYMT__ARENA_BITS : 0;
}

/* The most warm arenas kept now: an eighth of the arenas in use, at most arena_warm_max. A
 * heap that swings keeps an arena it will want again with its pages, not discarded and faulted
 * back (mstress at 8 threads, 1 MiB medium arenas emptying and filling); a heap that has
 * emptied keeps none. */
static size_t warm_bound(void) {
    size_t b = pymt__arena_heap_bytes() >> PYMT__ARENA_BITS >> 3;
    return b < arena_warm_max ? b : arena_warm_max;
}

/* Into the cold reserve (pages discarded) while it has room, else unmapped. The discard is not
 * counted as released: the arena is counted once, when the reserve is unmapped (pymt_trim). */
static void retire_cold(pymt__arena *a) {
    if (spare_room(&reserve_cold, arena_reserve_max)) {
        pymt__os_discard((void *)a->address, PYMT__ARENA_SIZE);
        a->dirty_end = 0;
        spare_push(&reserve_cold, a);
        return;
    }
    pymt__arena_unmap_retiring(a);
}

void pymt__arena_retire(pymt__arena *a) {
    pymt__assert(pymt__load_relaxed(&a->state) == PYMT__ARENA_RETIRING);
    tags_clear(a);
    PYMT_TRACK_RELEASE(a->address, PYMT__ARENA_SIZE);
    pymt__store_relaxed(&a->state, PYMT__ARENA_RESERVE);
    if (spare_room(&reserve_warm, warm_bound())) {
        spare_push(&reserve_warm, a);
        return;
    }
    retire_cold(a);
    /* the heap has shrunk under the warm arenas kept: the excess goes cold (pops under the
     * lock, the discard outside it) */
    while (pymt__load_relaxed(&reserve_warm.n) > warm_bound()) {
        pthread_mutex_lock(&arena_mutex);
        pymt__arena *w = spare_pop_locked(&reserve_warm);
        pthread_mutex_unlock(&arena_mutex);
        if (w == NULL)
            break;
        retire_cold(w);
    }
}

void pymt__arena_trim_locked(void) {
    /* Under arena_mutex, like every other take from the reserve: one popper at a time. */
    pthread_mutex_lock(&arena_mutex);
    spare_stack *stacks[2] = {&reserve_warm, &reserve_cold};
    for (unsigned k = 0; k < 2; k++) {
        pymt__arena *a;
        while ((a = spare_pop_locked(stacks[k])) != NULL)
            pymt__arena_unmap_retiring(a);
    }
    if (arena_half != NULL) {
        /* resident when its pair got a huge page */
        slot_release(arena_half);
        arena_half = NULL;
        released_self += PYMT__ARENA_SIZE;
    }
    pthread_mutex_unlock(&arena_mutex);
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

bool pymt__arena_range_full(void) {
    return pymt__load_relaxed(&range_full);
}

size_t pymt__arena_range_bytes(void) {
    return range_bytes;
}

void pymt__arena_counters_get(pymt__arena_counters *out) {
    out->current = pymt__load_relaxed(&arenas_current);
    out->warm = pymt__load_relaxed(&reserve_warm.n);
    out->reserve = out->warm + pymt__load_relaxed(&reserve_cold.n);
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
    if (state == PYMT__ARENA_MEDIUM) /* its header, tags and blocks: pymt__medium_check */
        return a->address == slot_address(a->index);
    if (state != PYMT__ARENA_ACTIVE)
        return state <= PYMT__ARENA_RESERVE;
    if (a->address != slot_address(a->index))
        return false;
    if (a->ncarved > PYMT__POOLS_PER_ARENA || a->nfreepools > PYMT__POOLS_PER_ARENA ||
        a->nfreepools < PYMT__POOLS_PER_ARENA - a->ncarved || a->dirty_end > PYMT__ARENA_SIZE)
        return false;
    /* carved pools have a tag, the others none */
    for (uint32_t k = 0; k < PYMT__POOLS_PER_ARENA; k++)
        if ((pymt__pool_tag((const char *)a->address + k * PYMT__POOL_SIZE) != 0) != (k < a->ncarved))
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

/* pool.c: the pool core: several classic pymalloc cores, each behind a lock of its own.
 *
 *   thread 0 ---+                     +--> core 0: mutex, usedpools[32], usable_arenas, ...
 *   thread 2 ---+-- refill / flush ---+         arenas A, C, ...   (index 0 in pool 0's pad)
 *   thread 1 ---+                     +--> core 1: mutex, usedpools[32], usable_arenas, ...
 *   thread 3 ---+                               arenas B, D, ...   (index 1)
 *
 * A core is pymalloc's bookkeeping, unchanged, over the arenas it took (pymt__arena_new_locked
 * under its lock). There are pymt__pool_init's number of them (PYMT_CORES, by default one per
 * online CPU up to PYMT__CORES_MAX). A thread is given a core at its first visit, the one with
 * the fewest live threads (ties taken in turn; a thread counts from the set-up of its cache,
 * pymt__pool_thread_join, until the cache goes, pymt__pool_thread_gone), and a refill
 * (pymt__pool_take) takes blocks from that core only.
 * Round robin, which this replaced, ignored exits: with threads coming and going, two
 * long-lived threads shared one core (its lock, its depot, lines of each other's blocks) while
 * another core had none. A block always goes back to the core of its arena
 * (pymt__pool_give_chains gives the runs of its first block's core as it walks, then locks
 * each other core once), so a core's counts describe its own arenas exactly, and cross-thread
 * frees need nothing more than that. A thread never holds two core
 * locks, except through pymt__core_lock, which takes the global lock and then every core's in
 * index order (stats, trim, fork, validators).
 * Entry points ending in _locked need pymt__core_lock held; the others lock what they need.
 * Invariants, per core (under its lock):
 *   - a partly used pool is on usedpools[class]; a full one on no list; an empty one on its
 *     arena's freepools list (keeping its szidx, so reuse for the same class skips re-init);
 *   - usable_arenas holds the core's arenas with at least one free pool, in ascending order of
 *     nfreepools, so new pools come from the fullest arena and the emptiest arenas drain;
 *     nfp2lasta[n] is the last arena in that list with n free pools (pymalloc's search
 *     fingers, which keep the reordering O(1));
 *   - an arena whose 64 pools are all free leaves the list and is retired (reserve or unmap),
 *     unless it is the last of the list with all pools free (pymalloc keeps one per core:
 *     bpo-37257);
 *   - every pool of an arena on a core's lists belongs to that core (the arena's core index);
 *   - blocks are carved lazily: a pool's never-used blocks start at nextoffset.
 * Blocks move in batches: pymt__pool_take / pymt__pool_give_chains serve the thread caches,
 * one core-lock acquisition per batch and core. Never calls malloc; never touches a thread
 * cache.
 * Hardened mode (pymt__hardened, harden.h): free-list links are encoded and free blocks carry
 * the free marker; before the core uses a pool header it checks it (pool_verify: canary, class
 * against the arena's class table, arena record, offsets, count), it checks each link it
 * follows (a carved block of the same pool, or for a chain given back, a block start of its
 * class), the neighbours of a pool it unlinks (safe unlinking: they point back at it), and a
 * block freed alone (a block start, not already free). The first failure stops the program with
 * a report (harden.c).
 * The core's struct and the tests of a pool's state are in pool_core.h, shared with the
 * counts and validators of pool_check.c. */
#include "pool_core.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

#include "os.h"
#include "track.h"

pymt__core pymt__cores[PYMT__CORES_MAX] = {
    [0 ... PYMT__CORES_MAX - 1] = {.mutex = PTHREAD_MUTEX_INITIALIZER}};
unsigned pymt__ncores = 1; /* set once by pymt__pool_init, before any thread allocates */
static pthread_mutex_t global_mutex = PTHREAD_MUTEX_INITIALIZER;
static _Atomic unsigned core_next; /* where the next choice starts looking: ties in turn */
static PYMT__TLS uint8_t self_core; /* 1 + index of the calling thread's core; 0: not chosen */
static PYMT__TLS bool self_counted;  /* the thread is in core_threads[self_core - 1] */
/* Live threads per core: counted when a thread's cache is set up, uncounted when it goes, the
 * two calls the thread-cache layer makes. A thread without a cache (PYMT_TCACHE=0, no memory
 * for its record) is never counted, since nothing would uncount it at its exit; with no caches
 * at all the choice is round robin. The counts only steer the choice: relaxed, and two threads
 * choosing at once may take the same core. */
static _Atomic unsigned core_threads[PYMT__CORES_MAX];
/* Bit i set once core i has taken an arena (never cleared): while one bit alone is set, every
 * pool block belongs to that core, and a chain given back needs no split by core. A thread
 * holding a block got it after its core set the bit (through the core's lock, or a depot batch
 * whose push and pop are ordered), so a relaxed load sees the bit. */
static _Atomic uint32_t cores_used;
/* A core keeps as many dirty free pools as it has pools in use, within 2 MiB and PYMT_PURGE_MAX
 * (default 8 MiB) shared by the cores in use (cores_used: a program whose threads all landed
 * on one core has the whole of it), and purges down to half of that: a heap that swings by a
 * few MiB (a program building and dropping a large list of small objects) reuses its pools
 * without a purge and a refault each time, and a heap that has emptied keeps no more than 2 MiB
 * of them (docs/design.md, section 2.7, has the figures).
 * Wholly free arenas retire at once whatever this says. */
enum { DIRTY_MIN = 128 }; /* pools: 2 MiB */
static size_t dirty_max = DIRTY_MIN * 4; /* PYMT_PURGE_MAX in pools; set once by init */

#define MAGIC(d) (UINT64_MAX / (d) + 1)
const uint64_t pymt__class_magic[PYMT__NCLASSES] = {
    MAGIC(1),  MAGIC(2),  MAGIC(3),  MAGIC(4),  MAGIC(5),  MAGIC(6),  MAGIC(7),  MAGIC(8),
    MAGIC(9),  MAGIC(10), MAGIC(11), MAGIC(12), MAGIC(13), MAGIC(14), MAGIC(15), MAGIC(16),
    MAGIC(17), MAGIC(18), MAGIC(19), MAGIC(20), MAGIC(21), MAGIC(22), MAGIC(23), MAGIC(24),
    MAGIC(25), MAGIC(26), MAGIC(27), MAGIC(28), MAGIC(29), MAGIC(30), MAGIC(31), MAGIC(32)};
#undef MAGIC
_Static_assert(PYMT__NCLASSES == 32, "one magic number per class");

void pymt__pool_init(unsigned n, size_t purge_max) {
    if (n == 0)
        n = 1;
    if (n > PYMT__CORES_MAX)
        n = PYMT__CORES_MAX;
    pymt__ncores = n;
    for (unsigned i = 0; i < PYMT__CORES_MAX; i++)
        pymt__cores[i].index = i;
    size_t max = purge_max / PYMT__POOL_SIZE;
    dirty_max = max > DIRTY_MIN ? max : DIRTY_MIN;
}

unsigned pymt__pool_cores(void) {
    return pymt__ncores;
}

/* The core with the fewest live threads, looking from the next in turn, so ties rotate. */
static unsigned core_least_loaded(void) {
    unsigned n = pymt__ncores, start = pymt__fetch_add_relaxed(&core_next, 1) % n;
    unsigned best = start, least = UINT_MAX;
    for (unsigned j = 0; j < n; j++) {
        unsigned k = (start + j) % n, t = pymt__load_relaxed(&core_threads[k]);
        if (t < least) {
            least = t;
            best = k;
        }
    }
    return best;
}

/* The calling thread's core, chosen at its first visit. */
static pymt__core *core_self(void) {
    unsigned i = self_core;
    if (pymt__unlikely(i == 0)) {
        i = core_least_loaded();
        self_core = (uint8_t)++i;
    }
    return &pymt__cores[i - 1];
}

void pymt__pool_thread_join(void) {
    if (self_counted)
        return;
    pymt__fetch_add_relaxed(&core_threads[core_self()->index], 1);
    self_counted = true;
}

void pymt__pool_thread_gone(void) {
    if (self_counted)
        pymt__fetch_sub_relaxed(&core_threads[self_core - 1], 1);
    else if (self_core == 0) /* a core for the thread's last calls, not counted */
        self_core = (uint8_t)(core_least_loaded() + 1);
    self_counted = false;
}

unsigned pymt__pool_core_threads(unsigned k) {
    return k < pymt__ncores ? pymt__load_relaxed(&core_threads[k]) : 0;
}

unsigned pymt__pool_self_core(void) {
    return (unsigned)(core_self() - pymt__cores);
}

/* The core that owns the arena of pool block (or pool header) p. */
static pymt__core *core_of(const void *p) {
    unsigned i = pymt__arena_core(p);
    if (pymt__unlikely(i >= pymt__ncores)) {
        if (pymt__hardened)
            pymt__harden_bad_pool(pymt__pool_of(p), "its arena's core index is out of range");
        pymt__assert(i < pymt__ncores);
    }
    return &pymt__cores[i];
}

/* Take core k's mutex; a busy one is counted before the thread waits for it. */
static void core_acquire(pymt__core *k) {
    size_t busy = 0;
    if (pthread_mutex_trylock(&k->mutex) != 0) {
        busy = 1;
        pthread_mutex_lock(&k->mutex);
    }
    k->locks++;
    k->contended += busy;
}

static void core_release(pymt__core *k) {
    pthread_mutex_unlock(&k->mutex);
}

/* The core a refill takes blocks from, its mutex held: the thread's own, always. (Trying the
 * other cores when it is busy was measured and lost: blocks taken from another core come back
 * to that core, so the threads' gives meet on every lock; docs/design.md has the figures.) */
static pymt__core *core_acquire_for_take(void) {
    pymt__core *k = core_self();
    core_acquire(k);
    return k;
}

void pymt__global_lock(void) {
    pthread_mutex_lock(&global_mutex);
}

void pymt__global_unlock(void) {
    pthread_mutex_unlock(&global_mutex);
}

void pymt__core_lock(void) {
    pthread_mutex_lock(&global_mutex);
    for (unsigned i = 0; i < pymt__ncores; i++)
        core_acquire(&pymt__cores[i]);
}

void pymt__core_unlock(void) {
    for (unsigned i = pymt__ncores; i-- > 0;)
        core_release(&pymt__cores[i]);
    pthread_mutex_unlock(&global_mutex);
}

static void usedpools_push(pymt__core *k, unsigned c, pymt__pool *pool) {
    pool->prevpool = NULL;
    pool->nextpool = k->usedpools[c];
    if (k->usedpools[c])
        k->usedpools[c]->prevpool = pool;
    k->usedpools[c] = pool;
}

/* ---- hardened mode: the checks before the core trusts a header or a link ------------------- */

/* Stop with a report unless pool's header is whole: canary, class (it must agree with the
 * arena's class table, which lives elsewhere), arena record, offsets and count. */
static void pool_verify(const pymt__pool *pool) {
    unsigned c = pool->szidx;
    const pymt__arena *a = pool->arena;
    if (pool->canary != pymt__harden_canary(pool))
        pymt__harden_bad_pool(pool, "its canary was overwritten");
    if (c >= PYMT__NCLASSES || pymt__block_class(pool) != c)
        pymt__harden_bad_pool(pool, "its class does not match the arena's class table");
    if (pymt__arena_core(pool) >= pymt__ncores)
        pymt__harden_bad_pool(pool, "its arena's core index is out of range");
    if (!pymt__arena_is_record_locked(a) || pymt__load_relaxed(&a->state) != PYMT__ARENA_ACTIVE ||
        a->address != ((uintptr_t)pool & ~(uintptr_t)PYMT__ARENA_MASK))
        pymt__harden_bad_pool(pool, "its arena pointer is not its arena's record");
    uintptr_t head = pymt__pool_overhead(pool);
    if (pool->nextoffset < head ||
        pool->nextoffset > pymt__pool_maxnext(c) + pymt__class_to_size(c) ||
        !pymt__class_divides(pool->nextoffset - head, c) ||
        pool->count > (pool->nextoffset - head) / pymt__class_to_size(c))
        pymt__harden_bad_pool(pool, "its offsets or its count are out of range");
    if (pool->freeblock != NULL && !pymt__pool_holds_block(pool, pool->freeblock, c))
        pymt__harden_bad_pool(pool, "its free-list head is not a block of the pool");
}

/* Stop with a report unless pool, found on arena a's list of free pools, is whole and is a
 * free pool of a: a purge that trusted an overwritten header would discard the pages of
 * whatever pool its link names, live blocks and all. */
static void free_pool_verify(const pymt__arena *a, const pymt__pool *pool) {
    pool_verify(pool);
    if (pool->arena != a || pool->count != 0)
        pymt__harden_bad_pool(pool, "it is on its arena's list of free pools but is not free");
}

static void usedpools_unlink(pymt__core *k, unsigned c, pymt__pool *pool) {
    if (pymt__hardened &&
        ((pool->prevpool ? pool->prevpool->nextpool : k->usedpools[c]) != pool ||
         (pool->nextpool != NULL && pool->nextpool->prevpool != pool)))
        pymt__harden_bad_pool(pool, "its list neighbours do not point back at it");
    if (pool->prevpool)
        pool->prevpool->nextpool = pool->nextpool;
    else
        k->usedpools[c] = pool->nextpool;
    if (pool->nextpool)
        pool->nextpool->prevpool = pool->prevpool;
    pool->nextpool = pool->prevpool = NULL;
}

/* Arena a leaves k->usable_arenas (its neighbours are linked to each other). */
static void usable_unlink(pymt__core *k, pymt__arena *a) {
    if (a->prevarena != NULL)
        a->prevarena->nextarena = a->nextarena;
    else
        k->usable_arenas = a->nextarena;
    if (a->nextarena != NULL)
        a->nextarena->prevarena = a->prevarena;
}

/* Arena a, with nf free pools, is about to stop being the last arena with nf: the finger
 * moves to its left neighbour when that one has nf too, else clears. */
static void finger_leave(pymt__core *k, pymt__arena *a, uint32_t nf) {
    if (k->nfp2lasta[nf] == a) {
        pymt__arena *p = a->prevarena;
        k->nfp2lasta[nf] = (p != NULL && p->nfreepools == nf) ? p : NULL;
    }
}

/* Arena a, wholly free and off k->usable_arenas, goes on the list to retire after the lock. */
static void retire_push(pymt__arena *a, pymt__arena **retire) {
    pymt__arena_note_carved(a, (size_t)a->ncarved << PYMT__POOL_BITS);
    pymt__store_relaxed(&a->state, PYMT__ARENA_RETIRING);
    a->prevarena = NULL;
    a->nextarena = *retire;
    *retire = a;
}

/* Arena a leaves the usable list for good (retired): its dirty pools stop counting. */
static void dirty_forget(pymt__core *k, pymt__arena *a) {
    k->dirty_total -= a->ndirty;
    a->ndirty = 0;
}

/* Purge free pool `pool`: give back the pages after its head (the page that holds the header,
 * and in pool 0 the arena's core index, stays), and make it carve from scratch (its class
 * stays: reuse skips the re-init). */
static void pool_purge_locked(pymt__pool *pool) {
    size_t keep = pymt__pool_overhead(pool);
    pymt__arena_note_released(pymt__os_discard((char *)pool + keep, PYMT__POOL_SIZE - keep));
    pool->freeblock = NULL;
    pymt__plain_store_relaxed(&pool->nextoffset, (uint32_t)pymt__pool_overhead(pool));
}

/* The most dirty free pools core k keeps: its pools in use, or the pools it had to take again
 * after purges (regret) when more, within its share of 2 MiB .. PYMT_PURGE_MAX (the cores that
 * have taken an arena share it). */
static size_t dirty_bound(const pymt__core *k) {
    unsigned n = (unsigned)__builtin_popcount(pymt__load_relaxed(&cores_used));
    if (n == 0)
        n = 1;
    size_t lo = DIRTY_MIN / n, hi = dirty_max / n, regret = k->refaulted - k->refaulted_trim;
    size_t b = k->pools_used > regret ? k->pools_used : regret;
    return b < lo ? lo : b > hi ? hi : b;
}

/* Purge core k's dirty free pools down to keep, those of the emptiest arenas (the list's tail)
 * first; the fullest arenas, where new pools come from, keep theirs longest. With too many
 * dirty pools, keep is half the bound; pymt_trim purges them all. */
static void purge_locked(pymt__core *k, size_t keep) {
    pymt__arena *last = k->usable_arenas;
    while (last != NULL && last->nextarena != NULL)
        last = last->nextarena;
    for (pymt__arena *a = last; a != NULL && k->dirty_total > keep; a = a->prevarena) {
        if (a->ndirty == 0)
            continue;
        for (pymt__pool *p = a->freepools; p != NULL && a->ndirty > 0; p = p->nextpool) {
            if (pymt__hardened)
                free_pool_verify(a, p);
            if (pymt__pool_dirty(p)) {
                pool_purge_locked(p);
                a->ndirty--;
                k->dirty_total--;
                k->purged++;
            }
        }
    }
}

/* A pool for class c from the arenas; NULL + ENOMEM when no arena can be had. */
static pymt__pool *pool_new_locked(pymt__core *k, unsigned c) {
    pymt__assert_expensive(pymt__pool_core_lists_check(k));
    if (k->usable_arenas == NULL) {
        pymt__arena *a = pymt__arena_new_locked(PYMT__ARENA_ACTIVE);
        if (a == NULL)
            return NULL;
        /* the arena joins core k: the index goes in pool 0's pad, which the pools never use
         * and a purge keeps (it is in the first page) */
        pymt__arena_core_set(a->address, k->index);
        if (!(pymt__load_relaxed(&cores_used) & (1u << k->index)))
            pymt__fetch_or_release(&cores_used, 1u << k->index);
        a->nextarena = a->prevarena = NULL;
        k->usable_arenas = a;
        pymt__assert(k->nfp2lasta[a->nfreepools] == NULL);
        k->nfp2lasta[a->nfreepools] = a;
    }
    pymt__arena *a = k->usable_arenas;
    pymt__assert(a->nfreepools > 0);
    if (k->nfp2lasta[a->nfreepools] == a)
        k->nfp2lasta[a->nfreepools] = NULL; /* it was the last with that many */
    if (a->nfreepools > 1)
        k->nfp2lasta[a->nfreepools - 1] = a; /* the head is the only one with one fewer */
    pymt__pool *pool = a->freepools;
    bool fresh = pool == NULL;
    if (!fresh) {
        if (pymt__hardened)
            free_pool_verify(a, pool);
        a->freepools = pool->nextpool;
        if (pymt__pool_dirty(pool)) {
            a->ndirty--;
            k->dirty_total--;
        } else {
            k->refaulted++; /* purged, and wanted again */
        }
    } else {
        pool = (pymt__pool *)(a->address + (size_t)a->ncarved * PYMT__POOL_SIZE);
        a->ncarved++;
        pool->canary = pymt__hardened ? pymt__harden_canary(pool) : 0;
        pool->arena = a;
        pool->szidx = PYMT__NCLASSES; /* no class yet: forces the init below */
        pool->freeblock = NULL;
        pool->count = 0;
    }
    if (--a->nfreepools == 0) {
        usable_unlink(k, a); /* the head */
        a->nextarena = a->prevarena = NULL;
    }
    if (pool->szidx != c) {
        size_t head = pymt__pool_overhead(pool);
        pool->szidx = c;
        pool->freeblock = NULL;
        pymt__plain_store_relaxed(&pool->nextoffset, (uint32_t)head);
        PYMT_TRACK_POOL_INIT((char *)pool + head, PYMT__POOL_SIZE - head);
    }
    /* also when szidx already says c: a pool carved in an arena from the reserve reads szidx
     * 0 from its discarded page, and its tag was cleared at retirement */
    pymt__pool_tag_set(pool, c);
    pool->count = 0;
    k->class_pools[c]++;
    k->pools_used++;
    k->class_blocks[c] += pymt__pool_blocks(pool, c);
    usedpools_push(k, c, pool);
    return pool;
}

/* Length of a free list (debug-preset assertions only). */
static uint32_t chain_length(void *b) {
    uint32_t n = 0;
    for (; b != NULL; b = pymt__link_get(b))
        n++;
    return n;
}

static void *core_take_locked(pymt__core *k, unsigned c, size_t want, size_t limit, size_t *got) {
    size_t size = pymt__class_to_size(c);
    bool hard = pymt__hardened;
    void *head = NULL, *tail = NULL;
    size_t n = 0;
    bool spliced = false;
    pymt__assert(want <= limit);
    while (n < want && !spliced) {
        pymt__pool *pool = k->usedpools[c];
        if (pool == NULL && (pool = pool_new_locked(k, c)) == NULL)
            break;
        if (hard) {
            pool_verify(pool);
            if (pool->szidx != c)
                pymt__harden_bad_pool(pool, "a pool on the list of one class has another");
        }
        size_t before = n;
        void *b = pool->freeblock;
        /* free-listed blocks: carved ones minus those out */
        uint32_t listed = (uint32_t)((pool->nextoffset - pymt__pool_overhead(pool)) / size) -
                          pool->count;
        if (b != NULL && listed <= limit - n) {
            /* the pool's whole free list fits: splice it on in O(1), without touching its
             * blocks; it is NULL-terminated, so it ends the chain */
            pymt__assert(chain_length(b) == listed);
            if (tail != NULL)
                pymt__link_set(tail, b);
            else
                head = b;
            tail = NULL;
            pool->freeblock = NULL;
            n += listed;
            spliced = true;
        } else {
            /* blocks given back first (warm) */
            while (n < want && (b = pool->freeblock) != NULL) {
                void *next = pymt__link_get(b);
                if (hard) {
                    if (next != NULL && !pymt__pool_holds_block(pool, next, c))
                        pymt__harden_bad_link(b, c, next, "its pool's free list");
                    if (!pymt__harden_marked(b))
                        pymt__harden_bad_marker(b, c, "its pool's free list");
                }
                pool->freeblock = next;
                if (tail != NULL)
                    pymt__link_set(tail, b);
                else
                    head = b;
                tail = b;
                n++;
            }
            /* then never-used ones, carved in one pass: each linked to the next */
            if (n < want && pool->nextoffset <= pymt__pool_maxnext(c)) {
                size_t m = (pymt__pool_maxnext(c) - pool->nextoffset) / size + 1;
                if (m > want - n)
                    m = want - n;
                char *first = (char *)pool + pool->nextoffset, *last = first + (m - 1) * size;
                for (char *q = first; q < last; q += size)
                    pymt__link_set(q, q + size);
                if (hard)
                    for (char *q = first; q <= last; q += size)
                        pymt__harden_mark(q);
                if (tail != NULL)
                    pymt__link_set(tail, first);
                else
                    head = first;
                tail = last;
                pymt__plain_store_relaxed(&pool->nextoffset,
                                          pool->nextoffset + (uint32_t)(m * size));
                n += m;
            }
        }
        pool->count += (uint32_t)(n - before);
        if (pymt__pool_is_full(pool))
            usedpools_unlink(k, c, pool);
    }
    if (tail != NULL)
        pymt__link_set(tail, NULL);
    k->class_out[c] += n;
    *got = n;
    if (n == 0)
        errno = ENOMEM;
    return head;
}

/* Pool became empty: to its arena's free list, with pymalloc's four cases for the arena. */
static void pool_empty_locked(pymt__core *k, pymt__pool *pool, pymt__arena **retire) {
    pymt__arena *a = pool->arena;
    k->class_pools[pool->szidx]--;
    k->pools_used--;
    k->class_blocks[pool->szidx] -= pymt__pool_blocks(pool, pool->szidx);
    pool->nextpool = a->freepools;
    a->freepools = pool;
    a->ndirty++;
    k->dirty_total++;
    uint32_t nf = a->nfreepools;
    pymt__arena *lastnf = k->nfp2lasta[nf];
    finger_leave(k, a, nf); /* a moves on to nf + 1 */
    a->nfreepools = ++nf;

    if (nf == PYMT__POOLS_PER_ARENA && a->nextarena != NULL) {
        /* case 1: wholly free and not the last usable arena: unlink and retire */
        usable_unlink(k, a);
        dirty_forget(k, a);
        retire_push(a, retire);
        return;
    }
    if (nf == 1) {
        /* case 2: it had no free pool, so it was on no list: to the head */
        a->nextarena = k->usable_arenas;
        a->prevarena = NULL;
        if (k->usable_arenas)
            k->usable_arenas->prevarena = a;
        k->usable_arenas = a;
        if (k->nfp2lasta[1] == NULL)
            k->nfp2lasta[1] = a;
        return;
    }
    if (k->nfp2lasta[nf] == NULL)
        k->nfp2lasta[nf] = a;
    if (a == lastnf)
        return; /* case 3: still in order */
    /* case 4: move right, after lastnf */
    usable_unlink(k, a);
    a->prevarena = lastnf;
    a->nextarena = lastnf->nextarena;
    if (a->nextarena != NULL)
        a->nextarena->prevarena = a;
    lastnf->nextarena = a;
}

/* Give back n blocks of one pool of core k, already linked first -> ... -> last. */
static void run_give_locked(pymt__core *k, void *first, void *last, uint32_t n, pymt__arena **retire) {
    pymt__pool *pool = pymt__pool_of(first);
    if (pymt__hardened) {
        pool_verify(pool);
        if (pool->count < n)
            pymt__harden_bad_pool(pool, "its count is lower than the blocks coming back");
    }
    unsigned c = pool->szidx;
    bool was_full = pymt__pool_is_full(pool);
    pymt__link_set(last, pool->freeblock);
    pool->freeblock = first;
    pymt__assert(pool->count >= n);
    pool->count -= n;
    k->class_out[c] -= n;
    if (pool->count == 0) {
        if (!was_full)
            usedpools_unlink(k, c, pool);
        pool_empty_locked(k, pool, retire);
        if (k->dirty_total > dirty_bound(k))
            purge_locked(k, dirty_bound(k) / 2);
    } else if (was_full) {
        usedpools_push(k, c, pool);
    }
}

/* chain_run in the hardened mode: each block's marker and each link are checked before the
 * link is followed. */
static PYMT__NOINLINE void *chain_run_hardened(void *first, void **last, uint32_t *n) {
    pymt__pool *pool = pymt__pool_of(first);
    void *b = first, *next;
    uint32_t k = 1;
    for (;;) {
        if (!pymt__harden_marked(b))
            pymt__harden_bad_marker(b, pymt__block_class(b), "a chain given back to the pools");
        next = pymt__link_get(b);
        /* a chain may mix classes: each block is checked against its own */
        if (next != NULL &&
            !(pymt__arena_lookup(next) && pymt__block_ok(next, pymt__block_class(next))))
            pymt__harden_bad_link(b, pymt__block_class(b), next, "a chain given back to the pools");
        if (next == NULL || pymt__pool_of(next) != pool)
            break;
        b = next;
        k++;
    }
    *last = b;
    *n = k;
    return next;
}

/* The run of pool blocks that starts at first: the blocks after it of the same pool, linked
 * one to the next. Sets *last to its last block and *n to its length; returns the block after
 * it (NULL at the end of the chain). Plain links cost a load and a mask per block here; the
 * hardened mode's checks are in a function of their own, so that this loop, which a give-back
 * runs for every block, has no registers to save. */
static void *chain_run(void *first, void **last, uint32_t *n) {
    if (pymt__unlikely(pymt__hardened))
        return chain_run_hardened(first, last, n);
    pymt__pool *pool = pymt__pool_of(first);
    void *b = first, *next;
    uint32_t k = 1;
    while ((next = pymt__blk_get(b, 0)) != NULL && pymt__pool_of(next) == pool) {
        b = next;
        k++;
    }
    *last = b;
    *n = k;
    return next;
}

/* Give a chain whose blocks all belong to core k (lock held) back to their pools. */
static void core_give_locked(pymt__core *k, void *chain, pymt__arena **retire) {
    /* Blocks of one pool come in runs (a bin holds them in the order the program freed them,
     * which follows the order they were carved): each run is spliced onto its pool's free list
     * at once, with one header update. */
    while (chain != NULL) {
        void *last;
        uint32_t n;
        void *next = chain_run(chain, &last, &n);
        run_give_locked(k, chain, last, n, retire);
        chain = next;
    }
}

void pymt__pool_give_locked(void *chain, pymt__arena **retire) {
    while (chain != NULL) {
        void *last;
        uint32_t n;
        void *next = chain_run(chain, &last, &n);
        run_give_locked(core_of(chain), chain, last, n, retire);
        chain = next;
    }
}

void pymt__pool_give_chains(void *const *chains, unsigned nchains) {
    pymt__arena *retire = NULL;
    uint32_t used_by = pymt__load_relaxed(&cores_used);
    if (pymt__ncores == 1 || (used_by & (used_by - 1)) == 0) { /* one core holds every arena */
        pymt__core *k = &pymt__cores[used_by ? __builtin_ctz(used_by) : 0];
        core_acquire(k);
        for (unsigned j = 0; j < nchains; j++)
            core_give_locked(k, chains[j], &retire);
        core_release(k);
        pymt__pool_retire_list(retire);
        return;
    }
    /* The core of the first block is locked and its runs are given as the walk meets them: a
     * thread mostly frees what it allocated, so the chains are walked once. The runs of other
     * cores are relinked into one chain per core (a link is rewritten only where the next run
     * belongs to another core), and each of those cores is locked once after. */
    void *head[PYMT__CORES_MAX], *tail[PYMT__CORES_MAX];
    uint32_t used = 0;
    pymt__core *first = NULL;
    for (unsigned j = 0; j < nchains; j++) {
        unsigned prev = PYMT__CORES_MAX;
        for (void *b = chains[j]; b != NULL;) {
            void *last;
            uint32_t n;
            void *next = chain_run(b, &last, &n);
            pymt__core *k = core_of(b);
            unsigned i = k->index;
            if (first == NULL) {
                first = k;
                core_acquire(k);
            }
            if (k == first) {
                run_give_locked(k, b, last, n, &retire);
            } else {
                if (!(used & (1u << i))) {
                    head[i] = b;
                    used |= 1u << i;
                } else if (prev != i) {
                    pymt__link_set(tail[i], b);
                }
                tail[i] = last;
            }
            prev = i;
            b = next;
        }
    }
    if (first != NULL)
        core_release(first);
    for (unsigned i = 0; i < pymt__ncores; i++) {
        if (!(used & (1u << i)))
            continue;
        pymt__link_set(tail[i], NULL);
        core_acquire(&pymt__cores[i]);
        core_give_locked(&pymt__cores[i], head[i], &retire);
        core_release(&pymt__cores[i]);
    }
    pymt__pool_retire_list(retire);
}

void pymt__pool_give(void *chain) {
    pymt__pool_give_chains(&chain, 1);
}

void *pymt__pool_take(unsigned c, size_t want, size_t limit, size_t *got) {
    pymt__core *k = core_acquire_for_take();
    void *chain = core_take_locked(k, c, want, limit, got);
    int e = errno;
    core_release(k);
    errno = e;
    return chain;
}

void *pymt__pool_take_locked(unsigned c, size_t want, size_t limit, size_t *got) {
    return core_take_locked(core_self(), c, want, limit, got);
}

void pymt__pool_retire_list(pymt__arena *retire) {
    while (retire != NULL) {
        pymt__arena *next = retire->nextarena;
        retire->nextarena = NULL;
        pymt__arena_retire(retire);
        retire = next;
    }
}

void *pymt__pool_alloc_one(unsigned c) {
    size_t got;
    void *b = pymt__pool_take(c, 1, 1, &got);
    if (pymt__hardened && b != NULL)
        pymt__harden_clear(b);
    return b;
}

void pymt__pool_free_one(void *p) {
    pymt__arena *retire = NULL;
    pymt__core *k = core_of(p);
    core_acquire(k);
    if (pymt__hardened) {
        unsigned c = pymt__block_class(p);
        if (!pymt__block_ok(p, c))
            pymt__harden_bad_pointer("free", p, c);
        if (!pymt__block_carved(p))
            pymt__harden_uncarved("free", p, c);
        if (pymt__harden_marked(p))
            pymt__harden_double_free("free", p, c,
                                     pymt__pool_lists_block_locked(p)
                                         ? "its pool's free list"
                                         : "a thread's cache or the depot (its marker is set)");
        pymt__harden_mark(p);
    }
    run_give_locked(k, p, p, 1, &retire);
    core_release(k);
    pymt__pool_retire_list(retire);
}

void pymt__pool_trim(void) {
    pymt__core_lock();
    pymt__assert_expensive(pymt__heap_check_locked());
    pymt__arena_trim_locked();
    /* the one wholly free arena pymalloc keeps on each core's list goes too, and so do the
     * pages of the free pools in arenas still in use, which a core otherwise keeps up to its
     * bound for reuse (dirty_bound), and the pools not carved yet of an arena that came warm,
     * which still hold what its earlier owner wrote (every arena with a pool not carved has a
     * free pool, so it is on the list) */
    pymt__arena *retire = NULL;
    for (unsigned i = 0; i < pymt__ncores; i++) {
        pymt__core *k = &pymt__cores[i];
        k->refaulted_trim = k->refaulted; /* the swing is learned again */
        for (pymt__arena *a = k->usable_arenas; a != NULL;) {
            pymt__arena *next = a->nextarena;
            if (a->nfreepools == PYMT__POOLS_PER_ARENA) {
                finger_leave(k, a, a->nfreepools);
                usable_unlink(k, a);
                dirty_forget(k, a);
                retire_push(a, &retire);
            } else {
                pymt__arena_discard_uncarved(a, (size_t)a->ncarved << PYMT__POOL_BITS);
            }
            a = next;
        }
        purge_locked(k, 0);
    }
    pymt__core_unlock();
    /* straight to the OS, not the reserve: that is what trim is for */
    for (pymt__arena *a = retire; a != NULL;) {
        pymt__arena *next = a->nextarena;
        a->nextarena = NULL;
        pymt__arena_unmap_retiring(a);
        a = next;
    }
}

void pymt__pool_atfork_prepare(void) {
    pymt__core_lock();
}

void pymt__pool_atfork_parent(void) {
    pymt__core_unlock();
}

void pymt__pool_atfork_child(void) {
    /* the child's only thread is the forking one */
    for (unsigned k = 0; k < pymt__ncores; k++)
        pymt__store_relaxed(&core_threads[k], 0);
    if (self_counted)
        pymt__store_relaxed(&core_threads[self_core - 1], 1);
    /* the forking thread took the locks in prepare and is the child's only thread: it may
     * unlock them (re-initialising an initialised mutex is undefined) */
    pymt__core_unlock();
}

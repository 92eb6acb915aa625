/* tcache.c: the per-thread caches behind tcache.h: set-up, refill and flush in batches, the
 * thread-exit destructor, pymt_thread_flush, and the registry that stats walk.
 *
 * Per class c a thread keeps two magazines (Bonwick's magazine layer): the bin the fast path
 * pops and pushes, and a spare. Each holds at most max(c) blocks, max = clamp(8 KiB / size, 16,
 * 256) (16 B -> 256 blocks, 32 B -> 256, 64 B -> 128, ..., 512 B -> 16), so 512 KiB per
 * thread over all 32 classes. The one exception: a refill from the pools may return up to
 * 2*max blocks, when that lets the core splice a pool's whole free list instead of walking it
 * block by block (a full pool's list is at most two bins' worth for every class above 16 B),
 * so right after such refills a thread can hold up to twice that, 1 MiB. The walk was a chain
 * of cache misses on cold blocks: most of the refill time in CPython's json_roundtrip.
 * A bin starts with a bound of 16 and doubles it at every refill
 * (and every overflow) until it reaches max(c), so a thread that touches a class a few times
 * (short-lived threads, rarely used sizes) holds little.
 *   push onto a full bin: the bin becomes the spare (O(1)); when there is a spare already, the
 *     full bin itself is sent away whole: to the lock-free depot while the depot holds fewer
 *     than 4*max blocks of the class, else to the pools under one lock acquisition. The bin
 *     rather than the spare, because its blocks were freed last and are still in cache when the
 *     pools walk the chain (callgrind's cache model, CPython's tuple_list_churn: 3.45 M L1
 *     misses in the pools' give when the spare left, 0.29 M with the bin);
 *   pop from an empty bin: the spare becomes the bin (O(1), no lock); without a spare, a batch
 *     is adopted from the depot (handoff.c), else a full bin is taken from the pools under one
 *     core-lock acquisition.
 * A thread swinging between allocating and freeing up to two bins' worth never leaves its own
 * cache, and no path walks a chain to split it. Blocks freed by another thread than the one
 * that allocated them need nothing special: a free block is a free block of its class, it goes
 * into the freeing thread's bin, and batches find their way back through the depot.
 * Exit: the pthread key destructor publishes each non-empty bin and spare as one batch on the
 * depot (no lock; the core takes them if the depot is over twice its bound), unregisters, and
 * marks the cache DEAD, so frees that happen later in the thread's teardown go straight to the
 * pools. The key sits in a slot above the keys created after pymt's init (pymt__tcache_init
 * says why), so its destructor also runs for a cache set up by another key's destructor in
 * the last round. The registry of live caches is a list under the core lock, walked by stats
 * and the fork child; only a cache whose destructor will run may be on it. */
#include "tcache.h"

#include <errno.h>
#include <pthread.h>

#include "handoff.h"
#include "large.h"
#include "pool.h"

PYMT__TLS pymt__tcache pymt__tc;
_Atomic intptr_t pymt__large_global;

static pthread_key_t tcache_key;
static pymt__tcache *registry;   /* live caches (core lock) */
static size_t registry_n;        /* their number (core lock) */
/* counts of exited threads (folded under the core lock) */
static size_t gone_refills, gone_flushes, gone_published, gone_adopted;

static inline void bump(_Atomic size_t *c) {
    pymt__store_relaxed(c, pymt__load_relaxed(c) + 1);
}

/* Tuning knobs (overridable at build time for measurements; see the note in the README). */
#ifndef TCACHE_CLASS_BYTES
#define TCACHE_CLASS_BYTES 8192u
#endif
#ifndef TCACHE_MAX_MIN
#define TCACHE_MAX_MIN 16u
#endif
#ifndef TCACHE_MAX_MAX
#define TCACHE_MAX_MAX 256u
#endif
#ifndef TCACHE_MAX_START
#define TCACHE_MAX_START 16u /* a bin starts here and doubles at each refill up to class_max */
#endif

static uint32_t class_max(unsigned c) {
    size_t m = TCACHE_CLASS_BYTES / pymt__class_to_size(c);
    if (m < TCACHE_MAX_MIN)
        m = TCACHE_MAX_MIN;
    if (m > TCACHE_MAX_MAX)
        m = TCACHE_MAX_MAX;
    return (uint32_t)m;
}
static size_t depot_limit(unsigned c) {
    return 4 * (size_t)class_max(c);
}

/* Send a chain of n blocks of class c away: depot if it has room under limit, else the pools. */
static void give_away(pymt__tcache *tc, unsigned c, void *chain, size_t n, size_t limit) {
    if (pymt__depot_push(c, chain, n, limit)) {
        bump(&tc->published);
        return;
    }
    pymt__arena *retire = NULL;
    pymt__core_lock();
    pymt__pool_give_locked(chain, &retire);
    pymt__core_unlock();
    pymt__pool_retire_list(retire);
}

/* Empty bin c completely; returns the chain and its length. */
static void *bin_take_all(pymt__tbin *b, size_t *n) {
    void *chain = b->head;
    *n = pymt__load_relaxed(&b->count);
    b->head = NULL;
    pymt__store_relaxed(&b->count, 0);
    return chain;
}

/* Take the spare magazine of class c; returns the chain and its length. */
static void *spare_take(pymt__tcache *tc, unsigned c, size_t *n) {
    void *chain = tc->spare[c];
    *n = pymt__load_relaxed(&tc->spare_count[c]);
    tc->spare[c] = NULL;
    pymt__store_relaxed(&tc->spare_count[c], 0);
    return chain;
}

static void tcache_destructor(void *arg) {
    pymt__tcache *tc = arg;
    for (unsigned c = 0; c < PYMT__NCLASSES; c++) {
        size_t n;
        void *chain = bin_take_all(&tc->bins[c], &n);
        tc->bins[c].max = 0;
        if (chain != NULL)
            give_away(tc, c, chain, n, 2 * depot_limit(c));
        chain = spare_take(tc, c, &n);
        if (chain != NULL)
            give_away(tc, c, chain, n, 2 * depot_limit(c));
    }
    pymt__large_release_all(tc);
    tc->state = PYMT__TC_DEAD;
    pymt__core_lock();
    gone_refills += pymt__load_relaxed(&tc->refills);
    gone_flushes += pymt__load_relaxed(&tc->flushes);
    gone_published += pymt__load_relaxed(&tc->published);
    gone_adopted += pymt__load_relaxed(&tc->adopted);
    /* folded under the lock that stats hold while they sum, so no block is counted twice */
    pymt__fetch_add_relaxed(&pymt__large_global, pymt__load_relaxed(&tc->large_delta));
    pymt__store_relaxed(&tc->large_delta, 0);
    if (tc->prev)
        tc->prev->next = tc->next;
    else
        registry = tc->next;
    if (tc->next)
        tc->next->prev = tc->prev;
    registry_n--;
    pymt__core_unlock();
}

/* The slot tcache_key is put in. glibc calls the destructors of a thread's keys in rounds
 * (PTHREAD_DESTRUCTOR_ITERATIONS of them), each round in slot order, and a key set after
 * glibc has passed its slot in the last round never gets its destructor. A thread whose first
 * allocation comes from another key's destructor sets tcache_key then; were tcache_key's slot
 * below that key's, a cache set up in the last round would stay registered once the thread is
 * gone (its TLS block zeroed for the next thread, or unmapped, under the registry) with its
 * blocks lost. With tcache_key above, glibc reaches it later in the same round and the
 * destructor runs. glibc hands out the lowest free slot and pthread_key_t is that slot, so
 * init takes slots until it holds this one and gives back the others, which the keys created
 * after it then take. 31 is the last slot of the block every thread has (a higher one costs
 * each thread an allocation in pthread_setspecific); only keys created while all 31 below are
 * taken land above it. */
#define TCACHE_KEY_SLOT 31u

bool pymt__tcache_init(void) {
    pthread_key_t held[TCACHE_KEY_SLOT + 1];
    unsigned n = 0;
    while (n <= TCACHE_KEY_SLOT && pthread_key_create(&held[n], tcache_destructor) == 0)
        if (held[n++] >= TCACHE_KEY_SLOT)
            break;
    if (n == 0)
        return false;
    tcache_key = held[n - 1]; /* the highest: each create took the lowest slot still free */
    while (--n > 0)
        pthread_key_delete(held[n - 1]);
    return true;
}

/* Is tc on the registry? (core lock held; for the assertion in tcache_setup) */
static bool registry_holds_locked(const pymt__tcache *tc) {
    for (const pymt__tcache *o = registry; o != NULL; o = o->next)
        if (o == tc)
            return true;
    return false;
}

static void tcache_setup(pymt__tcache *tc) {
    tc->state = PYMT__TC_SETUP;
    if (!pymt__opt.tcache || pymt__opt.debug || !pymt__opt.pooling) {
        tc->state = PYMT__TC_OFF;
        return;
    }
    /* may allocate (keys past the first 32 get a second-level array): such calls see SETUP
     * and are served by the pools directly */
    if (pthread_setspecific(tcache_key, tc) != 0) {
        tc->state = PYMT__TC_OFF;
        return;
    }
    pymt__core_lock();
    /* a node registered twice would make the list a cycle: stats and fork would spin on it */
    pymt__assert(!registry_holds_locked(tc));
    tc->prev = NULL;
    tc->next = registry;
    if (registry)
        registry->prev = tc;
    registry = tc;
    registry_n++;
    pymt__core_unlock();
    for (unsigned c = 0; c < PYMT__NCLASSES; c++)
        tc->bins[c].max = TCACHE_MAX_START < class_max(c) ? TCACHE_MAX_START : class_max(c);
    tc->state = PYMT__TC_ACTIVE;
}

pymt__tcache *pymt__tcache_active(void) {
    pymt__tcache *tc = &pymt__tc;
    if (tc->state == PYMT__TC_NEW)
        tcache_setup(tc);
    return tc->state == PYMT__TC_ACTIVE ? tc : NULL;
}

void *pymt__tcache_alloc_slow(size_t n) {
    unsigned c = pymt__size_to_class(n);
    pymt__ensure_init();
    if (pymt__unlikely(pymt__opt.debug))
        return pymt__debug_malloc(PYMT__FAM_OBJMEM, n, false);
    if (pymt__unlikely(!pymt__opt.pooling))
        return pymt__sys_malloc(n);
    pymt__tcache *tc = &pymt__tc;
    if (tc->state == PYMT__TC_NEW)
        tcache_setup(tc);
    if (tc->state != PYMT__TC_ACTIVE) {
        void *p = pymt__pool_alloc_one(c);
        if (p != NULL)
            PYMT_TRACK_ALLOC(p, n);
        return p;
    }
    pymt__tbin *b = &tc->bins[c];
    size_t got;
    void *chain = spare_take(tc, c, &got);
    if (chain == NULL) {
        /* a refill: a class this thread keeps coming back for earns a bigger bin, up to its
         * bound; a batch from the depot, else a full bin from the pools */
        if (b->max < class_max(c))
            b->max = 2 * b->max < class_max(c) ? 2 * b->max : class_max(c);
        chain = pymt__depot_take(c, &got);
        if (chain != NULL) {
            bump(&tc->adopted);
        } else {
            pymt__core_lock();
            /* up to 2*max: a pool's whole free list rather than a walk of part of it */
            chain = pymt__pool_take_locked(c, b->max, 2 * (size_t)b->max, &got);
            pymt__core_unlock();
            if (chain == NULL)
                return NULL; /* errno ENOMEM set by the pool core */
        }
        bump(&tc->refills);
    }
    b->head = pymt__blk_get(chain, 0);
    pymt__store_relaxed(&b->count, (uint32_t)(got - 1));
    PYMT_TRACK_ALLOC(chain, n);
    return chain;
}

void pymt__tcache_free_slow(void *p) {
    if (pymt__unlikely(pymt__opt.debug)) {
        pymt__debug_free(PYMT__FAM_OBJMEM, p);
        return;
    }
    unsigned c = pymt__block_class(p);
    pymt__tcache *tc = &pymt__tc;
    if (tc->state == PYMT__TC_NEW)
        tcache_setup(tc);
    if (tc->state != PYMT__TC_ACTIVE) {
        PYMT_TRACK_FREE(p, pymt__class_to_size(c));
        pymt__pool_free_one(p);
        return;
    }
    pymt__tbin *b = &tc->bins[c];
    uint32_t count = pymt__load_relaxed(&b->count);
    if (count >= b->max && b->max < class_max(c)) {
        /* a thread that keeps freeing this class (a consumer) earns a bigger bin too, so its
         * batches to the depot grow with it (8 blocks a batch made producer/consumer pay one
         * CAS per 8 frees) */
        b->max = 2 * b->max < class_max(c) ? 2 * b->max : class_max(c);
    }
    if (count >= b->max) {
        size_t n;
        void *full = bin_take_all(b, &n);
        if (tc->spare[c] == NULL) {
            /* the full bin becomes the spare */
            tc->spare[c] = full;
            pymt__store_relaxed(&tc->spare_count[c], (uint32_t)n);
        } else {
            /* both full: the bin leaves the thread, while its blocks are still in cache (the
             * pools walk the chain it is given; the spare's blocks are colder) */
            bump(&tc->flushes);
            give_away(tc, c, full, n, depot_limit(c));
        }
    }
    pymt__tcache_free(p, c);
}

void pymt__tcache_flush_self(void) {
    pymt__tcache *tc = &pymt__tc;
    if (tc->state != PYMT__TC_ACTIVE)
        return;
    pymt__large_release_all(tc);
    pymt__arena *retire = NULL;
    bool locked = false;
    for (unsigned c = 0; c < 2 * PYMT__NCLASSES; c++) {
        size_t n;
        unsigned k = c % PYMT__NCLASSES;
        void *chain = c < PYMT__NCLASSES ? bin_take_all(&tc->bins[k], &n) : spare_take(tc, k, &n);
        if (chain == NULL)
            continue;
        if (!locked) {
            pymt__core_lock();
            locked = true;
        }
        bump(&tc->flushes);
        pymt__pool_give_locked(chain, &retire);
    }
    if (locked)
        pymt__core_unlock();
    pymt__pool_retire_list(retire);
}

void pymt__tcache_counts_locked(size_t cached[PYMT__NCLASSES], size_t *threads, size_t *large,
                                size_t *large_cached_bytes) {
    intptr_t big = pymt__load_relaxed(&pymt__large_global);
    size_t kept = 0;
    for (unsigned c = 0; c < PYMT__NCLASSES; c++)
        cached[c] = 0;
    for (pymt__tcache *tc = registry; tc != NULL; tc = tc->next) {
        for (unsigned c = 0; c < PYMT__NCLASSES; c++)
            cached[c] += pymt__load_relaxed(&tc->bins[c].count) +
                         pymt__load_relaxed(&tc->spare_count[c]);
        big += pymt__load_relaxed(&tc->large_delta);
        kept += pymt__load_relaxed(&tc->large_bytes);
    }
    *large_cached_bytes = kept;
    *threads = registry_n;
    *large = big > 0 ? (size_t)big : 0;
}

void pymt__tcache_counters_locked(size_t *refills, size_t *flushes, size_t *published,
                                  size_t *adopted) {
    size_t r = gone_refills, f = gone_flushes, p = gone_published, a = gone_adopted;
    for (pymt__tcache *tc = registry; tc != NULL; tc = tc->next) {
        r += pymt__load_relaxed(&tc->refills);
        f += pymt__load_relaxed(&tc->flushes);
        p += pymt__load_relaxed(&tc->published);
        a += pymt__load_relaxed(&tc->adopted);
    }
    *refills = r;
    *flushes = f;
    *published = p;
    *adopted = a;
}

void pymt__tcache_atfork_child_locked(void) {
    /* the other threads are gone in the child; their cached blocks are lost with them */
    pymt__tcache *tc = &pymt__tc;
    /* their large-block counts still describe live blocks of this address space */
    for (pymt__tcache *o = registry; o != NULL; o = o->next) {
        if (o == tc)
            continue;
        pymt__fetch_add_relaxed(&pymt__large_global, pymt__load_relaxed(&o->large_delta));
        gone_refills += pymt__load_relaxed(&o->refills);
        gone_flushes += pymt__load_relaxed(&o->flushes);
        gone_published += pymt__load_relaxed(&o->published);
        gone_adopted += pymt__load_relaxed(&o->adopted);
    }
    if (tc->state == PYMT__TC_ACTIVE) {
        tc->next = tc->prev = NULL;
        registry = tc;
        registry_n = 1;
    } else {
        registry = NULL;
        registry_n = 0;
    }
}

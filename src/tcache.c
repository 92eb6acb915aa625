/* tcache.c: the per-thread caches behind tcache.h: set-up, refill and flush in batches, the
 * thread-exit destructor, pymt_thread_flush, and the registry that stats walk.
 *
 * A cache is the thread's bins, in TLS (pymt__tc: what the inline fast paths touch), and a
 * record with the rest (pymt__tcache), taken from records.c's pool of records under the global
 * lock at the thread's first slow path and given back by its exit destructor; before set-up and
 * after exit pymt__tc.tc names a read-only stand-in whose state says so (types.h says why the
 * cache is cut in two).
 *
 * Per class c a thread keeps two magazines (Bonwick's magazine layer): the bin the fast path
 * pops and pushes, and a spare. Each holds at most max(c) blocks, max = clamp(8 KiB / size, 16,
 * 256) for the small classes (16 B -> 256 blocks, 32 B -> 256, 64 B -> 128, ..., 512 B -> 16),
 * so 512 KiB per thread over all 32 of them, and about 64 KiB of its class, at least one
 * block, for a medium class (640 B -> 102 blocks, 16 KiB -> 4, 64 KiB and up -> 1: a thread does
 * not pin magazines of 256 KiB blocks). A refill from the pools may return up to 2*max blocks
 * when that lets the core splice a pool's whole free list instead of walking it block by block
 * (above 16 B a whole pool is two bins' worth at most, or one block more), so a thread can hold
 * up to twice that. A bin starts at bound 0, and its class's first slow path gives it start_max
 * (16, or less when the share is small), doubled at every refill (and every overflow) until it
 * reaches max(c), so a thread that touches a class a few times holds little and one that never
 * touches it is charged nothing for it.
 *   push onto a full bin: the bin becomes the spare (O(1)); when there is a spare already, the
 *     full bin itself is sent away whole: to the lock-free depot of its blocks' core while
 *     that depot holds fewer than 4*max blocks of the class over the cores (2*max at least),
 *     else to the pools under one lock acquisition. The bin
 *     rather than the spare, because its blocks were freed last and are still in the CPU cache
 *     when the pools walk the chain;
 *   pop from an empty bin: the spare becomes the bin (O(1), no lock); without a spare, a batch
 *     is adopted from the depot of the thread's core (depot.c), else a batch is taken from the
 *     pools under one core-lock acquisition.
 * A thread swinging between allocating and freeing up to two bins' worth never leaves its own
 * cache, and no path walks a chain to split it. Blocks freed by another thread than the one
 * that allocated them need nothing special: a free block is a free block of its class, it goes
 * into the freeing thread's bin, and batches find their way back through the depot.
 * Footprint: what all caches hold together is bounded by a budget, each live cache keeping to
 *   its share of it; tcache_budget.c has the rules (charges, reservations, the share, trimmers).
 * Exit: the pthread key destructor gives every bin and spare back to the pools, one lock
 * acquisition per core concerned and per medium class concerned (so an exiting thread pins no
 * arena through the depot), unregisters, gives its record back, and marks the cache DEAD, so
 * frees that happen later in the thread's teardown go straight to the
 * pools. When the live caches have halved since the last time, it also drains the depot into
 * the pools: blocks a shrinking thread pool left there would otherwise keep their arenas
 * mapped. The key sits in a slot above the keys created after pymt's init (pymt__tcache_init
 * says why), so its destructor also runs for a cache set up by another key's destructor in the
 * last round. The registry of live caches is a list under the global lock
 * (pymt__global_lock, which pymt__core_lock includes; a refill or flush takes it only when
 * short of budget, to trim others), walked by stats, the trimmers and the fork child; only a
 * cache whose destructor will run may be on it.
 * Only the pools backend with thread caches (backend_pools.c) calls refill and overflow; in
 * every other mode the bins stay at max 0 and empty, and nothing here runs.
 *
 * Hardened mode (the hardened backend, harden.h): the bins stay empty with max 0 here too, and
 * each class has one magazine of its own instead (hmag[c], in the spare's words), up to twice
 * its bound hmag_max[c] (which starts and grows as a bin's does), as chains whose links are
 * encoded and whose blocks carry the free marker. harden_malloc pops and checks the link it
 * follows (a block start of the class in one of pymt's arenas, and the chain ends exactly when
 * the count does) and the marker of the block it hands out, then clears both words.
 * harden_free checks that p is a block start and not already free (its marker), and stops the
 * program with a report saying where the block already is (this thread's cache, its pool's
 * free list, or elsewhere). A full magazine sends its newest hmag_max blocks away whole, like a
 * full bin (depot, else pools), walking (and checking) them to cut the chain; an empty one
 * takes a depot batch, else a batch from the pools. Thread exit and pymt_thread_flush give the
 * magazine away as they give a spare. The magazines start from the same share-fitting bound as
 * the bins, but the sweep, the share's give-back (visit), the charges and the trimmers do not
 * run for them (the magazines occupy the spares' words and are used without trim_lock): a
 * hardened thread's cache is bounded by its magazines' bounds alone, outside the budget. */
#include "tcache_own.h"

#include <pthread.h>

#include "records.h"

PYMT__TLS pymt__tcache_tls pymt__tc;

/* The records of the live caches (global lock), and the read-only stand-ins a thread's
 * pymt__tc.tc points to when it has no record: never written, all their magazines empty with
 * bound 0, so every path that finds one takes its state's way. */
static pymt__records records = PYMT__RECORDS_INIT(sizeof(pymt__tcache));
pymt__tcache pymt__tc_new = {.state = PYMT__TC_NEW};
static pymt__tcache tc_setting_up = {.state = PYMT__TC_SETUP},
                    tc_off = {.state = PYMT__TC_OFF}, tc_dead = {.state = PYMT__TC_DEAD};

_Atomic intptr_t pymt__large_global;

static pthread_key_t tcache_key;
pymt__tc_registry pymt__tc_reg;
static size_t drain_mark; /* live caches at the last depot drain, or most since (global lock) */

enum {
    TCACHE_CLASS_BYTES = 8192,   /* a small class's magazine holds about this many bytes */
    TCACHE_MAX_MIN = 16,         /* ... but never fewer blocks than this */
    TCACHE_MAX_MAX = 256,        /* ... nor more (any class) */
    TCACHE_MEDIUM_BYTES = 65536, /* a medium class's magazine holds about this many bytes */
    TCACHE_MEDIUM_MIN = 1,       /* ... but never fewer blocks than this */
    TCACHE_MAX_START = 16,       /* a bin starts here and doubles at each refill up to class_max */
    TCACHE_MEDIUM_START = 2      /* ... a medium class's bin here */
};

uint16_t pymt__tc_max_table[PYMT__NBINS];
_Static_assert(TCACHE_MAX_MAX <= PYMT__TC_ORDER_MAX, "a bin at its bound can be put in order");

/* Fill pymt__tc_max_table (init, before any cache exists): each slow path reads a class's bound
 * several times, and the rule has a division. */
static void class_max_fill(void) {
    for (unsigned c = 0; c < PYMT__NBINS; c++) {
        bool medium = pymt__is_medium(c);
        size_t m = (medium ? TCACHE_MEDIUM_BYTES : TCACHE_CLASS_BYTES) / pymt__class_to_size(c);
        size_t least = medium ? TCACHE_MEDIUM_MIN : TCACHE_MAX_MIN;
        if (m < least)
            m = least;
        if (m > TCACHE_MAX_MAX)
            m = TCACHE_MAX_MAX;
        pymt__tc_max_table[c] = (uint16_t)m;
    }
}
/* What one core's depot may hold of class c: four magazines over all cores (the medium
 * classes' one depot: four), but at least two in each. */
static size_t depot_limit(unsigned c) {
    size_t max = pymt__tc_class_max(c), cores = pymt__is_medium(c) ? 1 : pymt__pool_cores();
    size_t limit = 4 * max / cores;
    return limit > 2 * max ? limit : 2 * max;
}

/* Send a chain of n blocks of class c away: depot if it has room under limit, else the pools. */
static void give_away(pymt__tcache *tc, unsigned c, void *chain, size_t n, size_t limit) {
    if (pymt__depot_push(c, chain, n, limit)) {
        pymt__tc_bump(&tc->published);
        return;
    }
    pymt__block_give(c, chain);
}

static void tcache_destructor(void *arg) {
    pymt__tcache *tc = arg;
    void *chains[2 * PYMT__NBINS];
    unsigned nchains = 0;
    pymt__tc_slow_lock(tc); /* a trimmer may be at the spares */
    for (unsigned c = 0; c < PYMT__NBINS; c++) {
        size_t n[2];
        void *chain[2];
        chain[0] = pymt__tc_bin_take_all(&tc->bins[c], &n[0]);
        chain[1] = pymt__tc_spare_take(tc, c, &n[1]);
        pymt__tbin_set_max(&tc->bins[c], 0);
        tc->hmag_max[c] = 0;
        for (unsigned k = 0; k < 2; k++)
            if (chain[k] != NULL) /* in address order for the pools' free lists, as at an overflow */
                chains[nchains++] = pymt__tc_chain_order(chain[k], n[k], pymt__class_to_size(c));
    }
    pymt__large_release_all(&tc->large);
    tc->state = PYMT__TC_DEAD;
    pymt__tc.tc = &tc_dead; /* frees later in the thread's teardown go to the pools */
    pymt__tc_uncharge_all(tc);
    pymt__tc_slow_unlock(tc);
    pymt__global_lock();
    /* each core and medium class concerned locked once, under the global lock that stats hold
     * while they sum */
    pymt__block_give_chains(chains, nchains);
    pymt__tc_reg.gone_refills += pymt__load_relaxed(&tc->refills);
    pymt__tc_reg.gone_flushes += pymt__load_relaxed(&tc->flushes) + nchains;
    pymt__tc_reg.gone_published += pymt__load_relaxed(&tc->published);
    pymt__tc_reg.gone_adopted += pymt__load_relaxed(&tc->adopted);
    /* folded under the lock that stats hold while they sum, so no block is counted twice */
    pymt__fetch_add_relaxed(&pymt__large_global, pymt__load_relaxed(&tc->large_delta));
    pymt__store_relaxed(&tc->large_delta, 0);
    if (pymt__tc_reg.trim_next == tc)
        pymt__tc_reg.trim_next = tc->next;
    if (tc->prev)
        tc->prev->next = tc->next;
    else
        pymt__tc_reg.head = tc->next;
    if (tc->next)
        tc->next->prev = tc->prev;
    pymt__tc_reg.n--;
    pymt__tc_set_live(pymt__tc_reg.n);
    bool drain = 2 * pymt__tc_reg.n <= drain_mark;
    if (drain)
        drain_mark = pymt__tc_reg.n;
    /* off the registry, so no trimmer or reader of stats can reach the record any more */
    pymt__records_free(&records, tc);
    pymt__global_unlock();
    pymt__pool_thread_gone();
    if (drain)
        pymt__depot_drain();
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

bool pymt__tcache_init(size_t budget_bytes, bool grows) {
    pymt__tc_budget_init(budget_bytes, grows);
    class_max_fill();
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

/* Is tc on the registry? (global lock held; for the assertion in tcache_setup) */
static bool registry_holds_locked(const pymt__tcache *tc) {
    for (const pymt__tcache *o = pymt__tc_reg.head; o != NULL; o = o->next)
        if (o == tc)
            return true;
    return false;
}

/* The bound a bin starts from: TCACHE_MAX_START, or less when the share is small: three
 * magazines' worth (a spliced refill may hold two) of every class within the share, never
 * below one block. */
uint32_t pymt__tc_start_max(unsigned c) {
    size_t fit = pymt__tcache_share() / (3 * (size_t)PYMT__NBINS * pymt__class_to_size(c));
    size_t start = pymt__is_medium(c) ? TCACHE_MEDIUM_START : TCACHE_MAX_START;
    size_t m = start < pymt__tc_class_max(c) ? start : pymt__tc_class_max(c);
    if (fit < m)
        m = fit ? fit : 1;
    return (uint32_t)m;
}

/* Send a bin's or spare's chain of n blocks of class c away (depot, else pools); returns the
 * bytes it held. */
size_t pymt__tc_chain_give_back(pymt__tcache *tc, unsigned c, void *chain, size_t n) {
    if (chain == NULL)
        return 0;
    pymt__tc_bump(&tc->flushes);
    give_away(tc, c, chain, n, depot_limit(c));
    return n * pymt__class_to_size(c);
}

/* Set the calling thread's cache up: its record, the key whose destructor gives it back, its
 * place on the registry. Returns the record, or the stand-in for a thread that does not cache
 * (no memory for a record, no key slot). */
pymt__tcache *pymt__tc_setup(void) {
    /* pthread_setspecific may allocate (keys past the first 32 get a second-level array):
     * such calls see SETUP and are served by the pools directly */
    pymt__tc.tc = &tc_setting_up;
    pymt__global_lock();
    pymt__tcache *tc = pymt__records_alloc(&records);
    pymt__global_unlock();
    if (tc != NULL && pthread_setspecific(tcache_key, tc) != 0) {
        pymt__global_lock();
        pymt__records_free(&records, tc);
        pymt__global_unlock();
        tc = NULL;
    }
    if (tc == NULL) {
        pymt__tc.tc = &tc_off;
        return &tc_off;
    }
    tc->bins = pymt__tc.bins;
    pymt__global_lock();
    /* a node registered twice would make the list a cycle: stats and fork would spin on it */
    pymt__assert(!registry_holds_locked(tc));
    tc->prev = NULL;
    tc->next = pymt__tc_reg.head;
    if (pymt__tc_reg.head)
        pymt__tc_reg.head->prev = tc;
    pymt__tc_reg.head = tc;
    pymt__tc_reg.n++;
    pymt__tc_set_live(pymt__tc_reg.n);
    if (pymt__tc_reg.n > drain_mark)
        drain_mark = pymt__tc_reg.n;
    pymt__global_unlock();
    /* A bin starts at bound 0, charged nothing: its class's first slow-path visit gives it
     * start_max. Hardened: the fast path's bins keep max 0 and always miss, and the
     * magazines start at start_max outside the budget. */
    if (pymt__hardened)
        for (unsigned c = 0; c < PYMT__NBINS; c++)
            tc->hmag_max[c] = (uint16_t)pymt__tc_start_max(c);
    tc->state = PYMT__TC_ACTIVE;
    pymt__tc.tc = tc;
    pymt__pool_thread_join(); /* uncounted by the destructor */
    return tc;
}

pymt__large_cache *pymt__tcache_large_cache(void) {
    pymt__tcache *tc = pymt__tc_self();
    if (tc->state == PYMT__TC_NEW)
        tc = pymt__tc_setup();
    return tc->state == PYMT__TC_ACTIVE ? &tc->large : NULL;
}

void *pymt__tcache_refill(size_t n) {
    unsigned c = pymt__size_class(n);
    pymt__tcache *tc = pymt__tc_self();
    if (tc->state == PYMT__TC_NEW)
        tc = pymt__tc_setup();
    if (tc->state != PYMT__TC_ACTIVE) {
        void *p = pymt__block_alloc_one(c);
        if (p != NULL)
            PYMT_TRACK_ALLOC(p, n);
        return p;
    }
    pymt__tbin *b = &tc->bins[c];
    pymt__tc_slow_lock(tc);
    if (tc->trim_asked)
        pymt__tc_keep_share(tc, c);
    size_t got;
    void *chain = pymt__tc_spare_take_charged(tc, c, &got);
    if (chain != NULL) {
        /* within the charge: the spare's blocks were charged, one is handed out */
        if (got - 1 > tc->bin_charge[c])
            (void)pymt__tc_bin_charge_set(tc, c, got - 1);
    } else {
        /* a refill: the empty bin is charged for its bound alone; a class this thread keeps
         * coming back for earns a bigger bin, up to its bound; a batch from the depot, else
         * a batch from the pools, of which the bin keeps what the budget has room for */
        (void)pymt__tc_bin_charge_set(tc, c, pymt__tbin_max(b));
        pymt__tc_bin_grow(tc, c);
        pymt__tc_visit(tc, c);
        chain = pymt__depot_take(c, &got);
        if (chain != NULL) {
            pymt__tc_bump(&tc->adopted);
        } else {
            /* up to 2*max: a pool's whole free list rather than a walk of part of it; one
             * block when the bin has no room at all */
            uint32_t max = pymt__tbin_max(b);
            size_t want = max ? max : 1;
            chain = pymt__block_take(c, want, max ? 2 * want : 1, &got);
            if (chain == NULL) {
                pymt__tc_slow_unlock(tc);
                return NULL; /* errno ENOMEM set by the pool core */
            }
        }
        pymt__tc_bump(&tc->refills);
        got = pymt__tc_batch_fit(tc, c, chain, got);
    }
    pymt__tc_slow_unlock(tc);
    b->head = pymt__blk_get(chain, 0);
    pymt__tbin_set_count(b, (uint32_t)(got - 1));
    PYMT_TRACK_ALLOC(chain, n);
    return chain;
}

/* The calling thread's cache for a free of p (class c), set up on first use; NULL when the
 * thread cannot cache, and then p has gone straight to its pool. */
pymt__tcache *pymt__tc_cache_for_free(void *p, unsigned c) {
    pymt__tcache *tc = pymt__tc_self();
    if (tc->state == PYMT__TC_NEW)
        tc = pymt__tc_setup();
    if (tc->state == PYMT__TC_ACTIVE)
        return tc;
    PYMT_TRACK_FREE(p, pymt__class_to_size(c));
    pymt__block_free_one(p);
    return NULL;
}

void pymt__tcache_overflow(void *p) {
    unsigned c = pymt__block_class(p);
    pymt__tcache *tc = pymt__tc_cache_for_free(p, c);
    if (tc == NULL)
        return;
    pymt__tbin *b = &tc->bins[c];
    pymt__tc_slow_lock(tc);
    if (tc->trim_asked)
        pymt__tc_keep_share(tc, c);
    pymt__tc_visit(tc, c); /* may empty the bin */
    uint32_t count = pymt__tbin_count(b);
    if (count >= pymt__tbin_max(b))
        /* a thread that keeps freeing this class (a consumer) earns a bigger bin too, so its
         * batches to the depot grow with it */
        pymt__tc_bin_grow(tc, c);
    if (count >= pymt__tbin_max(b) && count != 0) {
        size_t n;
        void *full = pymt__tc_bin_take_all(b, &n);
        (void)pymt__tc_bin_charge_set(tc, c, pymt__tbin_max(b)); /* empty: charged for its bound alone */
        if (tc->spare[c] == NULL && pymt__tc_charge_more(tc, n * pymt__class_to_size(c))) {
            /* the full bin becomes the spare */
            tc->spare[c] = full;
            pymt__store_relaxed(&tc->spare_count[c], (uint32_t)n);
        } else {
            /* both full (or no room in the budget for a spare): the bin leaves the thread,
             * while its blocks are still in the CPU cache (the pools walk the chain they are
             * given; the spare's blocks are colder), in address order for whoever adopts it */
            full = pymt__tc_chain_order(full, n, pymt__class_to_size(c));
            (void)pymt__tc_chain_give_back(tc, c, full, n);
        }
    }
    pymt__tc_slow_unlock(tc);
    if (pymt__tbin_max(b) == 0) {
        /* the budget has no room for one block of this class: p goes to its pool */
        PYMT_TRACK_FREE(p, pymt__class_to_size(c));
        pymt__block_free_one(p);
        return;
    }
    bool pushed = pymt__tcache_push(p, c);
    pymt__assert(pushed);
    (void)pushed;
}

void pymt__tcache_flush_self(void) {
    pymt__tcache *tc = pymt__tc_self();
    if (tc->state != PYMT__TC_ACTIVE)
        return;
    pymt__large_release_all(&tc->large);
    void *chains[2 * PYMT__NBINS];
    unsigned nchains = 0;
    pymt__tc_slow_lock(tc); /* before any core lock, as in every slow path */
    for (unsigned c = 0; c < 2 * PYMT__NBINS; c++) {
        size_t n;
        unsigned k = c % PYMT__NBINS;
        void *chain = c < PYMT__NBINS ? pymt__tc_bin_take_all(&tc->bins[k], &n) : pymt__tc_spare_take(tc, k, &n);
        if (chain == NULL)
            continue;
        pymt__tc_bump(&tc->flushes);
        chains[nchains++] = pymt__tc_chain_order(chain, n, pymt__class_to_size(k));
    }
    pymt__block_give_chains(chains, nchains); /* each core and class concerned locked once */
    /* the bins start again from 0, charged nothing (hardened: the magazines keep their
     * bounds, which the budget does not count) */
    for (unsigned c = 0; c < PYMT__NBINS; c++)
        pymt__tbin_set_max(&tc->bins[c], 0);
    pymt__tc_uncharge_all(tc);
    pymt__tc_slow_unlock(tc);
}

void pymt__tcache_atfork_child_locked(void) {
    /* the other threads are gone in the child; their cached blocks are lost with them */
    pymt__tcache *tc = pymt__tc_self();
    /* their large-block counts still describe live blocks of this address space; their
     * records go back */
    for (pymt__tcache *o = pymt__tc_reg.head, *next; o != NULL; o = next) {
        next = o->next;
        if (o == tc)
            continue;
        pymt__fetch_add_relaxed(&pymt__large_global, pymt__load_relaxed(&o->large_delta));
        pymt__tc_reg.gone_refills += pymt__load_relaxed(&o->refills);
        pymt__tc_reg.gone_flushes += pymt__load_relaxed(&o->flushes);
        pymt__tc_reg.gone_published += pymt__load_relaxed(&o->published);
        pymt__tc_reg.gone_adopted += pymt__load_relaxed(&o->adopted);
        pymt__records_free(&records, o);
    }
    if (tc->state == PYMT__TC_ACTIVE) {
        tc->next = tc->prev = NULL;
        pymt__tc_reg.head = tc;
        pymt__tc_reg.n = 1;
    } else {
        pymt__tc_reg.head = NULL;
        pymt__tc_reg.n = 0;
    }
    pymt__tc_reg.trim_next = NULL;
    /* the shares are the budget over the child's caches, not the parent's */
    pymt__tc_set_live(pymt__tc_reg.n);
    drain_mark = pymt__tc_reg.n;
    /* the budget now holds this thread's reservation alone */
    pymt__tc_budget_atfork_child(tc->state == PYMT__TC_ACTIVE ? tc->reserved : 0);
}

bool pymt__tcache_records_check(void) {
    pymt__global_lock();
    bool ok = pymt__records_check(&records) && records.live >= pymt__tc_reg.n;
    pymt__global_unlock();
    return ok;
}

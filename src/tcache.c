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
 * so 512 KiB per thread over all 32 of them, and about 64 KiB of its class, at least 4 blocks,
 * for a medium class (640 B -> 102 blocks, 16 KiB -> 4). A refill from the pools may return up to 2*max blocks when that
 * lets the core splice a pool's whole free list instead of walking it block by block (above
 * 16 B a whole pool is two bins' worth at most, or one block more), so a thread can hold up
 * to twice that. A bin starts at bound 0, and its class's first slow path gives it start_max
 * (16, or less when the share is small), doubled at every refill (and every overflow) until it
 * reaches max(c), so a thread that touches a class a few times holds little and one that never
 * touches it is charged nothing for it.
 *   push onto a full bin: the bin becomes the spare (O(1)); when there is a spare already, the
 *     full bin itself is sent away whole: to the lock-free depot while the depot holds fewer
 *     than 4*max blocks of the class, else to the pools under one lock acquisition. The bin
 *     rather than the spare, because its blocks were freed last and are still in the CPU cache
 *     when the pools walk the chain;
 *   pop from an empty bin: the spare becomes the bin (O(1), no lock); without a spare, a batch
 *     is adopted from the depot (depot.c), else a batch is taken from the pools under one
 *     core-lock acquisition.
 * A thread swinging between allocating and freeing up to two bins' worth never leaves its own
 * cache, and no path walks a chain to split it. Blocks freed by another thread than the one
 * that allocated them need nothing special: a free block is a free block of its class, it goes
 * into the freeing thread's bin, and batches find their way back through the depot.
 * Footprint: what all caches hold together is bounded by a budget (PYMT_TCACHE_BYTES,
 * pymt_set_tcache_budget; the default one grows with the heap: pymt__tcache_budget_now), and
 * each live cache has a share of it, the budget over the live caches (never less than
 * SHARE_MIN, so the shares may add up to more than the budget).
 *   The bound. A cache charges, on its slow paths only, each bin for max(its bound, what it
 *     held after its last slow path) blocks (the fast path pushes only below the bound and
 *     pops only shrink it, so a bin never holds more than its charge) and each spare for its
 *     blocks. The charge is covered by the cache's reservation, taken by compare-and-swap from
 *     reserved_total, the one shared count of all reservations, which therefore never passes
 *     the budget: held <= charged <= reserved, per cache, and the sum of the reservations <=
 *     the budget, at every moment (a budget lowered below the sum is reached as the caches
 *     give back). A cache reserves up to reserve_slack() beyond its charge, so a bin swinging
 *     to its spare and back does not come to the shared count, and releases what it reserves
 *     beyond twice the slack at its visits. "Never exceeded by more than one batch", for
 *     readers: the statistics add the bins and spares up one by one while owners move
 *     magazines between them, so a reading taken while threads run may count a magazine twice:
 *     it passes the budget by at most one batch (a magazine, under 16 KiB) per slow path that
 *     runs during the reading; a reading with the threads still sees the bound exactly.
 *   No room. A refill or overflow the budget has no room for first gives back the thread's
 *     own excess over its share (keep_share); a thread within its share then has up to
 *     TRIM_LOOK caches over theirs trimmed (below); then it keeps what fits: a refill hands
 *     out one block and caches as many of the batch as are covered, possibly none (the rest
 *     goes where a full bin goes), an overflow sends the bin away instead of making it the
 *     spare, and a free into a bin of bound 0 goes to its pool.
 *   The share. At its slow-path visits a thread keeps within its share: a bin grows only while
 *     the thread's charge fits its share, and a thread over its share gives back whole
 *     classes, the largest blocks first (the bins of their classes drop to bound 0). An
 *     incremental sweep, one class every SWEEP_EVERY visits, gives back whatever a class holds
 *     when that class has had no slow-path visit for SWEEP_AGE visits: a thread that moves on
 *     from a size keeps nothing of it. Both send blocks where a full bin goes.
 *   Idle caches. A cache's bins are its owner's alone: the fast path uses them without any
 *     synchronisation, so no other thread may touch them. Its spares, charges and reservation
 *     are used only on slow paths, under trim_lock, which the owner takes around each of its
 *     slow paths (refill, overflow, flush, exit; an uncontended exchange) and a trimmer tries
 *     (never waits for) under the global lock, which guards the registry it walks. A trimmer
 *     takes the spares of a cache over its share, releases its reservation beyond its charge,
 *     sets trim_asked, on which the owner keeps to its share at its next slow path, drops the
 *     cache's trim_lock and gives the spares to their pools' cores. Trimmers:
 *     pymt_set_tcache_budget (every cache over its new share, at once), and a thread short of
 *     budget (above). So an idle cache over its share loses its spares without a call of its
 *     own, and the rest of its excess at its next slow path. Lock order: a thread's own
 *     trim_lock, then the global lock, then a core's; a trimmer holds the global lock and only
 *     tries trim_locks, and no core lock is held while a trim_lock is tried: no cycle.
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

#include <errno.h>
#include <pthread.h>
#include <sched.h>

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

#define SHARE_MIN ((size_t)16 << 10) /* a thread's share is never below this */

static pthread_key_t tcache_key;
static pymt__tcache *registry;   /* live caches (global lock) */
static size_t registry_n;        /* their number (global lock) */
static size_t drain_mark;        /* live caches at the last depot drain, or most since
                                    (global lock) */
static _Atomic size_t live_caches; /* registry_n, for the shares (written under the global lock) */
static _Atomic size_t budget;    /* all caches together; pymt_set_tcache_budget */
static _Atomic bool budget_grows; /* the default budget, never set: it grows with the heap */
/* The live caches' reservations (owners, trimmers): compare-and-swapped by every thread's slow
 * paths, so on a cache line of its own, away from the read-mostly words above, which every
 * slow path reads (a share is budget / live_caches). */
static struct {
    _Atomic size_t n;
    char pad[64 - sizeof(size_t)];
} reserved_total __attribute__((aligned(64)));
static pymt__tcache *trim_next;  /* where the next search for room starts (global lock) */
static size_t trim_locked(pymt__tcache *tc, size_t share);
/* counts of exited threads, and flushes by trimmers (global lock) */
static size_t gone_refills, gone_flushes, gone_published, gone_adopted;


/* The owner's side of trim_lock: held through each slow path that touches the spares or the
 * charges. A trimmer holds it for the time it takes to give a cache's spares to the pools. */
static void slow_lock(pymt__tcache *tc) {
    while (pymt__exchange_acquire(&tc->trim_lock, 1) != 0)
        while (pymt__load_relaxed(&tc->trim_lock) != 0)
            sched_yield();
}

static void slow_unlock(pymt__tcache *tc) {
    pymt__store_release(&tc->trim_lock, 0); /* pairs with the exchange in slow_lock/trim_locked */
}

enum {
    SWEEP_EVERY = 8,             /* slow-path visits between two steps of the sweep */
    SWEEP_AGE = 512,             /* visits without one of a class before the sweep empties it */
    TCACHE_CLASS_BYTES = 8192,   /* a small class's magazine holds about this many bytes */
    TCACHE_MAX_MIN = 16,         /* ... but never fewer blocks than this */
    TCACHE_MAX_MAX = 256,        /* ... nor more (any class) */
    TCACHE_MEDIUM_BYTES = 65536, /* a medium class's magazine holds about this many bytes */
    TCACHE_MEDIUM_MIN = 4,       /* ... but never fewer blocks than this */
    TCACHE_MAX_START = 16,       /* a bin starts here and doubles at each refill up to class_max */
    TCACHE_MEDIUM_START = 2,     /* ... a medium class's bin here */
    TRIM_LOOK = 8                /* caches a thread short of budget looks at, at most */
};

uint32_t pymt__tc_class_max(unsigned c) {
    bool medium = pymt__is_medium(c);
    size_t m = (medium ? TCACHE_MEDIUM_BYTES : TCACHE_CLASS_BYTES) / pymt__class_to_size(c);
    size_t least = medium ? TCACHE_MEDIUM_MIN : TCACHE_MAX_MIN;
    if (m < least)
        m = least;
    if (m > TCACHE_MAX_MAX)
        m = TCACHE_MAX_MAX;
    return (uint32_t)m;
}
static size_t depot_limit(unsigned c) {
    return 4 * (size_t)pymt__tc_class_max(c);
}

/* Send a chain of n blocks of class c away: depot if it has room under limit, else the pools. */
static void give_away(pymt__tcache *tc, unsigned c, void *chain, size_t n, size_t limit) {
    if (pymt__depot_push(c, chain, n, limit)) {
        pymt__tc_bump(&tc->published);
        return;
    }
    pymt__block_give(c, chain);
}

/* Empty bin c completely; returns the chain and its length. */
static void *bin_take_all(pymt__tbin *b, size_t *n) {
    void *chain = b->head;
    *n = pymt__tbin_count(b);
    b->head = NULL;
    pymt__tbin_set_count(b, 0);
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

/* Drop every charge of tc, and give its whole reservation back to the budget: its bins and
 * spares are empty (or about to be) and its bins' bounds 0. */
static void uncharge_all(pymt__tcache *tc) {
    for (unsigned c = 0; c < PYMT__NBINS; c++)
        tc->bin_charge[c] = 0;
    tc->charged = 0;
    pymt__fetch_sub_relaxed(&reserved_total.n, tc->reserved);
    tc->reserved = 0;
}

static void tcache_destructor(void *arg) {
    pymt__tcache *tc = arg;
    void *chains[2 * PYMT__NBINS];
    unsigned nchains = 0;
    slow_lock(tc); /* a trimmer may be at the spares */
    for (unsigned c = 0; c < PYMT__NBINS; c++) {
        size_t n;
        void *chain[2];
        chain[0] = bin_take_all(&tc->bins[c], &n);
        chain[1] = spare_take(tc, c, &n);
        pymt__tbin_set_max(&tc->bins[c], 0);
        tc->hmag_max[c] = 0;
        for (unsigned k = 0; k < 2; k++)
            if (chain[k] != NULL)
                chains[nchains++] = chain[k];
    }
    pymt__large_release_all(&tc->large);
    tc->state = PYMT__TC_DEAD;
    pymt__tc.tc = &tc_dead; /* frees later in the thread's teardown go to the pools */
    uncharge_all(tc);
    slow_unlock(tc);
    pymt__global_lock();
    /* each core and medium class concerned locked once, under the global lock that stats hold
     * while they sum */
    pymt__block_give_chains(chains, nchains);
    gone_refills += pymt__load_relaxed(&tc->refills);
    gone_flushes += pymt__load_relaxed(&tc->flushes) + nchains;
    gone_published += pymt__load_relaxed(&tc->published);
    gone_adopted += pymt__load_relaxed(&tc->adopted);
    /* folded under the lock that stats hold while they sum, so no block is counted twice */
    pymt__fetch_add_relaxed(&pymt__large_global, pymt__load_relaxed(&tc->large_delta));
    pymt__store_relaxed(&tc->large_delta, 0);
    if (trim_next == tc)
        trim_next = tc->next;
    if (tc->prev)
        tc->prev->next = tc->next;
    else
        registry = tc->next;
    if (tc->next)
        tc->next->prev = tc->prev;
    registry_n--;
    pymt__store_relaxed(&live_caches, registry_n);
    bool drain = 2 * registry_n <= drain_mark;
    if (drain)
        drain_mark = registry_n;
    /* off the registry, so no trimmer or reader of stats can reach the record any more */
    pymt__records_free(&records, tc);
    pymt__global_unlock();
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
    pymt__store_relaxed(&budget, budget_bytes);
    pymt__store_relaxed(&budget_grows, grows);
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
    for (const pymt__tcache *o = registry; o != NULL; o = o->next)
        if (o == tc)
            return true;
    return false;
}

void pymt__tcache_set_budget(size_t bytes) {
    pymt__store_relaxed(&budget_grows, false);
    pymt__store_relaxed(&budget, bytes);
    /* the caches now over their share give their spares back at once, idle or not, and
     * their bins at their next slow path */
    size_t share = pymt__tcache_share();
    pymt__global_lock();
    for (pymt__tcache *tc = registry; tc != NULL; tc = tc->next)
        (void)trim_locked(tc, share);
    pymt__global_unlock();
}

size_t pymt__tcache_budget(void) {
    return pymt__load_relaxed(&budget);
}

/* The budget in force: the default budget grows with the heap, to a quarter of the bytes of
 * the arenas in use, at most HEAP_GROWTH times the default; a budget set (PYMT_TCACHE_BYTES,
 * pymt_set_tcache_budget) is a strict bound. A program whose threads churn a heap of tens of
 * MiB in blocks of several KiB needs more than 8 MiB of caches between them (rptest at 8
 * threads ran at about 0.75x of its speed with 8 MiB: docs/benchmarks.md), while a pool of idle
 * threads over a small heap still shares 8 MiB. */
enum { HEAP_SHARE = 4, HEAP_GROWTH = 4 };
size_t pymt__tcache_budget_now(void) {
    size_t set = pymt__load_relaxed(&budget);
    if (!pymt__load_relaxed(&budget_grows))
        return set;
    size_t heap = pymt__arena_heap_bytes() / HEAP_SHARE;
    if (heap > HEAP_GROWTH * set)
        heap = HEAP_GROWTH * set;
    return heap > set ? heap : set;
}

size_t pymt__tcache_share(void) {
    size_t n = pymt__load_relaxed(&live_caches);
    size_t s = pymt__tcache_budget_now() / (n ? n : 1);
    return s < SHARE_MIN ? SHARE_MIN : s;
}

/* Bytes tc holds in its bins and spares (stats, under the core lock). */
static size_t held_bytes(const pymt__tcache *tc) {
    size_t b = 0;
    for (unsigned c = 0; c < PYMT__NBINS; c++)
        b += (pymt__tbin_count(&tc->bins[c]) + pymt__load_relaxed(&tc->spare_count[c])) *
             pymt__class_to_size(c);
    return b;
}

/* ---- the budget: reservations and charges (owner only, but for the global count) ---------- */

/* Reserve up to want more bytes of the budget; returns how many it got (0 when the budget is
 * spent). A compare-and-swap, so the sum of the reservations never passes the budget. */
static size_t budget_reserve(size_t want) {
    size_t cap = pymt__tcache_budget_now(), r = pymt__load_relaxed(&reserved_total.n);
    for (;;) {
        if (r >= cap)
            return 0;
        size_t get = cap - r < want ? cap - r : want;
        if (pymt__cas_weak_relaxed(&reserved_total.n, &r, r + get))
            return get;
    }
}

/* Give bytes of tc's reservation back to the budget. */
static void budget_release(pymt__tcache *tc, size_t bytes) {
    tc->reserved -= bytes;
    pymt__fetch_sub_relaxed(&reserved_total.n, bytes);
}

/* What a thread reserves beyond its charge when it reserves at all, so that a bin swinging to
 * its spare and back does not come to the shared count each time: an eighth of the share, at
 * most 8 KiB (one magazine). */
static size_t reserve_slack(void) {
    size_t q = pymt__tcache_share() / 8;
    return q < 8192 ? q : 8192;
}

static void trim_others(pymt__tcache *self, size_t want);

/* Charge tc more bytes, reserving from the budget what its reservation lacks (with the slack);
 * false, nothing charged, when the budget has no room. A thread within its share that finds
 * no room takes it back from caches over theirs (trim_others) and tries once more. */
static bool charge_more(pymt__tcache *tc, size_t more) {
    size_t need = tc->charged + more;
    if (need > tc->reserved) {
        size_t lack = need - tc->reserved;
        size_t got = budget_reserve(lack + reserve_slack());
        if (got < lack)
            got += budget_reserve(lack - got); /* the slack may not fit where the lack does */
        if (got < lack && need <= pymt__tcache_share()) {
            trim_others(tc, lack - got);
            got += budget_reserve(lack - got);
        }
        tc->reserved += got; /* kept even when short: it is within the budget */
        if (got < lack)
            return false;
    }
    tc->charged = need;
    return true;
}

/* Charge the bin of class c for holding blocks blocks (more or fewer than now); false, nothing
 * changed, when the budget has no room for more. */
static bool bin_charge_set(pymt__tcache *tc, unsigned c, size_t blocks) {
    size_t old = tc->bin_charge[c], size = pymt__class_to_size(c);
    if (blocks > old && !charge_more(tc, (blocks - old) * size))
        return false;
    if (blocks < old)
        tc->charged -= (old - blocks) * size;
    tc->bin_charge[c] = (uint16_t)blocks;
    return true;
}

/* The bound a bin starts from: TCACHE_MAX_START, or less when the share is small: three
 * magazines' worth (a spliced refill may hold two) of every class within the share, never
 * below one block. */
static uint32_t start_max(unsigned c) {
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

/* Take the spare of class c and its charge off tc. */
static void *spare_take_charged(pymt__tcache *tc, unsigned c, size_t *n) {
    void *chain = spare_take(tc, c, n);
    tc->charged -= *n * pymt__class_to_size(c);
    return chain;
}

/* Give back all that class c holds (bin and spare) and set its bin's bound to 0, so it is
 * charged nothing until its next slow-path visit starts it again at start_max. */
static void class_give_back(pymt__tcache *tc, unsigned c) {
    size_t n;
    void *chain = bin_take_all(&tc->bins[c], &n);
    (void)pymt__tc_chain_give_back(tc, c, chain, n);
    chain = spare_take_charged(tc, c, &n);
    (void)pymt__tc_chain_give_back(tc, c, chain, n);
    pymt__tbin_set_max(&tc->bins[c], 0);
    (void)bin_charge_set(tc, c, 0);
}

/* Keep tc's charge within its share: whole classes go, the largest blocks first, the class in
 * use (c) last, and of it only the spare. Then what tc reserves beyond its charge and twice
 * the slack goes back to the budget. */
static void keep_share(pymt__tcache *tc, unsigned c) {
    size_t share = pymt__tcache_share();
    tc->trim_asked = false;
    for (unsigned j = PYMT__NBINS; j-- > 0 && tc->charged > share;)
        if (j != c && tc->bin_charge[j] + pymt__load_relaxed(&tc->spare_count[j]) != 0)
            class_give_back(tc, j);
    if (tc->charged > share) {
        size_t n;
        void *chain = spare_take_charged(tc, c, &n);
        (void)pymt__tc_chain_give_back(tc, c, chain, n);
    }
    size_t slack = reserve_slack();
    if (tc->reserved > tc->charged + 2 * slack)
        budget_release(tc, tc->reserved - tc->charged - slack);
}

/* ---- trimming: another thread takes a cache's spares back ----------------------------------- */

/* Take back the spares of tc, a live cache, when it is charged more than share and its owner
 * is in no slow path (a trimmer never waits for an owner), and ask the owner to keep to its
 * share at its next slow path (its bins are its own alone). Global lock held (the registry);
 * the spares go to their pools' cores once tc's trim_lock is dropped, each core locked once.
 * Returns the bytes given back to the budget. */
static size_t trim_locked(pymt__tcache *tc, size_t share) {
    if (pymt__hardened || pymt__exchange_acquire(&tc->trim_lock, 1) != 0)
        return 0; /* hardened: the spares' words are magazines the owner uses without the lock */
    size_t before = tc->reserved;
    void *chains[PYMT__NBINS];
    unsigned nchains = 0;
    if (tc->charged > share) {
        for (unsigned c = 0; c < PYMT__NBINS; c++) {
            size_t n;
            void *chain = spare_take_charged(tc, c, &n);
            if (chain != NULL)
                chains[nchains++] = chain;
        }
        tc->trim_asked = true;
    }
    if (tc->reserved > tc->charged)
        budget_release(tc, tc->reserved - tc->charged);
    size_t freed = before - tc->reserved; /* read before the owner may run again */
    slow_unlock(tc);
    gone_flushes += nchains;
    pymt__block_give_chains(chains, nchains);
    return freed;
}

/* Make room in the budget for want bytes for self (whose trim_lock its owner holds): trim the
 * caches over their share among the next TRIM_LOOK of the registry, until want is freed. */
static void trim_others(pymt__tcache *self, size_t want) {
    size_t share = pymt__tcache_share(), freed = 0;
    pymt__global_lock();
    pymt__tcache *o = trim_next;
    for (unsigned i = 0; i < TRIM_LOOK && freed < want && registry_n > 1; i++) {
        if (o == NULL)
            o = registry;
        if (o != self)
            freed += trim_locked(o, share);
        o = o->next;
    }
    trim_next = o;
    pymt__global_unlock();
}

/* May the bin of class c grow from max to grow blocks? Only while the thread's charge, with
 * two magazines of the new size, fits its share. */
static bool may_grow(const pymt__tcache *tc, unsigned c, uint32_t max, uint32_t grow) {
    size_t more = 2 * (size_t)(grow - max) * pymt__class_to_size(c);
    return tc->charged + more <= pymt__tcache_share();
}

/* The bound the bin of class c may grow to at a slow-path visit (start_max from 0, else
 * double, up to class_max), charged; its present bound when the share or the budget has no
 * room for more. */
static void bin_grow(pymt__tcache *tc, unsigned c) {
    pymt__tbin *b = &tc->bins[c];
    uint32_t max = pymt__tbin_max(b);
    uint32_t grow = max == 0 ? start_max(c) : 2 * max < pymt__tc_class_max(c) ? 2 * max : pymt__tc_class_max(c);
    if (grow <= max || (max != 0 && !may_grow(tc, c, max, grow)))
        return;
    if (grow > tc->bin_charge[c] && !bin_charge_set(tc, c, grow)) {
        keep_share(tc, c); /* its own excess first, then try once more */
        if (!bin_charge_set(tc, c, grow))
            return;
    }
    pymt__tbin_set_max(b, grow);
}

/* The bin of class c, empty, is about to take the blocks of chain after its first (got - 1 of
 * them): charge them, and when the budget has no room for all, keep what fits (possibly
 * none) and send the rest away. Returns the number of blocks the chain holds now. */
static size_t batch_fit(pymt__tcache *tc, unsigned c, void *chain, size_t got) {
    size_t keep = got - 1;
    if (keep <= tc->bin_charge[c] || bin_charge_set(tc, c, keep))
        return got;
    keep_share(tc, c);
    if (bin_charge_set(tc, c, keep))
        return got;
    size_t room = tc->bin_charge[c] + (tc->reserved - tc->charged) / pymt__class_to_size(c);
    keep = room < keep ? room : keep;
    void *last = chain;
    for (size_t i = 0; i < keep; i++)
        last = pymt__blk_get(last, 0);
    void *rest = pymt__blk_get(last, 0);
    pymt__blk_set(last, 0, NULL);
    (void)pymt__tc_chain_give_back(tc, c, rest, got - 1 - keep);
    bool charged = bin_charge_set(tc, c, keep > tc->bin_charge[c] ? keep : tc->bin_charge[c]);
    pymt__assert(charged); /* within the reservation: room counted it */
    (void)charged;
    return keep + 1;
}

/* A slow-path visit for class c: the sweep's step, and the share kept. */
static void visit(pymt__tcache *tc, unsigned c) {
    tc->last_use[c] = ++tc->events;
    if (tc->events % SWEEP_EVERY != 0)
        return;
    unsigned k = tc->sweep_next;
    tc->sweep_next = (k + 1) % PYMT__NBINS;
    if (k != c && tc->events - tc->last_use[k] > SWEEP_AGE &&
        tc->bin_charge[k] + pymt__load_relaxed(&tc->spare_count[k]) != 0)
        class_give_back(tc, k);
    /* over its share (the budget shrank, or more threads came) */
    keep_share(tc, c);
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
    tc->next = registry;
    if (registry)
        registry->prev = tc;
    registry = tc;
    registry_n++;
    pymt__store_relaxed(&live_caches, registry_n);
    if (registry_n > drain_mark)
        drain_mark = registry_n;
    pymt__global_unlock();
    /* A bin starts at bound 0, charged nothing: its class's first slow-path visit gives it
     * start_max. Hardened: the fast path's bins keep max 0 and always miss, and the
     * magazines start at start_max outside the budget. */
    if (pymt__hardened)
        for (unsigned c = 0; c < PYMT__NBINS; c++)
            tc->hmag_max[c] = (uint16_t)start_max(c);
    tc->state = PYMT__TC_ACTIVE;
    pymt__tc.tc = tc;
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
    slow_lock(tc);
    if (tc->trim_asked)
        keep_share(tc, c);
    size_t got;
    void *chain = spare_take_charged(tc, c, &got);
    if (chain != NULL) {
        /* within the charge: the spare's blocks were charged, one is handed out */
        if (got - 1 > tc->bin_charge[c])
            (void)bin_charge_set(tc, c, got - 1);
    } else {
        /* a refill: the empty bin is charged for its bound alone; a class this thread keeps
         * coming back for earns a bigger bin, up to its bound; a batch from the depot, else
         * a batch from the pools, of which the bin keeps what the budget has room for */
        (void)bin_charge_set(tc, c, pymt__tbin_max(b));
        bin_grow(tc, c);
        visit(tc, c);
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
                slow_unlock(tc);
                return NULL; /* errno ENOMEM set by the pool core */
            }
        }
        pymt__tc_bump(&tc->refills);
        got = batch_fit(tc, c, chain, got);
    }
    slow_unlock(tc);
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
    slow_lock(tc);
    if (tc->trim_asked)
        keep_share(tc, c);
    visit(tc, c); /* may empty the bin */
    uint32_t count = pymt__tbin_count(b);
    if (count >= pymt__tbin_max(b))
        /* a thread that keeps freeing this class (a consumer) earns a bigger bin too, so its
         * batches to the depot grow with it */
        bin_grow(tc, c);
    if (count >= pymt__tbin_max(b) && count != 0) {
        size_t n;
        void *full = bin_take_all(b, &n);
        (void)bin_charge_set(tc, c, pymt__tbin_max(b)); /* empty: charged for its bound alone */
        if (tc->spare[c] == NULL && charge_more(tc, n * pymt__class_to_size(c))) {
            /* the full bin becomes the spare */
            tc->spare[c] = full;
            pymt__store_relaxed(&tc->spare_count[c], (uint32_t)n);
        } else {
            /* both full (or no room in the budget for a spare): the bin leaves the thread,
             * while its blocks are still in the CPU cache (the pools walk the chain they are
             * given; the spare's blocks are colder) */
            (void)pymt__tc_chain_give_back(tc, c, full, n);
        }
    }
    slow_unlock(tc);
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
    slow_lock(tc); /* before any core lock, as in every slow path */
    for (unsigned c = 0; c < 2 * PYMT__NBINS; c++) {
        size_t n;
        unsigned k = c % PYMT__NBINS;
        void *chain = c < PYMT__NBINS ? bin_take_all(&tc->bins[k], &n) : spare_take(tc, k, &n);
        if (chain == NULL)
            continue;
        pymt__tc_bump(&tc->flushes);
        chains[nchains++] = chain;
    }
    pymt__block_give_chains(chains, nchains); /* each core and class concerned locked once */
    /* the bins start again from 0, charged nothing (hardened: the magazines keep their
     * bounds, which the budget does not count) */
    for (unsigned c = 0; c < PYMT__NBINS; c++)
        pymt__tbin_set_max(&tc->bins[c], 0);
    uncharge_all(tc);
    slow_unlock(tc);
}

void pymt__tcache_counts_locked(size_t cached[PYMT__NBINS], size_t *threads, size_t *large,
                                size_t *large_cached_bytes) {
    intptr_t big = pymt__load_relaxed(&pymt__large_global);
    size_t kept = 0;
    for (unsigned c = 0; c < PYMT__NBINS; c++)
        cached[c] = 0;
    for (pymt__tcache *tc = registry; tc != NULL; tc = tc->next) {
        for (unsigned c = 0; c < PYMT__NBINS; c++)
            cached[c] += pymt__tbin_count(&tc->bins[c]) +
                         pymt__load_relaxed(&tc->spare_count[c]);
        big += pymt__load_relaxed(&tc->large_delta);
        kept += pymt__load_relaxed(&tc->large.bytes);
    }
    *large_cached_bytes = kept;
    *threads = registry_n;
    *large = big > 0 ? (size_t)big : 0;
}

size_t pymt__tcache_bytes_locked(size_t *big, size_t nbig) {
    size_t total = 0;
    for (size_t i = 0; i < nbig; i++)
        big[i] = 0;
    for (pymt__tcache *tc = registry; tc != NULL; tc = tc->next) {
        size_t b = held_bytes(tc);
        total += b;
        /* insert into big[], kept in descending order */
        for (size_t i = 0; i < nbig; i++)
            if (b > big[i]) {
                size_t t = big[i];
                big[i] = b;
                b = t;
            }
    }
    return total;
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
    pymt__tcache *tc = pymt__tc_self();
    /* their large-block counts still describe live blocks of this address space; their
     * records go back */
    for (pymt__tcache *o = registry, *next; o != NULL; o = next) {
        next = o->next;
        if (o == tc)
            continue;
        pymt__fetch_add_relaxed(&pymt__large_global, pymt__load_relaxed(&o->large_delta));
        gone_refills += pymt__load_relaxed(&o->refills);
        gone_flushes += pymt__load_relaxed(&o->flushes);
        gone_published += pymt__load_relaxed(&o->published);
        gone_adopted += pymt__load_relaxed(&o->adopted);
        pymt__records_free(&records, o);
    }
    if (tc->state == PYMT__TC_ACTIVE) {
        tc->next = tc->prev = NULL;
        registry = tc;
        registry_n = 1;
    } else {
        registry = NULL;
        registry_n = 0;
    }
    trim_next = NULL;
    /* the budget now holds this thread's reservation alone */
    pymt__store_relaxed(&reserved_total.n, tc->state == PYMT__TC_ACTIVE ? tc->reserved : 0);
}

/* Blocks in a chain of class c, or SIZE_MAX when it holds something else or more than limit
 * (in the hardened mode, also a block that is not a block start or lacks its free marker). */
static size_t chain_check(void *chain, unsigned c, size_t limit) {
    size_t n = 0;
    bool hard = pymt__hardened;
    for (void *b = chain; b != NULL; b = pymt__link_get(b))
        if (!pymt__arena_lookup(b) || pymt__block_class(b) != c || ++n > limit ||
            (hard && (!pymt__block_ok(b, c) || !pymt__harden_marked(b))))
            return SIZE_MAX;
    return n;
}

bool pymt__tcache_check(const pymt__tcache *tc) {
    bool hard = pymt__hardened;
    size_t charged = 0;
    if (tc->bins == NULL) { /* a stand-in: not caching, every magazine empty with bound 0 */
        for (unsigned c = 0; c < PYMT__NBINS; c++)
            if (tc->spare[c] != NULL || pymt__load_relaxed(&tc->spare_count[c]) != 0 ||
                tc->hmag_max[c] != 0)
                return false;
        return tc->state != PYMT__TC_ACTIVE && tc->charged == 0 && tc->reserved == 0;
    }
    for (unsigned c = 0; c < PYMT__NBINS; c++) {
        size_t limit = 2 * (size_t)pymt__tc_class_max(c);
        const pymt__tbin *b = &tc->bins[c];
        if (pymt__tbin_max(b) > pymt__tc_class_max(c) || tc->hmag_max[c] > pymt__tc_class_max(c) ||
            chain_check(b->head, c, limit) != pymt__tbin_count(b) ||
            chain_check(tc->spare[c], c, limit) != pymt__load_relaxed(&tc->spare_count[c]))
            return false;
        /* the budget: a bin is charged for its bound and for what it holds */
        if (!hard && (tc->bin_charge[c] < pymt__tbin_max(b) ||
                      tc->bin_charge[c] < pymt__tbin_count(b)))
            return false;
        if (!hard)
            charged += (tc->bin_charge[c] + (size_t)pymt__load_relaxed(&tc->spare_count[c])) *
                       pymt__class_to_size(c);
        /* hardened: the fast path's bins always miss; otherwise no hardened bound is set */
        if (hard ? b->head != NULL || pymt__tbin_max(b) != 0 : tc->hmag_max[c] != 0)
            return false;
    }
    /* the charge is the sum of the classes', within the reservation, within the budget's
     * count of all reservations */
    return charged == tc->charged && tc->charged <= tc->reserved &&
           tc->reserved <= pymt__load_relaxed(&reserved_total.n);
}

const pymt__tcache *pymt__tcache_self(void) {
    return pymt__tc_self();
}

bool pymt__tcache_records_check(void) {
    pymt__global_lock();
    bool ok = pymt__records_check(&records) && records.live >= registry_n;
    pymt__global_unlock();
    return ok;
}

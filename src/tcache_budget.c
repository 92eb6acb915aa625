/* tcache_budget.c: the budget of the thread caches (tcache_own.h): what all caches together may
 * hold, each live cache's share of it, the charges and reservations a cache's slow paths make,
 * the growth of its bins within them, and the trimmers that take back what caches over their
 * share hold, idle or not.
 *
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
 *     it passes the budget by at most one batch (a magazine: 16 KiB of a small class, about
 *     64 KiB of a medium one, one block above 64 KiB) per slow path that runs during the
 *     reading; a reading with the threads still sees the bound exactly.
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
 *     pymt_set_tcache_budget (every cache over its new share, at once), a thread short of
 *     budget (above), and pymt_trim (every other cache's spares, whatever it holds, and the
 *     large blocks it keeps: large.c). So an idle cache over its share loses its spares
 *     without a call of its own, and the rest of its excess at its next slow path. Lock order:
 *     a thread's own trim_lock, then the global lock, then a core's; a trimmer holds the
 *     global lock and only tries trim_locks (and large caches' locks), and no core lock is
 *     held while a trim_lock is tried: no cycle.
 */
#include "tcache_own.h"

#define SHARE_MIN ((size_t)16 << 10) /* a thread's share is never below this */

enum {
    SWEEP_EVERY = 8, /* slow-path visits between two steps of the sweep */
    SWEEP_AGE = 512, /* visits without one of a class before the sweep empties it */
    TRIM_LOOK = 8    /* caches a thread short of budget looks at, at most */
};

static _Atomic size_t live_caches; /* pymt__tc_reg.n, for the shares (written under the global lock) */
static _Atomic size_t budget;      /* all caches together; pymt_set_tcache_budget */
static _Atomic bool budget_grows;  /* the default budget, never set: it grows with the heap */
/* The live caches' reservations (owners, trimmers): compare-and-swapped by every thread's slow
 * paths, so on a cache line of its own, away from the read-mostly words above, which every
 * slow path reads (a share is budget / live_caches). */
static struct {
    _Atomic size_t n;
    char pad[64 - sizeof(size_t)];
} reserved_total __attribute__((aligned(64)));

static size_t trim_locked(pymt__tcache *tc, size_t share);

void pymt__tc_budget_init(size_t budget_bytes, bool grows) {
    pymt__store_relaxed(&budget, budget_bytes);
    pymt__store_relaxed(&budget_grows, grows);
}

void pymt__tc_set_live(size_t n) {
    pymt__store_relaxed(&live_caches, n);
}

size_t pymt__tc_reserved_total(void) {
    return pymt__load_relaxed(&reserved_total.n);
}

void pymt__tc_budget_atfork_child(size_t reserved) {
    pymt__store_relaxed(&reserved_total.n, reserved);
}

void pymt__tcache_set_budget(size_t bytes) {
    pymt__store_relaxed(&budget_grows, false);
    pymt__store_relaxed(&budget, bytes);
    /* the caches now over their share give their spares back at once, idle or not, and
     * their bins at their next slow path */
    size_t share = pymt__tcache_share();
    pymt__global_lock();
    for (pymt__tcache *tc = pymt__tc_reg.head; tc != NULL; tc = tc->next)
        (void)trim_locked(tc, share);
    pymt__global_unlock();
}

size_t pymt__tcache_budget(void) {
    return pymt__load_relaxed(&budget);
}

/* The budget in force: the default budget grows with the heap, to a third of the bytes of the
 * arenas in use, at most HEAP_GROWTH times the default; a budget set (PYMT_TCACHE_BYTES,
 * pymt_set_tcache_budget) is a strict bound. A program whose threads churn a heap of tens of
 * MiB in blocks of several KiB needs more than 8 MiB of caches between them (rptest at 8
 * threads ran at about 0.75x of its speed with 8 MiB, and executed twice the instructions per
 * item with a quarter of the heap as with a third: docs/benchmarks.md), while a pool of idle
 * threads over a small heap still shares 8 MiB. */
enum { HEAP_SHARE = 3, HEAP_GROWTH = 4 };
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
bool pymt__tc_charge_more(pymt__tcache *tc, size_t more) {
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
bool pymt__tc_bin_charge_set(pymt__tcache *tc, unsigned c, size_t blocks) {
    size_t old = tc->bin_charge[c], size = pymt__class_to_size(c);
    if (blocks > old && !pymt__tc_charge_more(tc, (blocks - old) * size))
        return false;
    if (blocks < old)
        tc->charged -= (old - blocks) * size;
    tc->bin_charge[c] = (uint16_t)blocks;
    return true;
}

/* Take the spare of class c and its charge off tc. */
void *pymt__tc_spare_take_charged(pymt__tcache *tc, unsigned c, size_t *n) {
    void *chain = pymt__tc_spare_take(tc, c, n);
    tc->charged -= *n * pymt__class_to_size(c);
    return chain;
}

/* Give back all that class c holds (bin and spare) and set its bin's bound to 0, so it is
 * charged nothing until its next slow-path visit starts it again at start_max. */
static void class_give_back(pymt__tcache *tc, unsigned c) {
    size_t n;
    void *chain = pymt__tc_bin_take_all(&tc->bins[c], &n);
    (void)pymt__tc_chain_give_back(tc, c, chain, n);
    chain = pymt__tc_spare_take_charged(tc, c, &n);
    (void)pymt__tc_chain_give_back(tc, c, chain, n);
    pymt__tbin_set_max(&tc->bins[c], 0);
    (void)pymt__tc_bin_charge_set(tc, c, 0);
}

/* Keep tc's charge within its share: whole classes go, the largest blocks first, the class in
 * use (c) last, and of it only the spare. Then what tc reserves beyond its charge and twice
 * the slack goes back to the budget. */
void pymt__tc_keep_share(pymt__tcache *tc, unsigned c) {
    size_t share = pymt__tcache_share();
    tc->trim_asked = false;
    for (unsigned j = PYMT__NBINS; j-- > 0 && tc->charged > share;)
        if (j != c && tc->bin_charge[j] + pymt__load_relaxed(&tc->spare_count[j]) != 0)
            class_give_back(tc, j);
    if (tc->charged > share) {
        size_t n;
        void *chain = pymt__tc_spare_take_charged(tc, c, &n);
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
    if (pymt__hardened || !pymt__yield_trylock(&tc->trim_lock))
        return 0; /* hardened: the spares' words are magazines the owner uses without the lock */
    size_t before = tc->reserved;
    void *chains[PYMT__NBINS];
    unsigned nchains = 0;
    if (tc->charged > share) {
        for (unsigned c = 0; c < PYMT__NBINS; c++) {
            size_t n;
            void *chain = pymt__tc_spare_take_charged(tc, c, &n);
            if (chain != NULL)
                chains[nchains++] = chain;
        }
        tc->trim_asked = true;
    }
    if (tc->reserved > tc->charged)
        budget_release(tc, tc->reserved - tc->charged);
    size_t freed = before - tc->reserved; /* read before the owner may run again */
    pymt__tc_slow_unlock(tc);
    pymt__tc_reg.gone_flushes += nchains;
    pymt__block_give_chains(chains, nchains);
    return freed;
}

/* Make room in the budget for want bytes for self (whose trim_lock its owner holds): trim the
 * caches over their share among the next TRIM_LOOK of the registry, until want is freed. */
static void trim_others(pymt__tcache *self, size_t want) {
    size_t share = pymt__tcache_share(), freed = 0;
    pymt__global_lock();
    pymt__tcache *o = pymt__tc_reg.trim_next;
    for (unsigned i = 0; i < TRIM_LOOK && freed < want && pymt__tc_reg.n > 1; i++) {
        if (o == NULL)
            o = pymt__tc_reg.head;
        if (o != self)
            freed += trim_locked(o, share);
        o = o->next;
    }
    pymt__tc_reg.trim_next = o;
    pymt__global_unlock();
}

void pymt__tcache_trim_others(void) {
    pymt__tcache *self = pymt__tc_self();
    pymt__global_lock();
    for (pymt__tcache *o = pymt__tc_reg.head; o != NULL; o = o->next) {
        if (o == self)
            continue;
        (void)trim_locked(o, 0);
        (void)pymt__large_trim(&o->large);
    }
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
void pymt__tc_bin_grow(pymt__tcache *tc, unsigned c) {
    pymt__tbin *b = &tc->bins[c];
    uint32_t max = pymt__tbin_max(b);
    uint32_t grow = max == 0 ? pymt__tc_start_max(c) : pymt__tc_doubled(c, max);
    if (grow <= max || (max != 0 && !may_grow(tc, c, max, grow)))
        return;
    if (grow > tc->bin_charge[c] && !pymt__tc_bin_charge_set(tc, c, grow)) {
        pymt__tc_keep_share(tc, c); /* its own excess first, then try once more */
        if (!pymt__tc_bin_charge_set(tc, c, grow))
            return;
    }
    pymt__tbin_set_max(b, grow);
}

/* The bin of class c, empty, is about to take the blocks of chain after its first (got - 1 of
 * them): charge them, and when the budget has no room for all, keep what fits (possibly
 * none) and send the rest away. Returns the number of blocks the chain holds now. */
size_t pymt__tc_batch_fit(pymt__tcache *tc, unsigned c, void *chain, size_t got) {
    size_t keep = got - 1;
    if (keep <= tc->bin_charge[c] || pymt__tc_bin_charge_set(tc, c, keep))
        return got;
    pymt__tc_keep_share(tc, c);
    if (pymt__tc_bin_charge_set(tc, c, keep))
        return got;
    size_t room = tc->bin_charge[c] + (tc->reserved - tc->charged) / pymt__class_to_size(c);
    keep = room < keep ? room : keep;
    void *last = chain;
    for (size_t i = 0; i < keep; i++)
        last = pymt__blk_get(last, 0);
    void *rest = pymt__blk_get(last, 0);
    pymt__blk_set(last, 0, NULL);
    (void)pymt__tc_chain_give_back(tc, c, rest, got - 1 - keep);
    bool charged = pymt__tc_bin_charge_set(tc, c, keep > tc->bin_charge[c] ? keep : tc->bin_charge[c]);
    pymt__assert(charged); /* within the reservation: room counted it */
    (void)charged;
    return keep + 1;
}

/* A slow-path visit for class c: the sweep's step, and the share kept. */
void pymt__tc_visit(pymt__tcache *tc, unsigned c) {
    tc->last_use[c] = ++tc->events;
    if (tc->events % SWEEP_EVERY != 0)
        return;
    unsigned k = tc->sweep_next;
    tc->sweep_next = (k + 1) % PYMT__NBINS;
    if (k != c && tc->events - tc->last_use[k] > SWEEP_AGE &&
        tc->bin_charge[k] + pymt__load_relaxed(&tc->spare_count[k]) != 0)
        class_give_back(tc, k);
    /* over its share (the budget shrank, or more threads came) */
    pymt__tc_keep_share(tc, c);
}


/* Drop every charge of tc, and give its whole reservation back to the budget: its bins and
 * spares are empty (or about to be) and its bins' bounds 0. */
void pymt__tc_uncharge_all(pymt__tcache *tc) {
    for (unsigned c = 0; c < PYMT__NBINS; c++)
        tc->bin_charge[c] = 0;
    tc->charged = 0;
    pymt__fetch_sub_relaxed(&reserved_total.n, tc->reserved);
    tc->reserved = 0;
}

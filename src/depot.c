/* depot.c: the block depot, a lock-free exchange of batches of free blocks between threads.
 *
 * One ConcurrencyKit stack per core and size class. A thread cache that overflows, or a thread
 * that exits, publishes a batch (push); a thread cache that runs dry adopts one (take) before
 * it would take the core lock. Producer/consumer programs thus move blocks from the freeing
 * thread to the allocating one without the lock and without touching the pool headers.
 * Per core: a batch of a small class goes to the depot of the core that owns the arena of its
 * first block, and a thread adopts from its own core's depot, so blocks go back to the threads
 * of the core they came from, as they do through the pools. With one depot for all cores, two
 * threads churning their own working sets traded batches through it, and their blocks came to
 * share cache lines: 1.5-2% of the lines of two working sets of 100,000 blocks after a churn,
 * none with a depot per core (docs/benchmarks.md, session 23). A producer's blocks still reach
 * it from a consumer on another core: they are its core's. Medium classes, whose blocks share
 * lines only at their ends and have no core, keep one depot (core 0's).
 *
 *   batch on the depot (n >= 1 blocks of one class):
 *   first block: word 0 = stack link (written by CK), word 1 = rest of the chain
 *   second block (if n >= 2): word 0 = next block, word 1 = n | manifest slot << 32 (0: none)
 *   later blocks: word 0 = next
 *   A manifest (below) lists the addresses of the batch's blocks for the adopter's prefetch.
 *   hardened mode (harden.h: links encoded, blocks carry the free marker in word 1):
 *   first block: word 0 = encoded stack link (the batch below, NULL encoded too),
 *                word 1 = encoded (rest | n << 48)
 *   later blocks: word 0 = encoded next, word 1 = free marker (the second block keeps its own)
 *   The stack is then pymt's own, not CK's (hstack_* below: a head word, a push that encodes
 *   the link again on each try of its CAS, a pop that decodes it): CK's plain link took a
 *   zeroed word 0, the commonest use-after-free write, for the end of the stack, and every
 *   batch below it was lost without a report. A taker checks the head and decodes and checks
 *   every stack link before it follows it (a block start of the class, or NULL), and the rest
 *   and n (a block start of the class; 1 <= n, n == 1 exactly when there is no rest), then
 *   gives the first block its encoded link and its marker back. (n < 2^16 and a user address
 *   < 2^48, which arena init requires of the whole arena range.)
 *
 * Why it is correct (the ABA argument): pushes are free for all, takes are one at a time.
 *   push     = CAS(head: old -> e) after e->next = old. If head went old -> X -> old between
 *              the read and the CAS, old is still the head and e->next = old is still right:
 *              a push never depends on more than the head word it compares.
 *   pop      = CAS(head: e -> e->next), only by the holder of the class's popper flag; so is
 *              every take-all (drain, the validator). The ABA case of a lock-free pop (e popped
 *              by another thread, reused, pushed again between the read of e->next and the
 *              CAS) needs a second taker, which the flag excludes: while the holder looks at
 *              it, e stays on the stack, its memory mapped (an arena cannot empty while a block
 *              of it is in the depot: the block counts as out of its pool), and e->next stays
 *              what it read unless a push put a new head above e, which fails the CAS.
 *   The hardened stack keeps the same discipline with the same two CASes (push re-encodes
 *   e's link to the head it compares on each try), so the same argument holds.
 *   A taker that finds the flag held a few times in a row goes to the lock instead; drain and
 *   the validator wait for it. (An earlier version took every batch with one exchange and
 *   pushed the others back: with hundreds of batches on a stack each take touched them all,
 *   and the loads of their first blocks were 14% of the time of rptest at 8 threads.)
 * TSan: CK runs uninstrumented (lfstack.c); every push is preceded by pymt__tsan_release on
 * the stack and every non-empty take followed by pymt__tsan_acquire on it, so the writes into a
 * batch happen-before its adopter's reads, and nothing of pymt's own is hidden from TSan. The
 * hardened stack's C11 atomics are seen by TSan as they are (a release CAS to push, acquire
 * loads and CASes to take: every write of the head is a read-modify-write, so each take
 * synchronizes with every push before it); the annotations bracket it all the same.
 * The per-class count is a relaxed atomic: a soft bound, exact when quiescent. */
#include "depot.h"

#include "lfstack.h"
#include "track.h"

typedef struct depot_class {
    ck_stack_t stack;       /* written by any thread through lfstack.c (default mode) */
    _Atomic(void *) hhead;  /* the hardened stack's top batch; written by pushers and takers */
    _Atomic size_t count;   /* blocks on the stack; written by pushers and takers */
    _Atomic bool popping;   /* the popper flag: held by the one thread taking from the stack */
    char pad[64 - sizeof(ck_stack_t) - sizeof(void *) - sizeof(size_t) - sizeof(bool)];
} depot_class;
_Static_assert(sizeof(depot_class) == 64, "one cache line per class");

static depot_class depots[PYMT__CORES_MAX][PYMT__NBINS] __attribute__((aligned(64)));

/* The depot a batch whose first block is p goes to: its arena's core's for a small class, the
 * one medium depot (core 0's) for a medium class. */
static depot_class *depot_of_block(unsigned c, const void *p) {
    return depots[pymt__is_medium(c) ? 0 : pymt__arena_core(p)];
}
/* The core whose depots depot is (depots[k]). */
static unsigned depot_core(const depot_class *depot) {
    return (unsigned)((depot - &depots[0][0]) / PYMT__NBINS);
}
/* The depot the calling thread adopts from: its core's (medium: the one). */
static depot_class *depot_of_self(unsigned c) {
    return depots[pymt__is_medium(c) ? 0 : pymt__pool_self_core()];
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

/* ---- the hardened mode's stack: its links encoded like every free-list link (harden.h) ---- */

/* The batch below e (NULL: none), decoded from e's word 0, without a check (the validator). */
static void *hstack_link(void *e) {
    return pymt__harden_dec(e, pymt__blk_get(e, 0));
}
/* Stop with a report unless e, read from the stack (its head, or the link of batch prev), is
 * the first block of a batch of class c. */
static void batch_check(unsigned c, const void *prev, const void *e) {
    if (!pymt__block_ok(e, c))
        pymt__harden_bad_link(prev, c, e, "the depot's stack of batches");
}
/* hstack_link, checked before anyone follows it: a zeroed word decodes to garbage, not NULL. */
static void *hstack_next(unsigned c, void *e) {
    void *next = hstack_link(e);
    if (next != NULL)
        batch_check(c, e, next);
    return next;
}
static void hstack_push(depot_class *d, void *e) {
    void *top = pymt__load_relaxed(&d->hhead); /* only compared, never followed */
    do
        pymt__blk_set(e, 0, pymt__harden_enc(e, top));
    while (!pymt__cas_weak_release(&d->hhead, &top, e)); /* pairs with hstack_pop, depot_pop_all */
}
/* Only the holder of the popper flag: nobody else can remove e, so its link stays what the pop
 * read unless a push puts a new head above e, which fails the CAS (the ABA argument above). */
static void *hstack_pop(depot_class *d, unsigned c) {
    void *e = pymt__load_acquire(&d->hhead); /* pairs with the release in hstack_push */
    while (e != NULL) {
        batch_check(c, NULL, e); /* the head: a batch filed under another class */
        void *next = hstack_next(c, e);
        if (pymt__cas_weak_acquire(&d->hhead, &e, next)) /* a failure reloads e: a new head */
            break;
    }
    return e;
}

/* ---- the stack of either mode ------------------------------------------------------------ */

static void depot_publish(depot_class *depot, unsigned c, void *first) {
    pymt__tsan_release(&depot[c].stack); /* pairs with the acquire in pymt__depot_take */
    if (pymt__hardened) {
        hstack_push(&depot[c], first);
        return;
    }
    PYMT_TRACK_LINK_OPEN(first);
    pymt__ck_push_upmc(&depot[c].stack, (ck_stack_entry_t *)first);
}
/* One batch, or every batch as a chain (drain, the validator): the popper flag's holder only. */
static void *depot_pop(depot_class *depot, unsigned c) {
    if (pymt__hardened)
        return hstack_pop(&depot[c], c);
    return pymt__ck_pop_upmc(&depot[c].stack);
}
static void *depot_pop_all(depot_class *depot, unsigned c) {
    if (pymt__hardened) /* acquire: pairs with the release in hstack_push */
        return pymt__exchange_acquire(&depot[c].hhead, NULL);
    return pymt__ck_batch_pop_upmc(&depot[c].stack);
}
/* The batch below e in a chain depot_pop_all returned (hardened: checked). */
static void *depot_next(unsigned c, void *e) {
    return pymt__hardened ? hstack_next(c, e) : pymt__blk_get(e, 0);
}

/* The popper flag of class c: try_pop takes it when it is free (false: another taker has it);
 * pop_wait waits for it (drain and the validator: a holder keeps it for a few instructions). */
static bool try_pop(depot_class *depot, unsigned c) {
    return !pymt__exchange_acquire(&depot[c].popping, true);
}
static void pop_wait(depot_class *depot, unsigned c) {
    while (!try_pop(depot, c))
        cpu_relax();
}
static void pop_done(depot_class *depot, unsigned c) {
    pymt__store_release(&depot[c].popping, false);
}

#define DEPOT_N_SHIFT 48
#define DEPOT_REST_MASK (((uintptr_t)1 << DEPOT_N_SHIFT) - 1)

/* ---- manifests: the addresses of a batch's blocks, for its adopter (default mode) --------- */

/* A batch's blocks were last written by the thread that freed them, and the chain through them
 * is a pointer chase: an adopter on another CPU that pops them one by one waits for each line
 * to cross before it learns the next address, one transfer after another (a producer fed by a
 * consumer). So a batch of a small class carries, when a slot is free, a manifest of its
 * blocks' addresses, written by the publisher while the blocks are in its cache. The adopter
 * reads the manifest (consecutive lines) and asks for every block's line at once; the pops
 * that follow find them on their way or arrived. A prefetch is only a hint: nothing read from
 * the manifest is followed, so it cannot corrupt a chain. (Rewriting each link from the manifest
 * instead, stores that fetch the lines for writing, cost the batched producer/consumer 11%: the
 * burst of stores stalls the adopter; docs/benchmarks.md, session 28.)
 * A slot belongs to one batch from its publisher's claim until its adopter (or the drain) gives
 * it back: the claim's acquire exchange pairs with the release that frees it, and the manifest
 * travels with the batch through the depot's push and take like the blocks' own words. The
 * slot's number (1..MANIFEST_SLOTS; 0: none) rides in the high half of the second block's count
 * word. A slot whose publisher was another thread of a forked parent, caught between its claim
 * and its push, stays claimed in the child, which has one slot fewer. */
enum { MANIFEST_SLOTS = PYMT__DEPOT_MANIFESTS, MANIFEST_MAX = 256, MANIFEST_SHIFT = 32 };
typedef struct manifest {
    _Atomic bool claimed; /* by a batch on the depot, or its publisher or adopter */
    uint32_t n;
    const void *block[MANIFEST_MAX];
} manifest;
static manifest manifests[PYMT__CORES_MAX][PYMT__NCLASSES][MANIFEST_SLOTS];

/* The blocks a second block's count word counts, and the manifest slot it names (0: none). */
static size_t count_blocks(uintptr_t w) {
    return (uint32_t)w;
}
static unsigned count_slot(uintptr_t w) {
    return (unsigned)(w >> MANIFEST_SHIFT);
}

/* Record the n blocks of chain (class c, bound for core k's depot) in a free slot: returns its
 * number, or 0 when none is free (or the class or the length takes no manifest). */
static unsigned manifest_write(unsigned k, unsigned c, void *chain, size_t n) {
    if (pymt__is_medium(c) || n < 3 || n > MANIFEST_MAX)
        return 0;
    for (unsigned i = 0; i < MANIFEST_SLOTS; i++) {
        manifest *m = &manifests[k][c][i];
        if (pymt__load_relaxed(&m->claimed) || pymt__exchange_acquire(&m->claimed, true))
            continue;
        void *b = chain;
        for (size_t j = 0; j < n; j++, b = pymt__blk_get(b, 0))
            m->block[j] = b;
        m->n = (uint32_t)n;
        return i + 1;
    }
    return 0;
}

unsigned pymt__depot_manifests_claimed(void) {
    unsigned n = 0;
    for (unsigned k = 0; k < PYMT__CORES_MAX; k++)
        for (unsigned c = 0; c < PYMT__NCLASSES; c++)
            for (unsigned i = 0; i < MANIFEST_SLOTS; i++)
                n += pymt__load_relaxed(&manifests[k][c][i].claimed);
    return n;
}

/* The batch whose manifest is slot i of core k's class c has left the depot: with want (an
 * adopter about to pop it) its blocks' lines are asked for; the slot is given back. */
static void manifest_done(unsigned k, unsigned c, unsigned i, bool want) {
    manifest *m = &manifests[k][c][i - 1];
    if (want)
        for (size_t j = 1; j < m->n; j++) /* block 0's line batch_to_chain has just read */
            pymt__prefetch_read(m->block[j]);
    pymt__store_release(&m->claimed, false);
}

bool pymt__depot_push(unsigned c, void *chain, size_t n, size_t limit) {
    depot_class *depot = depot_of_block(c, chain);
    size_t had = pymt__fetch_add_relaxed(&depot[c].count, n);
    if (had + n > limit) {
        pymt__fetch_sub_relaxed(&depot[c].count, n);
        return false;
    }
    if (pymt__hardened) {
        pymt__assert(n >= 1 && n < ((size_t)1 << (64 - DEPOT_N_SHIFT)));
        uintptr_t w = (uintptr_t)pymt__link_get(chain) | (uintptr_t)n << DEPOT_N_SHIFT;
        pymt__blk_set(chain, 1, pymt__harden_enc(chain, (void *)w));
        depot_publish(depot, c, chain);
        return true;
    }
    uintptr_t slot = manifest_write(depot_core(depot), c, chain, n);
    void *rest = pymt__blk_get(chain, 0);
    pymt__blk_set(chain, 1, rest);
    if (rest != NULL)
        pymt__blk_set(rest, 1, (void *)((uintptr_t)n | slot << MANIFEST_SHIFT));
    depot_publish(depot, c, chain);
    return true;
}

/* A batch taken off the stack (from core k's depot) -> a plain chain; returns its length. Its
 * manifest, if any, asks for its blocks' lines with want (an adopter about to pop them) and is
 * given back either way. */
static size_t batch_to_chain(unsigned k, unsigned c, void *first, bool want) {
    if (pymt__hardened) {
        uintptr_t w = (uintptr_t)pymt__harden_dec(first, pymt__blk_get(first, 1));
        void *rest = (void *)(w & DEPOT_REST_MASK);
        size_t n = w >> DEPOT_N_SHIFT;
        if (n == 0 || (rest == NULL) != (n == 1) || (rest != NULL && !pymt__block_ok(rest, c)))
            pymt__harden_bad_link(first, c, (void *)w, "a batch on the depot");
        pymt__link_set(first, rest);
        pymt__harden_mark(first);
        return n;
    }
    void *rest = pymt__blk_get(first, 1);
    pymt__blk_set(first, 0, rest);
    if (rest == NULL)
        return 1;
    uintptr_t w = (uintptr_t)pymt__blk_get(rest, 1);
    if (count_slot(w) != 0)
        manifest_done(k, c, count_slot(w), want);
    return count_blocks(w);
}

void *pymt__depot_take(unsigned c, size_t *n) {
    depot_class *depot = depot_of_self(c);
    void *e = NULL;
    /* the flag is held for a pop, a few instructions: a few tries beat going to the lock and
     * carving fresh pools while the batches stay on the stack */
    for (int tries = 0; tries < 4; tries++) {
        if (pymt__load_relaxed(&depot[c].count) == 0)
            return NULL;
        if (try_pop(depot, c)) {
            e = depot_pop(depot, c);
            pop_done(depot, c);
            break;
        }
        cpu_relax();
    }
    if (e == NULL)
        return NULL;
    pymt__tsan_acquire(&depot[c].stack); /* pairs with the release in depot_publish */
    size_t got = batch_to_chain(depot_core(depot), c, e, true);
    pymt__fetch_sub_relaxed(&depot[c].count, got);
    *n = got;
    return e;
}

size_t pymt__depot_count(unsigned c) {
    size_t n = 0;
    for (unsigned k = 0; k < PYMT__CORES_MAX; k++)
        n += pymt__load_relaxed(&depots[k][c].count);
    return n;
}

void pymt__depot_drain(void) {
    pymt__arena *retire = NULL;
    for (unsigned i = 0; i < PYMT__CORES_MAX * PYMT__NBINS; i++) {
        unsigned c = i % PYMT__NBINS;
        depot_class *depot = depots[i / PYMT__NBINS];
        if (pymt__load_relaxed(&depot[c].count) == 0)
            continue;
        pop_wait(depot, c);
        void *e = depot_pop_all(depot, c);
        pop_done(depot, c);
        if (e == NULL)
            continue;
        pymt__tsan_acquire(&depot[c].stack);
        if (pymt__hardened) /* the head; depot_next checks the links below it */
            batch_check(c, NULL, e);
        bool medium = pymt__is_medium(c); /* medium batches go to their class, under its lock */
        if (!medium)
            pymt__core_lock();
        while (e != NULL) {
            void *next = depot_next(c, e);
            size_t got = batch_to_chain(i / PYMT__NBINS, c, e, false);
            pymt__fetch_sub_relaxed(&depot[c].count, got);
            if (medium)
                pymt__medium_give(c, e);
            else
                pymt__pool_give_locked(e, &retire);
            e = next;
        }
        if (!medium)
            pymt__core_unlock();
    }
    pymt__pool_retire_list(retire);
}

/* Is b the first block of a whole batch of class c: every block of its chain one of class c
 * (hardened: each after the first marked free), as many as it says (*n)? */
static bool batch_valid(unsigned c, void *b, size_t *n) {
    bool hard = pymt__hardened;
    void *rest;
    if (hard) {
        uintptr_t w = (uintptr_t)pymt__harden_dec(b, pymt__blk_get(b, 1));
        rest = (void *)(w & DEPOT_REST_MASK);
        *n = w >> DEPOT_N_SHIFT;
    } else {
        rest = pymt__blk_get(b, 1);
        *n = rest != NULL ? count_blocks((uintptr_t)pymt__blk_get(rest, 1)) : 1;
    }
    size_t k = 0;
    for (void *q = b; q != NULL; q = q == b ? rest : pymt__link_get(q))
        if (!pymt__arena_lookup(q) || pymt__block_class(q) != c || ++k > *n ||
            (hard && q != b && !pymt__harden_marked(q)))
            return false; /* before the link of q is read */
    return k == *n;
}

static bool depot_check_one(depot_class *depot, unsigned c) {
    pop_wait(depot, c);
    void *e = depot_pop_all(depot, c);
    pop_done(depot, c);
    if (e == NULL)
        return true; /* nothing to walk (or another thread holds the batches for a moment) */
    pymt__tsan_acquire(&depot[c].stack); /* pairs with the release in depot_publish */
    bool ok = true;
    size_t total = 0;
    /* walk the batches, putting each back as it was (their order reversed, which is no matter) */
    for (void *b = e, *next; b != NULL; b = next) {
        if (!pymt__arena_lookup(b))
            return false; /* a stack link out of pymt's arenas: nothing below it can be read */
        next = pymt__hardened ? hstack_link(b) : pymt__blk_get(b, 0);
        size_t n;
        ok = batch_valid(c, b, &n) && ok;
        total += n;
        depot_publish(depot, c, b);
    }
    return ok && total <= pymt__load_relaxed(&depot[c].count);
}

bool pymt__depot_check(unsigned c) {
    bool ok = true;
    for (unsigned k = 0; k < PYMT__CORES_MAX; k++)
        ok = depot_check_one(depots[k], c) && ok;
    return ok;
}

void pymt__depot_atfork_child(void) {
    /* a thread that held a flag at the fork is not in the child: its pop is over or never
     * happened (the stack changed, or did not, with one CAS); the batch it took is lost */
    for (unsigned k = 0; k < PYMT__CORES_MAX; k++)
        for (unsigned c = 0; c < PYMT__NBINS; c++)
            pop_done(depots[k], c);
}

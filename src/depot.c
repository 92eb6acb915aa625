/* depot.c: the block depot, a lock-free exchange of batches of free blocks between threads.
 *
 * One ConcurrencyKit stack per size class. A thread cache that overflows, or a thread that
 * exits, publishes a batch (push); a thread cache that runs dry adopts one (take) before it
 * would take the core lock. Producer/consumer programs thus move blocks from the freeing thread
 * to the allocating one without the lock and without touching the pool headers.
 *
 *   batch on the depot (n >= 1 blocks of one class):
 *   first block: word 0 = stack link (written by CK), word 1 = rest of the chain
 *   second block (if n >= 2): word 0 = next block, word 1 = n;  later blocks: word 0 = next
 *
 * Why it is correct (the ABA argument): only two operations touch a depot stack.
 *   push     = CAS(head: old -> e) after e->next = old. If head went old -> X -> old between
 *              the read and the CAS, old is still the head and e->next = old is still right:
 *              a push never depends on more than the head word it compares.
 *   take-all = exchange(head, NULL). No comparison at all.
 *   There is no single-entry pop here (the one that reads head->next and can be fooled when the
 *   head is popped and pushed again meanwhile). A taker that wants one batch takes them all and
 *   pushes the others back. Entries are free blocks whose memory stays mapped while they sit on
 *   the stack: an arena cannot empty while a block of it is in the depot (the block counts as
 *   out of its pool), so no entry is ever unmapped under the stack.
 * TSan: CK runs uninstrumented (lfstack.c); every push is preceded by pymt__tsan_release on
 * the stack and every non-empty take followed by pymt__tsan_acquire on it, so the writes into a
 * batch happen-before its adopter's reads, and nothing of pymt's own is hidden from TSan.
 * The per-class count is a relaxed atomic: a soft bound, exact when quiescent. */
#include "depot.h"

#include "lfstack.h"
#include "track.h"

typedef struct depot_class {
    ck_stack_t stack;       /* written by any thread through lfstack.c */
    _Atomic size_t count;   /* blocks on the stack; written by pushers and takers */
    char pad[64 - sizeof(ck_stack_t) - sizeof(size_t)];
} depot_class;
_Static_assert(sizeof(depot_class) == 64, "one cache line per class");

static depot_class depot[PYMT__NCLASSES] __attribute__((aligned(64)));

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

static void depot_publish(unsigned c, void *first) {
    PYMT_TRACK_LINK_OPEN(first);
    pymt__tsan_release(&depot[c].stack); /* pairs with the acquire in pymt__depot_take */
    pymt__ck_push_upmc(&depot[c].stack, (ck_stack_entry_t *)first);
}

bool pymt__depot_push(unsigned c, void *chain, size_t n, size_t limit) {
    size_t had = pymt__fetch_add_relaxed(&depot[c].count, n);
    if (had + n > limit) {
        pymt__fetch_sub_relaxed(&depot[c].count, n);
        return false;
    }
    void *rest = pymt__blk_get(chain, 0);
    pymt__blk_set(chain, 1, rest);
    if (rest != NULL)
        pymt__blk_set(rest, 1, (void *)(uintptr_t)n);
    depot_publish(c, chain);
    return true;
}

/* A batch taken off the stack -> a plain chain; returns its length. */
static size_t batch_to_chain(void *first) {
    void *rest = pymt__blk_get(first, 1);
    pymt__blk_set(first, 0, rest);
    return rest != NULL ? (size_t)(uintptr_t)pymt__blk_get(rest, 1) : 1;
}

void *pymt__depot_take(unsigned c, size_t *n) {
    ck_stack_entry_t *e = NULL;
    /* A count above zero with an empty stack means another taker holds the batches for the
     * moment between its take-all and its push-back; a few retries beat going to the lock and
     * carving fresh pools while those batches come back. */
    for (int tries = 0; tries < 4; tries++) {
        if (pymt__load_relaxed(&depot[c].count) == 0)
            return NULL;
        e = pymt__ck_batch_pop_upmc(&depot[c].stack);
        if (e != NULL)
            break;
        cpu_relax();
    }
    if (e == NULL)
        return NULL;
    pymt__tsan_acquire(&depot[c].stack); /* pairs with the release in depot_publish */
    /* keep the first batch, give the others back */
    ck_stack_entry_t *others = (ck_stack_entry_t *)pymt__blk_get(e, 0);
    while (others != NULL) {
        ck_stack_entry_t *next = (ck_stack_entry_t *)pymt__blk_get(others, 0);
        depot_publish(c, others);
        others = next;
    }
    size_t got = batch_to_chain(e);
    pymt__fetch_sub_relaxed(&depot[c].count, got);
    *n = got;
    return e;
}

size_t pymt__depot_count(unsigned c) {
    return pymt__load_relaxed(&depot[c].count);
}

void pymt__depot_drain(void) {
    pymt__arena *retire = NULL;
    for (unsigned c = 0; c < PYMT__NCLASSES; c++) {
        if (pymt__load_relaxed(&depot[c].count) == 0)
            continue;
        ck_stack_entry_t *e = pymt__ck_batch_pop_upmc(&depot[c].stack);
        if (e == NULL)
            continue;
        pymt__tsan_acquire(&depot[c].stack);
        pymt__core_lock();
        while (e != NULL) {
            ck_stack_entry_t *next = (ck_stack_entry_t *)pymt__blk_get(e, 0);
            size_t got = batch_to_chain(e);
            pymt__fetch_sub_relaxed(&depot[c].count, got);
            pymt__pool_give_locked(e, &retire);
            e = next;
        }
        pymt__core_unlock();
    }
    pymt__pool_retire_list(retire);
}

bool pymt__depot_check(unsigned c) {
    ck_stack_entry_t *e = pymt__ck_batch_pop_upmc(&depot[c].stack);
    if (e == NULL)
        return true; /* nothing to walk (or another thread holds the batches for a moment) */
    pymt__tsan_acquire(&depot[c].stack); /* pairs with the release in depot_publish */
    bool ok = true;
    size_t total = 0;
    for (ck_stack_entry_t *b = e; b != NULL; b = (ck_stack_entry_t *)pymt__blk_get(b, 0)) {
        void *rest = pymt__blk_get(b, 1);
        size_t n = rest != NULL ? (size_t)(uintptr_t)pymt__blk_get(rest, 1) : 1, k = 0;
        for (void *q = b; q != NULL && ok; q = q == (void *)b ? rest : pymt__blk_get(q, 0))
            ok = pymt__arena_lookup(q) && pymt__block_class(q) == c && ++k <= n;
        ok = ok && k == n;
        total += n;
    }
    /* put every batch back as it was */
    while (e != NULL) {
        ck_stack_entry_t *next = (ck_stack_entry_t *)pymt__blk_get(e, 0);
        depot_publish(c, e);
        e = next;
    }
    return ok && total <= pymt__load_relaxed(&depot[c].count);
}

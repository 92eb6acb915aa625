/* tcache_own.h: what the files of the tcache layer share: tcache.c (set-up, refill, overflow,
 * flush, exit), tcache_budget.c (the budget, the shares, the trimmers), tcache_stats.c (the
 * readers and the validator), tcache_harden.c (the hardened magazines) and tcache_order.c
 * (a leaving magazine put in address order): the calling
 * thread's cache, its set-up, the registry of live caches, the owner's lock, the magazine
 * bound of a class, the way a chain leaves a cache, and the budget's calls. Nothing outside
 * the tcache layer includes it but the white-box test. */
#ifndef PYMT_TCACHE_OWN_H
#define PYMT_TCACHE_OWN_H

#include "tcache.h"

/* The read-only stand-in of a thread whose cache is not set up yet (tcache.c). */
extern PYMT__HIDDEN pymt__tcache pymt__tc_new;

/* The calling thread's cache: its record, or the stand-in for one not set up yet. */
static inline pymt__tcache *pymt__tc_self(void) {
    pymt__tcache *tc = pymt__tc.tc;
    return pymt__likely(tc != NULL) ? tc : &pymt__tc_new;
}

/* The live caches, a list under the global lock (tcache.c adds and removes them; the trimmers
 * and the statistics walk it), and what exited threads left to the counters. */
typedef struct pymt__tc_registry {
    pymt__tcache *head;      /* the live caches */
    size_t n;                /* their number */
    pymt__tcache *trim_next; /* where the next search for room starts (tcache_budget.c) */
    /* counts of exited threads, and flushes by trimmers */
    size_t gone_refills, gone_flushes, gone_published, gone_adopted;
} pymt__tc_registry;
extern PYMT__HIDDEN pymt__tc_registry pymt__tc_reg;

/* The owner's side of trim_lock: held through each slow path that touches the spares or the
 * charges. A trimmer holds it for the time it takes to give a cache's spares to the pools. */
static inline void pymt__tc_slow_lock(pymt__tcache *tc) {
    pymt__yield_lock(&tc->trim_lock);
}

static inline void pymt__tc_slow_unlock(pymt__tcache *tc) {
    pymt__yield_unlock(&tc->trim_lock);
}

/* Empty bin b completely; returns the chain and its length. */
static inline void *pymt__tc_bin_take_all(pymt__tbin *b, size_t *n) {
    void *chain = b->head;
    *n = pymt__tbin_count(b);
    b->head = NULL;
    pymt__tbin_set_count(b, 0);
    return chain;
}

/* Take the spare magazine of class c; returns the chain and its length. */
static inline void *pymt__tc_spare_take(pymt__tcache *tc, unsigned c, size_t *n) {
    void *chain = tc->spare[c];
    *n = pymt__load_relaxed(&tc->spare_count[c]);
    tc->spare[c] = NULL;
    pymt__store_relaxed(&tc->spare_count[c], 0);
    return chain;
}

/* One more on a counter only its owner writes (stats read it). */
static inline void pymt__tc_bump(_Atomic size_t *c) {
    pymt__store_relaxed(c, pymt__load_relaxed(c) + 1);
}

/* The largest bound of class c's magazine: about 8 KiB of a small class, 64 KiB of a medium
 * one, within 16 (4 for medium) .. 256 blocks; a table filled by pymt__tcache_init. */
extern PYMT__HIDDEN uint16_t pymt__tc_max_table[PYMT__NBINS];
static inline uint32_t pymt__tc_class_max(unsigned c) {
    pymt__assert(pymt__tc_max_table[c] != 0);
    return pymt__tc_max_table[c];
}
/* A magazine bound of max doubled, up to class c's largest (how bins and the hardened
 * magazines grow). */
static inline uint32_t pymt__tc_doubled(unsigned c, uint32_t max) {
    uint32_t top = pymt__tc_class_max(c);
    return 2 * max < top ? 2 * max : top;
}
/* Set the calling thread's cache up and put it on the registry. Returns the record, or the
 * stand-in for a thread that does not cache. */
pymt__tcache *pymt__tc_setup(void);
/* The calling thread's cache for a free of p (class c), set up on first use; NULL when the
 * thread cannot cache, and then p has gone straight to its pool. */
pymt__tcache *pymt__tc_cache_for_free(void *p, unsigned c);
/* Send a chain of n blocks of class c from tc away (depot, else pools); returns its bytes. */
size_t pymt__tc_chain_give_back(pymt__tcache *tc, unsigned c, void *chain, size_t n);
/* The chain of n blocks of size bytes (a full bin about to leave its thread) in address order,
 * lowest first, when fewer than three quarters of its neighbours lie within four blocks of
 * each other; else as it is, and as it is too when three quarters of the 32 neighbours nearest
 * its head do. Returns its head. Chains of more than PYMT__TC_ORDER_MAX blocks, chains of a
 * medium class, chains spread over 64 GiB or more, and every chain in the hardened mode, stay
 * as they are (tcache_order.c). */
#define PYMT__TC_ORDER_MAX 256
void *pymt__tc_chain_order(void *chain, size_t n, size_t size);
/* The bound a bin starts from: 16 (2 for a medium class), or less when the share is small. */
uint32_t pymt__tc_start_max(unsigned c);

/* ---- the budget (tcache_budget.c); the owner's calls hold its trim_lock ------------------- */

/* Set the budget and whether it grows with the heap (init). */
void pymt__tc_budget_init(size_t budget, bool grows);
/* The number of live caches the shares divide the budget by (global lock held). */
void pymt__tc_set_live(size_t n);
/* Charge tc more bytes, reserving from the budget what its reservation lacks; false, nothing
 * charged, when the budget has no room even after trimming caches over their share. */
bool pymt__tc_charge_more(pymt__tcache *tc, size_t more);
/* Charge the bin of class c for holding blocks blocks; false, nothing changed, when the
 * budget has no room for more. */
bool pymt__tc_bin_charge_set(pymt__tcache *tc, unsigned c, size_t blocks);
/* Take the spare of class c and its charge off tc. */
void *pymt__tc_spare_take_charged(pymt__tcache *tc, unsigned c, size_t *n);
/* Keep tc's charge within its share (class c, in use, last). */
void pymt__tc_keep_share(pymt__tcache *tc, unsigned c);
/* Grow the bound of class c's bin at a slow-path visit, as far as the share and budget allow. */
void pymt__tc_bin_grow(pymt__tcache *tc, unsigned c);
/* Charge the got - 1 blocks of a batch an empty bin of class c takes, keeping what the budget
 * has room for; returns the blocks chain holds now. */
size_t pymt__tc_batch_fit(pymt__tcache *tc, unsigned c, void *chain, size_t got);
/* A slow-path visit for class c: the sweep's step, and the share kept. */
void pymt__tc_visit(pymt__tcache *tc, unsigned c);
/* Drop every charge of tc and give its whole reservation back (its magazines emptied). */
void pymt__tc_uncharge_all(pymt__tcache *tc);
/* The sum of the live caches' reservations (the validator). */
size_t pymt__tc_reserved_total(void);
/* In the fork child: the reservations are the surviving thread's alone (global lock held). */
void pymt__tc_budget_atfork_child(size_t reserved);

#endif /* PYMT_TCACHE_OWN_H */

/* tcache_harden.c: the hardened mode's magazines (tcache.c's opening comment has their design):
 * one encoded, checked chain per small class in place of the bin and its spare, filled from
 * the depot or the pools and emptied half at a time, with every link checked as it is
 * followed and every block's free marker checked on malloc and on free. */
#include "tcache_own.h"

static const char tc_where[] = "this thread's cache";

/* Is p on the chain of n blocks of class c? Stops at a link that fails its check. */
static bool hmag_holds(void *chain, size_t n, unsigned c, const void *p) {
    for (void *b = chain; b != NULL && n-- > 0; b = pymt__link_get(b)) {
        if (!pymt__block_ok(b, c))
            return false;
        if (b == p)
            return true;
    }
    return false;
}

/* call of block p of class c, whose free marker is set: say where it already is, and stop. */
PYMT__NOINLINE PYMT__COLD static void harden_double_free(pymt__tcache *tc, const char *call,
                                                         void *p, unsigned c) {
    const char *where = "a thread's cache or the depot (its free marker is set)";
    if (tc->state == PYMT__TC_ACTIVE &&
        hmag_holds(tc->hmag[c], pymt__load_relaxed(&tc->hmag_count[c]), c, p)) {
        where = tc_where;
    } else {
        pymt__core_lock();
        if (pymt__pool_lists_block_locked(p))
            where = "its pool's free list";
        pymt__core_unlock();
    }
    pymt__harden_double_free(call, p, c, where);
}

void pymt__tcache_harden_check_live(const char *call, void *p) {
    unsigned c = pymt__block_class(p);
    if (pymt__unlikely(!pymt__block_aligned(p, c)))
        pymt__harden_bad_pointer(call, p, c);
    if (pymt__unlikely(!pymt__block_carved(p)))
        pymt__harden_uncarved(call, p, c);
    if (pymt__unlikely(pymt__blk_peek(p, 1) == pymt__harden_tag(p)))
        harden_double_free(pymt__tc_self(), call, p, c);
}

/* Fill the empty magazine of class c: a depot batch, else a batch from the pools. */
static bool hmag_refill(pymt__tcache *tc, unsigned c) {
    uint32_t max = tc->hmag_max[c];
    if (max < pymt__tc_class_max(c))
        tc->hmag_max[c] = (uint16_t)pymt__tc_doubled(c, max);
    max = tc->hmag_max[c];
    size_t got;
    void *chain = pymt__depot_take(c, &got);
    if (chain != NULL) {
        pymt__tc_bump(&tc->adopted);
    } else {
        chain = pymt__pool_take(c, max, 2 * (size_t)max, &got);
        if (chain == NULL)
            return false; /* errno ENOMEM set by the pool core */
    }
    pymt__tc_bump(&tc->refills);
    tc->hmag[c] = chain;
    pymt__store_relaxed(&tc->hmag_count[c], (uint32_t)got);
    return true;
}

/* harden_malloc with an empty magazine: set the cache up on first use, refill it, then pop;
 * a thread that cannot cache gets one block from the pools. */
PYMT__NOINLINE PYMT__COLD static void *harden_malloc_slow(size_t n) {
    unsigned c = pymt__size_to_class(n);
    pymt__tcache *tc = pymt__tc_self();
    if (tc->state == PYMT__TC_NEW)
        tc = pymt__tc_setup();
    if (tc->state != PYMT__TC_ACTIVE) {
        void *p = pymt__pool_alloc_one(c); /* checked, and cleared, by the core */
        if (p != NULL)
            PYMT_TRACK_ALLOC(p, n);
        return p;
    }
    if (!hmag_refill(tc, c))
        return NULL;
    return pymt__tcache_harden_malloc(n);
}

void *pymt__tcache_harden_malloc(size_t n) {
    unsigned c = pymt__size_to_class(n);
    pymt__tcache *tc = pymt__tc_self();
    void *p = tc->hmag[c];
    if (pymt__unlikely(p == NULL))
        return harden_malloc_slow(n);
    uintptr_t m = pymt__harden_mix(p);
    uint32_t left = pymt__load_relaxed(&tc->hmag_count[c]) - 1;
    void *next = pymt__harden_dec_m(m, pymt__blk_get(p, 0));
    /* the chain ends exactly where its count does */
    if (pymt__unlikely(next != NULL ? left == 0 || !pymt__block_ok(next, c) : left != 0))
        pymt__harden_bad_link(p, c, next, tc_where);
    if (pymt__unlikely(pymt__blk_get(p, 1) != pymt__harden_tag_m(m)))
        pymt__harden_bad_marker(p, c, tc_where);
    tc->hmag[c] = next;
    pymt__store_relaxed(&tc->hmag_count[c], left);
    pymt__harden_clear(p);
    PYMT_TRACK_ALLOC(p, n);
    return p;
}

/* harden_free when the thread has no active cache, or its magazine is full: set the cache up
 * on first use, or give p to its pool; send the newest blocks of a full magazine away; then
 * push p. p has passed harden_free's checks. */
PYMT__NOINLINE PYMT__COLD static void harden_free_slow(void *p, unsigned c) {
    pymt__tcache *tc = pymt__tc_cache_for_free(p, c);
    if (tc == NULL)
        return;
    uint32_t count = pymt__load_relaxed(&tc->hmag_count[c]);
    uint32_t max = tc->hmag_max[c];
    /* a thread that keeps freeing this class earns a bigger magazine, as a bin does */
    if (count >= 2 * max && max < pymt__tc_class_max(c)) {
        tc->hmag_max[c] = (uint16_t)pymt__tc_doubled(c, max);
        max = tc->hmag_max[c];
    }
    if (count >= 2 * max) {
        /* the newest max blocks leave whole, while they are still in the CPU cache: walk (and
         * check) them to cut the chain there */
        void *first = tc->hmag[c], *last = first;
        for (uint32_t i = 1; i < max; i++) {
            void *next = pymt__harden_dec(last, pymt__blk_get(last, 0));
            if (next == NULL || !pymt__block_ok(next, c))
                pymt__harden_bad_link(last, c, next, tc_where);
            last = next;
        }
        void *rest = pymt__harden_dec(last, pymt__blk_get(last, 0));
        if (rest == NULL || !pymt__block_ok(rest, c))
            pymt__harden_bad_link(last, c, rest, tc_where);
        pymt__blk_set(last, 0, pymt__harden_enc(last, NULL));
        tc->hmag[c] = rest;
        count -= max;
        pymt__store_relaxed(&tc->hmag_count[c], count);
        (void)pymt__tc_chain_give_back(tc, c, first, max);
    }
    PYMT_TRACK_FREE(p, pymt__class_to_size(c));
    pymt__blk_set(p, 0, pymt__harden_enc(p, tc->hmag[c]));
    pymt__harden_mark(p);
    tc->hmag[c] = p;
    pymt__store_relaxed(&tc->hmag_count[c], count + 1);
}

void pymt__tcache_harden_free(void *p) {
    pymt__tcache *tc = pymt__tc_self();
    unsigned c = pymt__block_class(p); /* p is in an arena: the caller looked it up */
    uintptr_t m = pymt__harden_mix(p);
    if (pymt__unlikely(!pymt__block_aligned(p, c)))
        pymt__harden_bad_pointer("free", p, c);
    if (pymt__unlikely(!pymt__block_carved(p)))
        pymt__harden_uncarved("free", p, c);
    if (pymt__unlikely(pymt__blk_get(p, 1) == pymt__harden_tag_m(m)))
        harden_double_free(tc, "free", p, c);
    uint32_t count = pymt__load_relaxed(&tc->hmag_count[c]);
    /* a thread without an active cache has max 0, so it takes the slow path too */
    if (pymt__unlikely(count >= 2 * (uint32_t)tc->hmag_max[c])) {
        harden_free_slow(p, c);
        return;
    }
    PYMT_TRACK_FREE(p, pymt__class_to_size(c));
    pymt__blk_set(p, 0, pymt__harden_enc_m(m, tc->hmag[c]));
    pymt__blk_set(p, 1, pymt__harden_tag_m(m));
    tc->hmag[c] = p;
    pymt__store_relaxed(&tc->hmag_count[c], count + 1);
}


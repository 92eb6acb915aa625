/* tcache_stats.c: the thread caches seen from outside (tcache.h): the counts and bytes the
 * statistics sum over the registry of live caches and what exited threads left, and the
 * validator of one cache. Readers hold the global lock, which keeps the registry still; the
 * counts a cache's owner changes meanwhile are read relaxed. */
#include "tcache_own.h"

/* Bytes tc holds in its bins and spares (stats, under the core lock). */
static size_t held_bytes(const pymt__tcache *tc) {
    size_t b = 0;
    for (unsigned c = 0; c < PYMT__NBINS; c++)
        b += (pymt__tbin_count(&tc->bins[c]) + pymt__load_relaxed(&tc->spare_count[c])) *
             pymt__class_to_size(c);
    return b;
}


void pymt__tcache_counts_locked(size_t cached[PYMT__NBINS], size_t *threads, size_t *large,
                                size_t *large_cached_bytes) {
    intptr_t big = pymt__load_relaxed(&pymt__large_global);
    size_t kept = 0;
    for (unsigned c = 0; c < PYMT__NBINS; c++)
        cached[c] = 0;
    for (pymt__tcache *tc = pymt__tc_reg.head; tc != NULL; tc = tc->next) {
        for (unsigned c = 0; c < PYMT__NBINS; c++)
            cached[c] += pymt__tbin_count(&tc->bins[c]) +
                         pymt__load_relaxed(&tc->spare_count[c]);
        big += pymt__load_relaxed(&tc->large_delta);
        kept += pymt__load_relaxed(&tc->large.bytes);
    }
    *large_cached_bytes = kept;
    *threads = pymt__tc_reg.n;
    *large = big > 0 ? (size_t)big : 0;
}

size_t pymt__tcache_bytes_locked(size_t *big, size_t nbig) {
    size_t total = 0;
    for (size_t i = 0; i < nbig; i++)
        big[i] = 0;
    for (pymt__tcache *tc = pymt__tc_reg.head; tc != NULL; tc = tc->next) {
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
    size_t r = pymt__tc_reg.gone_refills, f = pymt__tc_reg.gone_flushes, p = pymt__tc_reg.gone_published, a = pymt__tc_reg.gone_adopted;
    for (pymt__tcache *tc = pymt__tc_reg.head; tc != NULL; tc = tc->next) {
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
           tc->reserved <= pymt__tc_reserved_total();
}

const pymt__tcache *pymt__tcache_self(void) {
    return pymt__tc_self();
}

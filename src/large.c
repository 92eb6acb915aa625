/* large.c: object memory above the threshold. pymalloc hands these to the system allocator,
 * and so does pymt, with one addition: a thread keeps up to PYMT__LARGE_SLOTS recently freed
 * blocks of LARGE_MIN..LARGE_MAX usable bytes (at most the budget in all, PYMT_LARGE_CACHE,
 * default 2 MiB) and serves a later request from one when it fits with at most a quarter to
 * spare.
 *
 * Why: with the small objects in pymt's pools, the system heap holds only the big blocks, so
 * freeing one often leaves a free top chunk above glibc's trim threshold, which glibc returns
 * to the kernel, only to take and fault in the same pages again at the next allocation. A kept
 * block is not freed, so the heap top does not shrink under a program that keeps coming back
 * for the same sizes (docs/design.md, "Large blocks", has the figures).
 *
 * A kept block is in use as far as glibc knows, so it can sit right after a block the program
 * grows with realloc and force glibc to move that block instead of growing it in place. A
 * realloc that grows a large block therefore gives the kept blocks back first.
 *
 * A cache is its owner's, except that pymt_trim, called by another thread, takes what an idle
 * thread's cache keeps (pymt__large_trim): so the owner holds the cache's lock around each use
 * of its slots (an uncontended exchange, on the paths of blocks of LARGE_MIN bytes and more
 * only), and the trimmer only tries it.
 *
 * Replacement is first in, first out. AddressSanitizer and Valgrind builds keep nothing, so
 * those tools see every free of a big block when the program makes it. The caller passes its
 * own thread's cache, or NULL. */
#include "large.h"

#include <string.h>

#include "track.h"

#define LARGE_MIN ((size_t)32 << 10) /* below: glibc's bins reuse memory well already */
#define LARGE_MAX ((size_t)1 << 20)  /* above: a mapping of its own; not worth holding */

/* PYMT__TRACK_ASAN (track.h) recognises ASan under gcc and clang alike. */
#if PYMT__TRACK_ASAN || PYMT_CONFIG_VALGRIND
static const bool large_cache_built = false;
#else
static const bool large_cache_built = true;
#endif

static size_t large_budget; /* set once by init */

void pymt__large_init(size_t budget) {
    large_budget = large_cache_built ? budget : 0;
}

/* Empty slot i and return its block. */
static void *slot_take(pymt__large_cache *lc, unsigned i) {
    pymt__large_slot *s = &lc->slot[i];
    void *p = s->p;
    pymt__store_relaxed(&lc->bytes, pymt__load_relaxed(&lc->bytes) - s->size);
    s->p = NULL;
    s->size = 0;
    return p;
}

static void slot_release(pymt__large_cache *lc, unsigned i) {
    pymt__sys_free(slot_take(lc, i));
}

void *pymt__large_malloc(pymt__large_cache *lc, size_t n, bool zero) {
    if (lc != NULL && n >= LARGE_MIN && n <= LARGE_MAX && pymt__load_relaxed(&lc->bytes) != 0) {
        /* the smallest kept block that fits with at most a quarter to spare */
        void *p = NULL;
        unsigned best = PYMT__LARGE_SLOTS;
        pymt__yield_lock(&lc->lock);
        for (unsigned i = 0; i < PYMT__LARGE_SLOTS; i++) {
            size_t sz = lc->slot[i].size;
            if (lc->slot[i].p != NULL && sz >= n && sz - n <= n / 4 &&
                (best == PYMT__LARGE_SLOTS || sz < lc->slot[best].size))
                best = i;
        }
        if (best < PYMT__LARGE_SLOTS)
            p = slot_take(lc, best);
        pymt__yield_unlock(&lc->lock);
        if (p != NULL) {
            if (zero)
                memset(p, 0, n);
            return p;
        }
    }
    return zero ? pymt__sys_calloc(1, n) : pymt__sys_malloc(n);
}

void pymt__large_free(pymt__large_cache *lc, void *p) {
    size_t limit = lc != NULL ? large_budget : 0;
    size_t size = limit != 0 ? pymt__sys_usable_size(p) : 0;
    if (size < LARGE_MIN || size > LARGE_MAX || size > limit) {
        pymt__sys_free(p);
        return;
    }
    /* the oldest slot makes room; older blocks go too while the total is over the budget */
    pymt__yield_lock(&lc->lock);
    unsigned i = lc->next;
    lc->next = (i + 1) % PYMT__LARGE_SLOTS;
    if (lc->slot[i].p != NULL)
        slot_release(lc, i);
    for (unsigned k = 1; k < PYMT__LARGE_SLOTS && pymt__load_relaxed(&lc->bytes) + size > limit;
         k++) {
        unsigned j = (i + k) % PYMT__LARGE_SLOTS;
        if (lc->slot[j].p != NULL)
            slot_release(lc, j);
    }
    lc->slot[i].p = p;
    lc->slot[i].size = size;
    pymt__store_relaxed(&lc->bytes, pymt__load_relaxed(&lc->bytes) + size);
    pymt__yield_unlock(&lc->lock);
}

void *pymt__large_realloc(pymt__large_cache *lc, void *p, size_t n) {
    /* growing: the kept blocks go back first, so glibc can merge them with free neighbours and
     * grow p where it is */
    if (lc != NULL && pymt__load_relaxed(&lc->bytes) != 0 && n > pymt__sys_usable_size(p))
        pymt__large_release_all(lc);
    return pymt__sys_realloc(p, n);
}

static void release_all_locked(pymt__large_cache *lc) {
    for (unsigned i = 0; i < PYMT__LARGE_SLOTS; i++)
        if (lc->slot[i].p != NULL)
            slot_release(lc, i);
}

void pymt__large_release_all(pymt__large_cache *lc) {
    pymt__yield_lock(&lc->lock);
    release_all_locked(lc);
    pymt__yield_unlock(&lc->lock);
}

size_t pymt__large_trim(pymt__large_cache *lc) {
    if (pymt__load_relaxed(&lc->bytes) == 0 || !pymt__yield_trylock(&lc->lock))
        return 0;
    size_t bytes = pymt__load_relaxed(&lc->bytes);
    release_all_locked(lc);
    pymt__yield_unlock(&lc->lock);
    return bytes;
}

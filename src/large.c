/* large.c: object memory above 512 bytes. pymalloc hands these to the system allocator, and so
 * does pymt, with one addition: each thread keeps up to PYMT__LARGE_SLOTS recently freed blocks
 * of LARGE_MIN..LARGE_MAX usable bytes (at most PYMT_LARGE_CACHE KiB in all, default 2 MiB)
 * and serves a later request from them when one fits with at most a quarter to spare.
 *
 * Why: with the small objects in pymt's pools, glibc's heap holds only the big blocks, so
 * freeing one often leaves a free top chunk above the trim threshold and glibc gives it back
 * to the kernel (brk), only to take and fault in the same pages again at the next allocation.
 * CPython's dict tables and list arrays of a few hundred KiB do exactly that in a loop (the
 * python_bench dict_churn workload: 258 brk calls and 19k page faults per run against 87 and
 * 4k with glibc alone). A block kept here is not freed, so the heap top never shrinks under a
 * program that keeps coming back for the same sizes.
 *
 * A kept block is in use as far as glibc knows, so it can sit right after a block the program
 * grows with realloc and force glibc to move that block instead of growing it in place, at
 * every step of the growth. A realloc that grows a large block therefore gives the kept blocks
 * back first (pymt__large_realloc).
 *
 * The slots live in the thread cache (tcache.h) and follow its life: only an ACTIVE cache
 * keeps blocks (pooling on, debug off, caches on); the thread-exit destructor,
 * pymt_thread_flush and pymt_trim give them back to the system allocator. Replacement is
 * first in, first out. AddressSanitizer and Valgrind builds keep nothing, so those tools see
 * every free of a big block when the program makes it. */
#include "large.h"

#include <string.h>

#include "tcache.h"

#define LARGE_MIN ((size_t)32 << 10) /* below: glibc's bins reuse memory well already */
#define LARGE_MAX ((size_t)1 << 20)  /* above: a mapping of its own; not worth holding */

/* PYMT__TRACK_ASAN (track.h) recognises ASan under gcc and clang alike. */
#if PYMT__TRACK_ASAN || PYMT_CONFIG_VALGRIND
static const bool large_cache_built = false;
#else
static const bool large_cache_built = true;
#endif

/* Bytes a thread may keep: 0 without thread caches (pooling off, debug mode, caches off). */
static size_t budget(void) {
    if (!large_cache_built || !pymt__opt.pooling || pymt__opt.debug || !pymt__opt.tcache)
        return 0;
    return pymt__opt.large_cache;
}

/* Empty slot i and return its block. */
static void *slot_take(pymt__tcache *tc, unsigned i) {
    pymt__large_slot *s = &tc->large[i];
    void *p = s->p;
    pymt__store_relaxed(&tc->large_bytes, pymt__load_relaxed(&tc->large_bytes) - s->size);
    s->p = NULL;
    s->size = 0;
    return p;
}

static void slot_release(pymt__tcache *tc, unsigned i) {
    pymt__sys_free(slot_take(tc, i));
}

void *pymt__large_malloc(size_t n, bool zero) {
    pymt__tcache *tc = &pymt__tc;
    if (n >= LARGE_MIN && n <= LARGE_MAX && tc->state == PYMT__TC_ACTIVE &&
        pymt__load_relaxed(&tc->large_bytes) != 0) {
        /* the smallest kept block that fits with at most a quarter to spare */
        unsigned best = PYMT__LARGE_SLOTS;
        for (unsigned i = 0; i < PYMT__LARGE_SLOTS; i++) {
            size_t sz = tc->large[i].size;
            if (tc->large[i].p != NULL && sz >= n && sz - n <= n / 4 &&
                (best == PYMT__LARGE_SLOTS || sz < tc->large[best].size))
                best = i;
        }
        if (best < PYMT__LARGE_SLOTS) {
            void *p = slot_take(tc, best);
            if (zero)
                memset(p, 0, n);
            pymt__tcache_count_large(1);
            return p;
        }
    }
    void *p = zero ? pymt__sys_calloc(1, n) : pymt__sys_malloc(n);
    if (p != NULL && pymt__opt.pooling)
        pymt__tcache_count_large(1);
    return p;
}

void pymt__large_free(void *p) {
    if (pymt__opt.pooling)
        pymt__tcache_count_large(-1);
    size_t limit = budget();
    size_t size = limit != 0 ? pymt__sys_usable_size(p) : 0;
    pymt__tcache *tc;
    if (size < LARGE_MIN || size > LARGE_MAX || size > limit ||
        (tc = pymt__tcache_active()) == NULL) {
        pymt__sys_free(p);
        return;
    }
    /* the oldest slot makes room; older blocks go too while the total is over the budget */
    unsigned i = tc->large_next;
    tc->large_next = (i + 1) % PYMT__LARGE_SLOTS;
    if (tc->large[i].p != NULL)
        slot_release(tc, i);
    for (unsigned k = 1; k < PYMT__LARGE_SLOTS &&
                         pymt__load_relaxed(&tc->large_bytes) + size > limit; k++) {
        unsigned j = (i + k) % PYMT__LARGE_SLOTS;
        if (tc->large[j].p != NULL)
            slot_release(tc, j);
    }
    tc->large[i].p = p;
    tc->large[i].size = size;
    pymt__store_relaxed(&tc->large_bytes, pymt__load_relaxed(&tc->large_bytes) + size);
}

void *pymt__large_realloc(void *p, size_t n) {
    pymt__tcache *tc = &pymt__tc;
    /* Growing: the kept blocks go back first, so glibc can merge them with free neighbours and
     * grow p where it is. A kept block next to p made it move instead (json_roundtrip: 31 M
     * instructions of copying in glibc's realloc, against 2 M with glibc alone). */
    if (pymt__load_relaxed(&tc->large_bytes) != 0 && tc->state == PYMT__TC_ACTIVE &&
        n > pymt__sys_usable_size(p))
        pymt__large_release_all(tc);
    return pymt__sys_realloc(p, n);
}

void pymt__large_release_all(pymt__tcache *tc) {
    for (unsigned i = 0; i < PYMT__LARGE_SLOTS; i++)
        if (tc->large[i].p != NULL)
            slot_release(tc, i);
}

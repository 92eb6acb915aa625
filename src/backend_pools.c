/* backend_pools.c: object memory on the pools, as four backends.
 *   pools         1..512 bytes from the pools, and with the medium tier on 513..262144 bytes
 *                 from its arenas (medium.h), through the calling thread's cache (tcache.h:
 *                 pop and push, refill and overflow on a miss); 0 bytes are served as 1; larger
 *                 requests from the system allocator behind the thread's large-block cache
 *                 (large.c).
 *   pools_locked  the same blocks without thread caches: one core-lock acquisition per small
 *                 call (PYMT_TCACHE=0, and under the debug backend, whose blocks must not sit
 *                 in caches it cannot see); medium blocks one class-lock acquisition per call.
 *   hardened      pools through the thread's hardened magazines (the medium tier is off) (tcache.c: encoded, checked
 *                 links; double frees and frees of interior pointers stop the program), and
 *                 realloc refuses a pool block that is already free or not a block start
 *   hardened_locked  pools_locked with that realloc check (the pool core checks the rest)
 * The pool core's own checks follow the hardened mode (pymt__hardened), whichever table calls
 * it: init sets the two together.
 * "Pool block" below means a block of either tier: free and realloc tell it from a large one
 * by its pool tag (lock-free, arena.h), which is also its class. realloc keeps a
 * pool block in place when the new size fits its class and shrinks it by less than a quarter
 * (pymalloc's rule), and otherwise moves it, across both thresholds in both directions. Large
 * blocks are counted (pymt_stats.large_in_use) per thread. */
#include "backend.h"

#include <string.h>

typedef struct pools_ops {
    void *(*small_alloc)(size_t n);  /* 1 <= n <= pymt__medium_max */
    void (*small_free)(void *p);     /* a pool block */
    pymt__large_cache *(*large_cache)(void);
} pools_ops;

/* ---- the two ways to a pool block ---------------------------------------------------------- */

static void *cached_small_alloc(size_t n) {
    void *p = pymt__tcache_pop(pymt__size_class(n), n);
    if (pymt__likely(p != NULL))
        return p;
    return pymt__tcache_refill(n);
}
static void cached_small_free(void *p) {
    if (pymt__likely(pymt__tcache_push(p, pymt__block_class(p))))
        return;
    pymt__tcache_overflow(p);
}

static void *locked_small_alloc(size_t n) {
    void *p = pymt__block_alloc_one(pymt__size_class(n));
    if (p != NULL)
        PYMT_TRACK_ALLOC(p, n);
    return p;
}
static void locked_small_free(void *p) {
    PYMT_TRACK_FREE(p, pymt__class_to_size(pymt__block_class(p)));
    pymt__block_free_one(p);
}
static pymt__large_cache *no_large_cache(void) {
    return NULL;
}

static const pools_ops ops_cached = {cached_small_alloc, cached_small_free,
                                     pymt__tcache_large_cache};
static const pools_ops ops_locked = {locked_small_alloc, locked_small_free, no_large_cache};
static const pools_ops ops_hardened = {pymt__tcache_harden_malloc, pymt__tcache_harden_free,
                                       pymt__tcache_large_cache};

/* ---- large blocks -------------------------------------------------------------------------- */

static void *large_alloc(const pools_ops *ops, size_t n, bool zero) {
    void *p = pymt__large_malloc(ops->large_cache(), n, zero);
    if (p != NULL)
        pymt__tcache_count_large(1);
    return p;
}
static void large_release(const pools_ops *ops, void *p) {
    pymt__tcache_count_large(-1);
    pymt__large_free(ops->large_cache(), p);
}

/* 1..the medium ceiling bytes (0 served as 1) from the pools, zeroed if asked. When the pools
 * cannot serve it because pymt's arena range is full, the system allocator does, as pymalloc
 * hands a request it cannot serve from an arena to the raw allocator: from then on it is a
 * large block, which free, realloc and usable size tell by its address. NULL (errno ENOMEM)
 * when the kernel or RLIMIT_AS refused. */
static void *pool_alloc(const pools_ops *ops, size_t n, bool zero) {
    size_t want = n ? n : 1;
    void *p = ops->small_alloc(want);
    if (pymt__unlikely(p == NULL))
        return pymt__arena_range_full() ? large_alloc(ops, want, zero) : NULL;
    if (zero)
        memset(p, 0, want);
    return p;
}

/* ---- the table entries --------------------------------------------------------------------- */

static void *pools_malloc(void *ctx, size_t n) {
    const pools_ops *ops = ctx;
    if (n > pymt__medium_limit())
        return large_alloc(ops, n, false);
    return pool_alloc(ops, n, false);
}

static void *pools_calloc(void *ctx, size_t nelem, size_t elsize) {
    const pools_ops *ops = ctx;
    size_t n = nelem * elsize; /* checked by the caller */
    if (n > pymt__medium_limit())
        return large_alloc(ops, n, true);
    return pool_alloc(ops, n, true);
}

static void pools_free(void *ctx, void *p) {
    const pools_ops *ops = ctx;
    if (pymt__arena_lookup(p))
        ops->small_free(p);
    else if (p != NULL)
        large_release(ops, p);
}

static void *pools_realloc(void *ctx, void *p, size_t n) {
    const pools_ops *ops = ctx;
    if (p == NULL)
        return pools_malloc(ctx, n);
    if (pymt__arena_lookup(p)) {
        size_t size = pymt__class_to_size(pymt__block_class(p));
        size_t want = n ? n : 1;
        if (pymt__realloc_keeps(want, size)) {
            PYMT_TRACK_RESIZE(p, size, want);
            return p;
        }
        size_t target = pymt__realloc_target(want, size);
        void *q = pools_malloc(ctx, target);
        if (q == NULL)
            return NULL;
        PYMT_TRACK_RESIZE(q, target, want);
        PYMT_TRACK_OPEN(p, size); /* the copy reads past the old request */
        memcpy(q, p, want < size ? want : size);
        ops->small_free(p);
        return q;
    }
    if (n > pymt__medium_limit())
        return pymt__large_realloc(ops->large_cache(), p, n);
    /* a large block shrinking under the threshold moves into the pools (or, with the range
     * full, stays with the system allocator) */
    void *q = ops->small_alloc(n ? n : 1);
    if (q == NULL)
        return pymt__arena_range_full() ? pymt__large_realloc(ops->large_cache(), p, n) : NULL;
    size_t have = pymt__sys_usable_size(p);
    memcpy(q, p, n < have ? n : have);
    large_release(ops, p);
    return q;
}

/* The hardened tables. malloc and free go to the hardened magazines directly for the sizes
 * they serve (what pools_malloc and pools_free would do through ops_hardened, one indirect
 * call fewer); realloc first makes sure a pool block is live and a block start (a freed one
 * would be kept in place or copied, then freed again). */
static void *hardened_malloc(void *ctx, size_t n) {
    if (n - 1 < PYMT__SMALL_MAX) {
        void *p = pymt__tcache_harden_malloc(n);
        if (pymt__unlikely(p == NULL) && pymt__arena_range_full())
            return large_alloc(ctx, n, false); /* as pool_alloc does */
        return p;
    }
    return pools_malloc(ctx, n);
}
/* Stop call(p) of a pointer that is in no pool in use but lies in the arena range: the
 * range is pymt's reservation, so such a pointer cannot be the system allocator's, and its
 * free would hand glibc a chunk header made of whatever the block below holds. */
static void hardened_check_range(const char *call, const void *p) {
    uintptr_t off = (uintptr_t)p - pymt__load_relaxed(&pymt__range_base);
    if (pymt__unlikely(off < pymt__arena_range_bytes()))
        pymt__harden_not_in_pool(call, p);
}
static void hardened_free(void *ctx, void *p) {
    if (pymt__arena_lookup(p)) {
        pymt__tcache_harden_free(p);
        return;
    }
    hardened_check_range("free", p);
    pools_free(ctx, p);
}
/* The caches off: the pool core checks the blocks; this checks the rest. */
static void hardened_locked_free(void *ctx, void *p) {
    if (!pymt__arena_lookup(p))
        hardened_check_range("free", p);
    pools_free(ctx, p);
}
static void *hardened_realloc(void *ctx, void *p, size_t n) {
    if (pymt__arena_lookup(p))
        pymt__tcache_harden_check_live("realloc", p);
    else
        hardened_check_range("realloc", p);
    return pools_realloc(ctx, p, n);
}

static size_t pools_usable(void *ctx, const void *p) {
    (void)ctx;
    if (p == NULL)
        return 0;
    if (!pymt__arena_lookup(p))
        return pymt__sys_usable_size(p);
    size_t n = pymt__class_to_size(pymt__block_class(p));
    PYMT_TRACK_USABLE(p, n); /* the program may now use all n bytes */
    return n;
}

const pymt__backend pymt__backend_pools = {(void *)&ops_cached, pools_malloc, pools_calloc,
                                           pools_realloc, pools_free, pools_usable};
const pymt__backend pymt__backend_pools_locked = {(void *)&ops_locked, pools_malloc,
                                                  pools_calloc, pools_realloc, pools_free,
                                                  pools_usable};
const pymt__backend pymt__backend_hardened = {(void *)&ops_hardened, hardened_malloc,
                                              pools_calloc, hardened_realloc, hardened_free,
                                              pools_usable};
const pymt__backend pymt__backend_hardened_locked = {(void *)&ops_locked, pools_malloc,
                                                     pools_calloc, hardened_realloc,
                                                     hardened_locked_free, pools_usable};

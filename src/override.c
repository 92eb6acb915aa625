/* override.c: the drop-in malloc: the whole C allocation interface served by pymt, built into
 * libpymt-malloc.so (the library's own objects plus this file) for
 * LD_PRELOAD=libpymt-malloc.so any-program.
 *
 *   request                               served by
 *   malloc/calloc <= 512 bytes            the pools (pymt's object memory, thread caches)
 *   malloc/calloc 513 B..256 KiB          the medium tier (the same, while PYMT_MEDIUM is on)
 *   malloc/calloc larger                  glibc (__libc_malloc / __libc_calloc) directly
 *   alignment <= 16 (posix_memalign...)   as malloc: every pymt and glibc block is 16-aligned
 *   alignment > 16                        glibc's __libc_memalign
 *   free(p), p in a pymt arena            the pools
 *   free(p), any other p                  glibc's __libc_free: blocks from glibc, including
 *                                         those allocated before the preload took effect
 *   realloc(p), p in a pymt arena         kept by pymalloc's rule (fits, shrinks < 25%), else
 *                                         moved (to glibc above the pools' ceiling)
 *   realloc(p), any other p               glibc's __libc_realloc (the block stays on glibc)
 *   malloc_usable_size                    the size class, or glibc's chunk size
 *   malloc_trim                           pymt_trim, then glibc's own malloc_trim
 * C++: libstdc++'s operator new/delete call malloc/free, and its aligned new calls
 * aligned_alloc (checked with GCC 12's libstdc++), so no operator is defined here.
 *
 * The entry points inline object memory's fast paths (tcache.h pop and push). A miss goes to
 * the drop-in's backend tables (init.h; backend.h has the wiring): pools in the default mode,
 * pools_locked with PYMT_TCACHE=0, sys with PYMT_MALLOC=malloc, and in debug mode the debug
 * backend of the C library family for every size: guards, double free, use after free and
 * foreign pointers are caught and reported as for pymt's own families, while a pointer outside
 * pymt's arenas that was never a debug block (glibc's, from before pymt initialised) is handed
 * back to glibc. Blocks aligned above 16 bytes come from glibc unchecked; pymt says so on
 * stderr when the drop-in starts in debug mode.
 * The system allocator reaches glibc through its __libc_* entry points (sys.c), switched on
 * by this file's first call, before pymt initialises; it never comes back here.
 *
 * Safety: pymt initialises itself on the first call and never calls malloc while doing so,
 * and nothing here calls dlsym (malloc_trim's lookup of glibc's waits for the program's first
 * malloc_trim), so allocations made by the dynamic loader and by constructors before main are
 * served like any other. pymt registers pthread_atfork handlers when it is loaded, so a child
 * of a threaded parent finds every lock free. Nothing here takes a lock of its own. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "init.h"
#include "os.h"

#define PRELOAD_API __attribute__((visibility("default")))

/* Is a a power of two (a != 0)? */
static inline int preload_pow2(size_t a) {
    return a != 0 && (a & (a - 1)) == 0;
}

static inline void preload_ensure_init(void) {
    if (pymt__unlikely(!pymt__initialized()))
        pymt__init_for_override();
}

/* ---- the pool side: object memory's fast paths, inlined; misses through the table ---------- */

PYMT__NOINLINE static void *preload_small_slow(size_t n) {
    preload_ensure_init();
    return pymt__table_override->malloc(pymt__table_override->ctx, n);
}

/* A block for 0 <= n <= 512 (or a glibc block when pooling is off); 0 always misses, and the
 * table makes it unique and non-NULL, as glibc does (the debug backend guards it). */
static inline void *preload_small(size_t n) {
    void *p = pymt__tcache_pop_small(n);
    if (pymt__likely(p != NULL))
        return p;
    return preload_small_slow(n);
}

PYMT__NOINLINE static void preload_pool_free_slow(void *p) {
    preload_ensure_init();
    pymt__table_override->free(pymt__table_override->ctx, p);
}

/* Free a block of one of pymt's pools (p lies in an arena). */
static inline void preload_pool_free(void *p) {
    if (pymt__unlikely(!pymt__tcache_push(p, pymt__block_class(p))))
        preload_pool_free_slow(p);
}

/* A block for 513 <= n <= pymt__medium_max: the medium tier. */
static inline void *preload_medium(size_t n) {
    void *p = pymt__tcache_pop(pymt__size_to_medium_class(n), n);
    if (pymt__likely(p != NULL))
        return p;
    return preload_small_slow(n);
}

/* Requests above the tiers: glibc (through its own entry points), or the debug backend. */
PYMT__NOINLINE static void *preload_large_malloc(size_t n) {
    preload_ensure_init();
    return pymt__table_override_large->malloc(pymt__table_override_large->ctx, n);
}
/* The same tables say whether the drop-in is in a mode where one table serves every size
 * (debug, malloc): then realloc and usable size go through it too. */
static inline bool preload_one_table(void) {
    return pymt__table_override == pymt__table_override_large;
}
PYMT__NOINLINE static void *preload_sys_memalign(size_t alignment, size_t n) {
    preload_ensure_init();
    return pymt__sys_memalign(alignment, n);
}

/* Small and medium requests to the pools (pymt__medium_max is 512 until init, and with the
 * tier off); large ones straight to glibc (in the default mode), not through
 * pymt's object memory, which counts its large blocks: free() cannot tell such a block from
 * one glibc handed out before the preload, so the count would only grow. */
static inline void *preload_malloc(size_t n) {
    if (pymt__likely(n <= PYMT__SMALL_MAX))
        return preload_small(n);
    if (n <= pymt__medium_limit())
        return preload_medium(n);
    return preload_large_malloc(n);
}

/* Aligned allocation for any power-of-two alignment (callers validated it). */
static void *preload_aligned(size_t alignment, size_t n) {
    if (alignment <= PYMT_ALIGNMENT)
        return preload_malloc(n);
    return preload_sys_memalign(alignment, n);
}

PYMT__FAST_ENTRY PRELOAD_API void *malloc(size_t n) {
    return preload_malloc(n);
}

/* Free a block from outside pymt's arenas (glibc's, or the debug backend's). Out of line, so
 * that free()'s pool path needs no stack frame. */
PYMT__NOINLINE static void preload_foreign_free(void *p) {
    preload_ensure_init(); /* the system allocator must be glibc's own before any call */
    pymt__table_override_large->free(pymt__table_override_large->ctx, p);
}

/* free() when the bin of p's pool tag refused it: a pool block whose bin is full, or anything
 * else (tag 0), NULL included. */
PYMT__NOINLINE static void preload_free_miss(void *p) {
    if (pymt__arena_lookup(p))
        preload_pool_free_slow(p);
    else if (p)
        preload_foreign_free(p);
}

PYMT__FAST_ENTRY PRELOAD_API void free(void *p) {
    if (pymt__likely(pymt__tcache_push_tagged(p, pymt__pool_tag(p))))
        return;
    preload_free_miss(p);
}

/* calloc past its fast path: an overflow, a size above the tiers, an empty bin. */
PYMT__NOINLINE static void *preload_calloc_slow(size_t nelem, size_t elsize) {
    size_t n;
    if (__builtin_mul_overflow(nelem, elsize, &n)) {
        errno = ENOMEM;
        return NULL;
    }
    preload_ensure_init();
    if (n > pymt__medium_limit()) /* glibc skips zeroing fresh mmapped memory */
        return pymt__table_override_large->calloc(pymt__table_override_large->ctx, nelem, elsize);
    return pymt__table_override->calloc(pymt__table_override->ctx, nelem, elsize);
}

PRELOAD_API void *calloc(size_t nelem, size_t elsize) {
    size_t n;
    if (pymt__likely(!__builtin_mul_overflow(nelem, elsize, &n) && n <= pymt__medium_limit())) {
        size_t want = n ? n : 1;
        void *p = pymt__tcache_pop(pymt__size_class(want), want);
        if (pymt__likely(p != NULL))
            return __builtin_memset(p, 0, want);
    }
    return preload_calloc_slow(nelem, elsize);
}

/* realloc of a pool block p (pool tag tag) that does not stay in place. */
PYMT__NOINLINE static void *preload_realloc_move(void *p, size_t n, unsigned tag) {
    size_t have = pymt__class_to_size(pymt__tag_class(tag));
    void *q = preload_malloc(pymt__realloc_target(n, have));
    if (!q)
        return NULL;
    __builtin_memcpy(q, p, n < have ? n : have);
    preload_pool_free(p);
    return q;
}

/* realloc past its fast path: NULL, size 0, anything not a pool block, another mode. */
PYMT__NOINLINE static void *preload_realloc_slow(void *p, size_t n) {
    if (!p)
        return preload_malloc(n);
    if (n == 0) {
        /* glibc's behaviour: realloc(p, 0) frees p and returns NULL. */
        free(p);
        return NULL;
    }
    preload_ensure_init();
    if (preload_one_table())
        return pymt__table_override->realloc(pymt__table_override->ctx, p, n);
    unsigned tag = pymt__pool_tag(p);
    if (tag == 0)
        return pymt__table_override_large->realloc(pymt__table_override_large->ctx, p, n);
    /* the hardened mode's bins have bound 0, so each of its reallocs comes here: the checks of
     * the hardened backend's realloc, before p is kept or copied */
    if (pymt__hardened)
        pymt__tcache_harden_check_live("realloc", p);
    if (pymt__realloc_keeps(n, pymt__class_to_size(pymt__tag_class(tag))))
        return p;
    return preload_realloc_move(p, n, tag);
}

PRELOAD_API void *realloc(void *p, size_t n) {
    /* A pool block while pymt's tables are in force (the bins have a bound): keep it when n
     * still fits and shrinks it by less than a quarter (the pymalloc rule), otherwise move it
     * (to glibc above the tiers). */
    unsigned tag = pymt__pool_tag(p);
    if (pymt__likely(tag != 0 && n != 0)) {
        unsigned c = pymt__tag_class(tag);
        if (pymt__likely(pymt__tbin_max(pymt__tcache_bin(c)) != 0)) {
            if (pymt__realloc_keeps(n, pymt__class_to_size(c)))
                return p;
            return preload_realloc_move(p, n, tag);
        }
    }
    return preload_realloc_slow(p, n);
}

PRELOAD_API void *reallocarray(void *p, size_t nelem, size_t elsize) {
    size_t n;
    if (__builtin_mul_overflow(nelem, elsize, &n)) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc(p, n);
}

PRELOAD_API int posix_memalign(void **memptr, size_t alignment, size_t n) {
    if (!preload_pow2(alignment) || alignment % sizeof(void *) != 0)
        return EINVAL;
    int saved = errno;
    void *p = preload_aligned(alignment, n);
    if (!p) {
        errno = saved; /* posix_memalign reports through its result, not errno */
        return ENOMEM;
    }
    *memptr = p;
    return 0;
}

PRELOAD_API void *aligned_alloc(size_t alignment, size_t n) {
    /* C17 7.22.3.1: an alignment the implementation does not support fails. */
    if (!preload_pow2(alignment)) {
        errno = EINVAL;
        return NULL;
    }
    return preload_aligned(alignment, n);
}

PRELOAD_API void *memalign(size_t alignment, size_t n) {
    /* glibc's rules: a small alignment is malloc's, a non-power of two is rounded up. */
    if (alignment <= PYMT_ALIGNMENT)
        return preload_malloc(n);
    if (!preload_pow2(alignment)) {
        if (alignment > SIZE_MAX / 2 + 1) {
            errno = EINVAL;
            return NULL;
        }
        size_t a = PYMT_ALIGNMENT;
        while (a < alignment)
            a <<= 1;
        alignment = a;
    }
    return preload_sys_memalign(alignment, n);
}

PRELOAD_API void *valloc(size_t n) {
    return preload_sys_memalign(pymt__os_page_size(), n);
}

PRELOAD_API void *pvalloc(size_t n) {
    size_t page = pymt__os_page_size();
    if (n > SIZE_MAX - (page - 1)) {
        errno = ENOMEM;
        return NULL;
    }
    size_t rounded = (n + page - 1) & ~(page - 1);
    return preload_sys_memalign(page, rounded ? rounded : page);
}

/* pymt's memory first (pymt_trim: the depots, this thread's cache, wholly free arenas, the
 * free pages inside medium blocks), then glibc's heaps, which hold the big blocks and what was
 * allocated before the preload (glibc's own malloc_trim). 1 when either says it gave memory
 * back; pymt_trim counts every arena it unmaps and every page it discards. */
PRELOAD_API int malloc_trim(size_t pad) {
    preload_ensure_init();
    int pools = pymt_trim() != 0;
    int glibc = pymt__sys_trim(pad);
    return pools || glibc;
}

PRELOAD_API size_t malloc_usable_size(void *p) {
    if (!p)
        return 0;
    preload_ensure_init();
    unsigned tag = pymt__pool_tag(p);
    if (tag != 0 && !preload_one_table())
        return pymt__class_to_size(pymt__tag_class(tag));
    return pymt__table_override_large->usable(pymt__table_override_large->ctx, p);
}

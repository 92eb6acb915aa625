/* preload.c: libpymt-malloc.so, the whole C allocation interface served by pymt, for
 * LD_PRELOAD=libpymt-malloc.so any-program.
 *
 * The library is pymt's own sources built with PYMT_SYS_LIBC=1 (sysalloc.c then reaches glibc
 * through __libc_malloc/__libc_free/... and never through the malloc defined here) plus this
 * file, which defines the standard names:
 *
 *   request                               served by
 *   malloc/calloc <= 512 bytes            the pools (pymt's object memory, thread caches)
 *   malloc/calloc > 512 bytes             glibc (__libc_malloc / __libc_calloc) directly
 *   alignment <= 16 (posix_memalign...)   as malloc: every pymt and glibc block is 16-aligned
 *   alignment > 16                        glibc's __libc_memalign (pymt__sys_memalign)
 *   free(p), p in a pymt arena            the pools
 *   free(p), any other p                  glibc's __libc_free: blocks from glibc, including
 *                                         those allocated before the preload took effect
 *   realloc(p), p in a pymt arena         kept by pymalloc's rule (fits, shrinks < 25%), else
 *                                         moved (to glibc above 512)
 *   realloc(p), any other p               glibc's __libc_realloc (the block stays on glibc)
 *   malloc_usable_size                    the size class, or glibc's chunk size
 * C++: libstdc++'s operator new/delete call malloc/free, and its aligned new calls
 * aligned_alloc (checked with GCC 12's libstdc++), so no operator is defined here.
 *
 * The entry points inline pymt's thread-cache fast path (tcache.h), as pymt_object_malloc and
 * pymt_object_free do. PYMT_MALLOC=debug adds no checks here: free() also receives glibc
 * blocks, which carry no debug header, so in debug mode the pool blocks come from pymt's
 * object memory without the debug layer (the _nodebug internals, one lock per call).
 * PYMT_MALLOC=malloc (pooling off) sends everything to glibc; PYMT_TCACHE=0 works as usual.
 *
 * Safety: pymt initialises itself on the first call and never calls malloc while doing so,
 * and nothing here calls dlsym, so allocations made by the dynamic loader and by constructors
 * before main are served like any other. pymt registers pthread_atfork handlers at init, so a
 * child of a threaded parent finds every lock free. Nothing here takes a lock of its own. */
#include "internal.h"

#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "arena.h"
#include "pool.h"
#include "tcache.h"

#define PRELOAD_API __attribute__((visibility("default")))

/* Is a a power of two (a != 0)? */
static inline int preload_pow2(size_t a) {
    return a != 0 && (a & (a - 1)) == 0;
}

/* glibc's usable size of one of its own blocks, read from the chunk header as glibc's
 * malloc_usable_size does (glibc 2.26 .. 2.40 without memory tagging): the size word sits
 * just below the block; bit 1 marks an mmapped chunk, whose header is two words, and the
 * low three bits are flags. glibc has no __libc_ name for this function, and calling
 * malloc_usable_size would come back here. */
static size_t preload_glibc_usable(const void *p) {
    size_t head = ((const size_t *)p)[-1];
    size_t chunk = head & ~(size_t)7;
    if (head & 2)
        return chunk - 2 * sizeof(size_t);
    return chunk - sizeof(size_t);
}

/* ---- the pool side: pymt's thread-cache fast path, inlined ----------------------------------
 * The fast paths are pymt_object_malloc/free's own (tcache.h). Their misses go to the _slow
 * functions below, which are also where debug mode is told apart: there the thread caches are
 * never filled (every call misses), and blocks come from pymt's object memory without the
 * debug layer, because free() here also receives glibc blocks, which carry no debug header. */

PYMT__NOINLINE static void *preload_small_slow(size_t n) {
    pymt__ensure_init();
    if (pymt__unlikely(pymt__opt.debug))
        return pymt__objmem_malloc_nodebug(n);
    return pymt__tcache_alloc_slow(n);
}

/* A block for 1 <= n <= 512 (or a glibc block when pooling is off). */
static inline void *preload_small(size_t n) {
    void *p = pymt__tcache_pop(pymt__size_to_class(n), n);
    if (pymt__likely(p != NULL))
        return p;
    return preload_small_slow(n);
}

PYMT__NOINLINE static void preload_pool_free_slow(void *p) {
    if (pymt__unlikely(pymt__opt.debug))
        pymt__objmem_free_nodebug(p);
    else
        pymt__tcache_free_slow(p);
}

/* Free a block of one of pymt's pools (p lies in an arena). */
static inline void preload_pool_free(void *p) {
    if (pymt__unlikely(!pymt__tcache_push(p, pymt__block_class(p))))
        preload_pool_free_slow(p);
}

/* Small requests to the pools; large ones straight to glibc, not through pymt's object
 * memory, which counts its large blocks: free() cannot tell such a block from one glibc
 * handed out before the preload, so the count would only grow. */
static inline void *preload_malloc(size_t n) {
    if (n - 1 < PYMT__SMALL_MAX) /* 1..512 */
        return preload_small(n);
    if (n == 0)
        return preload_small(1); /* unique and non-NULL, as glibc's */
    return pymt__sys_malloc(n);
}

/* Aligned allocation for any power-of-two alignment (callers validated it). */
static void *preload_aligned(size_t alignment, size_t n) {
    if (alignment <= PYMT_ALIGNMENT)
        return preload_malloc(n);
    return pymt__sys_memalign(alignment, n);
}

PRELOAD_API void *malloc(size_t n) {
    return preload_malloc(n);
}

PRELOAD_API void free(void *p) {
    if (pymt__arena_lookup(p)) /* false for NULL */
        preload_pool_free(p);
    else if (p)
        pymt__sys_free(p);
}

PRELOAD_API void *calloc(size_t nelem, size_t elsize) {
    size_t n;
    if (pymt__unlikely(__builtin_mul_overflow(nelem, elsize, &n))) {
        errno = ENOMEM;
        return NULL;
    }
    if (n > PYMT__SMALL_MAX)
        return pymt__sys_calloc(nelem, elsize); /* glibc skips zeroing fresh mmapped memory */
    void *p = preload_malloc(n);
    if (p)
        __builtin_memset(p, 0, n);
    return p;
}

PRELOAD_API void *realloc(void *p, size_t n) {
    if (!p)
        return preload_malloc(n);
    if (n == 0) {
        /* glibc's behaviour: realloc(p, 0) frees p and returns NULL. */
        free(p);
        return NULL;
    }
    if (!pymt__arena_lookup(p))
        return pymt__sys_realloc(p, n);
    /* A pool block: keep it when n still fits and shrinks it by less than a quarter (the
     * pymalloc rule), otherwise move it (to glibc when n > 512). */
    size_t have = pymt__class_to_size(pymt__block_class(p));
    if (n <= have && 4 * n > 3 * have)
        return p;
    void *q = preload_malloc(n);
    if (!q)
        return NULL;
    __builtin_memcpy(q, p, n < have ? n : have);
    preload_pool_free(p);
    return q;
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
    return pymt__sys_memalign(alignment, n);
}

PRELOAD_API void *valloc(size_t n) {
    return pymt__sys_memalign((size_t)sysconf(_SC_PAGESIZE), n);
}

PRELOAD_API void *pvalloc(size_t n) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    if (n > SIZE_MAX - (page - 1)) {
        errno = ENOMEM;
        return NULL;
    }
    size_t rounded = (n + page - 1) & ~(page - 1);
    return pymt__sys_memalign(page, rounded ? rounded : page);
}

PRELOAD_API size_t malloc_usable_size(void *p) {
    if (!p)
        return 0;
    if (pymt__arena_lookup(p))
        return pymt__class_to_size(pymt__block_class(p));
    return preload_glibc_usable(p);
}

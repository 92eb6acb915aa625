/* internal.h: what every layer of pymt shares: build-time configuration as constants, the
 * geometry of pools and arenas, size classes, assertions and branch hints. The structures
 * several layers share are in types.h; each layer's functions are in that layer's header.
 *
 * Geometry (64-bit, the pymalloc numbers):
 *   arena: 1 MiB, 1 MiB-aligned, 64 pools of 16 KiB; pool and arena of a block by masking.
 *   pool:  48-byte header, then blocks of one size class (16..512 bytes, 32 classes).
 * The medium tier (medium.c) adds 36 classes above pymalloc's, 513 bytes to 256 KiB, four per
 * doubling; a medium arena is one run of blocks of one medium class (medium.h).
 * Nothing here allocates, locks or talks to the kernel. */
#ifndef PYMT_INTERNAL_H
#define PYMT_INTERNAL_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pymt/pymt.h"

/* ---- configuration: constants, so every configuration compiles every line ---------------- */
#ifndef PYMT_CONFIG_DEBUG
#define PYMT_CONFIG_DEBUG 0
#endif
#ifndef PYMT_CONFIG_NO_POOLING
#define PYMT_CONFIG_NO_POOLING 0
#endif
#ifndef PYMT_CONFIG_VALGRIND
#define PYMT_CONFIG_VALGRIND 0
#endif
#ifndef PYMT_CONFIG_HARDEN
#define PYMT_CONFIG_HARDEN 0
#endif
#ifndef PYMT_CONFIG_NO_MEDIUM
#define PYMT_CONFIG_NO_MEDIUM 0
#endif
static const bool pymt__config_debug = PYMT_CONFIG_DEBUG;
static const bool pymt__config_pooling = !PYMT_CONFIG_NO_POOLING;
static const bool pymt__config_harden = PYMT_CONFIG_HARDEN; /* the hardened mode by default */
static const bool pymt__config_medium = !PYMT_CONFIG_NO_MEDIUM; /* the medium tier by default */

#define pymt__likely(x) __builtin_expect(!!(x), 1)
#define pymt__unlikely(x) __builtin_expect(!!(x), 0)
#define PYMT__NOINLINE __attribute__((noinline))
/* On a variable the fast paths read: defined in this module, so a position-independent load of
 * it is one RIP-relative instruction rather than a GOT load and then the load. */
#define PYMT__HIDDEN __attribute__((visibility("hidden")))
#define PYMT__COLD __attribute__((cold))
/* On the exported fast paths (malloc and free of object memory and of the drop-in): each
 * starts a cache line of its own. Left to the linker, where they land moves with every change
 * elsewhere in the library, and with it their speed: the same instructions ran the hot pair
 * and churn at 0.95-0.97x after an unrelated change moved them by 16 bytes, 1.00-1.02x once
 * aligned (6 interleaved rounds each). */
#define PYMT__FAST_ENTRY __attribute__((aligned(64)))
#define PYMT__TLS __thread __attribute__((tls_model("initial-exec")))

/* Ask for the cache line of p in a state this thread may write, without waiting for it and
 * without faulting (p may be NULL or anything). x86-64 spells it out, as GCC emits the write
 * hint only under -mprfchw and otherwise falls back to a read prefetch. prefetchw (0F 0D /1)
 * is a hint that does not fault where CPUID does not list it (MSVC emits it unconditionally,
 * and Windows 10 requires it of every x86-64 processor); there it may do less. */
static inline void pymt__prefetch_write(const void *p) {
#if defined(__x86_64__)
    __asm__ volatile("prefetchw (%0)" : : "r"(p));
#else
    __builtin_prefetch(p, 1, 3);
#endif
}

/* Ask for the cache line of p for reading, without waiting for it and without faulting. */
static inline void pymt__prefetch_read(const void *p) {
    __builtin_prefetch(p, 0, 3);
}

/* Assertions: on in the debug preset, nothing in release. pymt__assert_expensive runs a
 * validator (a bool function that walks a structure: pymt__pool_check_locked and friends); it
 * is evaluated only in the debug preset, where it may cost time proportional to the heap. */
void pymt__assert_fail(const char *expr, const char *file, int line) __attribute__((noreturn));
#define pymt__assert(cond)                                                                   \
    do {                                                                                     \
        if (pymt__config_debug && pymt__unlikely(!(cond)))                                   \
            pymt__assert_fail(#cond, __FILE__, __LINE__);                                    \
    } while (0)
#define pymt__assert_expensive(check) pymt__assert(check)

/* ---- geometry ------------------------------------------------------------------------------ */
#define PYMT__ALIGNMENT_SHIFT 4
#define PYMT__ALIGNMENT (1u << PYMT__ALIGNMENT_SHIFT)
#define PYMT__SMALL_MAX 512u
#define PYMT__NCLASSES (PYMT__SMALL_MAX >> PYMT__ALIGNMENT_SHIFT)
#define PYMT__MEDIUM_MAX 262144u /* the medium tier's ceiling: 256 KiB */
#define PYMT__NMEDIUM 36u        /* its classes: 640, 768, 896, 1024, 1280, ... 229376, 262144 */
#define PYMT__NBINS (PYMT__NCLASSES + PYMT__NMEDIUM) /* small classes, then medium ones */
#define PYMT__POOL_BITS 14
#define PYMT__POOL_SIZE ((size_t)1 << PYMT__POOL_BITS) /* 16 KiB */
#define PYMT__POOL_MASK (PYMT__POOL_SIZE - 1)
#define PYMT__ARENA_BITS 20
#define PYMT__ARENA_SIZE ((size_t)1 << PYMT__ARENA_BITS) /* 1 MiB */
#define PYMT__ARENA_MASK (PYMT__ARENA_SIZE - 1)
#define PYMT__POOLS_PER_ARENA (PYMT__ARENA_SIZE / PYMT__POOL_SIZE) /* 64 */

_Static_assert(PYMT__ALIGNMENT == PYMT_ALIGNMENT, "public and internal alignment agree");
_Static_assert(PYMT__SMALL_MAX == PYMT_SMALL_REQUEST_THRESHOLD, "threshold agrees");
_Static_assert(PYMT__NCLASSES == PYMT_NUM_SIZE_CLASSES, "class count agrees");
_Static_assert(PYMT__SMALL_MAX % PYMT__ALIGNMENT == 0, "threshold is a multiple of alignment");
_Static_assert(PYMT__POOL_SIZE % PYMT__ALIGNMENT == 0, "pools hold whole aligned blocks");
_Static_assert(PYMT__ARENA_SIZE % PYMT__POOL_SIZE == 0, "arenas hold whole pools");
_Static_assert(PYMT__POOLS_PER_ARENA == 64, "pool bitmaps are one 64-bit word");
_Static_assert(PYMT__NMEDIUM == PYMT_NUM_MEDIUM_CLASSES, "medium class count agrees");
_Static_assert(PYMT__MEDIUM_MAX == PYMT_MEDIUM_REQUEST_THRESHOLD, "medium ceiling agrees");

/* Request size (1..512) -> class; class -> block size. 0 is served as 1. */
static inline unsigned pymt__size_to_class(size_t n) {
    return (unsigned)((n - 1) >> PYMT__ALIGNMENT_SHIFT);
}
/* Request size (513..262144) -> medium class (32..67): four classes per doubling, each the
 * next multiple of a quarter of the power of two below it: 513..640 -> 32 (640 bytes),
 * 641..768 -> 33, ..., 897..1024 -> 35, 1025..1280 -> 36, ..., 229377..262144 -> 67. */
static inline unsigned pymt__size_to_medium_class(size_t n) {
    size_t m = n - 1;                                  /* 512..262143 */
    unsigned e = 63u - (unsigned)__builtin_clzll(m);   /* 9..17 */
    return PYMT__NCLASSES + 4u * (e - 9u) + (unsigned)(m >> (e - 2u)) - 4u;
}
/* Request size (1..262144) -> class, small or medium. */
static inline unsigned pymt__size_class(size_t n) {
    return n <= PYMT__SMALL_MAX ? pymt__size_to_class(n) : pymt__size_to_medium_class(n);
}
/* Any class (small or medium) -> block size. */
static inline size_t pymt__class_to_size(unsigned c) {
    if (pymt__likely(c < PYMT__NCLASSES))
        return (size_t)(c + 1) << PYMT__ALIGNMENT_SHIFT;
    unsigned i = c - PYMT__NCLASSES;
    return (size_t)(5u + (i & 3u)) << (7u + (i >> 2));
}
/* Does a pool block of size bytes (its class's) stay in place for a request of want (1..)
 * bytes? When it fits and shrinks the block by less than a quarter in the small tier
 * (pymalloc's rule), by less than half in the medium tier (as tcmalloc's and mimalloc's
 * realloc): a medium block a growing realloc placed with half its size to spare
 * (pymt__realloc_target) keeps its place while it grows into it. */
static inline bool pymt__realloc_keeps(size_t want, size_t size) {
    return want <= size && 4 * want > (size > PYMT__SMALL_MAX ? 2 : 3) * size;
}

/* nelem * elsize for a calloc: false, with errno ENOMEM, when it overflows or exceeds
 * PTRDIFF_MAX (the limit every pymt size obeys). */
static inline bool pymt__calloc_size(size_t nelem, size_t elsize, size_t *n) {
    if (__builtin_mul_overflow(nelem, elsize, n) || *n > PTRDIFF_MAX) {
        errno = ENOMEM;
        return false;
    }
    return true;
}

/* ---- families (debug reports and the debug header tag) ------------------------------------ */
enum pymt__family {
    PYMT__FAM_RAW = 1,    /* pymt_mem_* */
    PYMT__FAM_OBJMEM = 2, /* pymt_object_malloc/calloc/realloc/free */
    PYMT__FAM_OBJECT = 3, /* pymt_object_new/newvar/del */
    PYMT__FAM_MALLOC = 4  /* malloc/calloc/realloc/free of the drop-in (override.c) */
};

/* ---- base.c: process-wide helpers every layer may call ----------------------------------- */
/* Write a whole message to stderr with write(2): no stdio, no allocation. */
void pymt__write_err(const char *msg);
/* Report a fatal misuse and abort. */
void pymt__fatal(const char *msg) __attribute__((noreturn));

#endif /* PYMT_INTERNAL_H */

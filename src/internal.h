/* internal.h: what every layer of pymt shares: build-time configuration as constants, the
 * geometry of pools and arenas, assertions, branch hints, and the small internal interfaces
 * between layers (declared here so each .c file includes only this and the layers below it).
 *
 * Geometry (64-bit, the pymalloc numbers):
 *   arena: 1 MiB, 1 MiB-aligned, 64 pools of 16 KiB; pool and arena of a block by masking.
 *   pool:  48-byte header, then blocks of one size class (16..512 bytes, 32 classes).
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
static const bool pymt__config_debug = PYMT_CONFIG_DEBUG;
static const bool pymt__config_pooling = !PYMT_CONFIG_NO_POOLING;

#define pymt__likely(x) __builtin_expect(!!(x), 1)
#define pymt__unlikely(x) __builtin_expect(!!(x), 0)
#define PYMT__NOINLINE __attribute__((noinline))
#define PYMT__COLD __attribute__((cold))
#define PYMT__TLS __thread __attribute__((tls_model("initial-exec")))

/* Assertions: on in the debug preset, nothing in release. */
void pymt__assert_fail(const char *expr, const char *file, int line) __attribute__((noreturn));
#define pymt__assert(cond)                                                                   \
    do {                                                                                     \
        if (pymt__config_debug && pymt__unlikely(!(cond)))                                   \
            pymt__assert_fail(#cond, __FILE__, __LINE__);                                    \
    } while (0)

/* ---- geometry ------------------------------------------------------------------------------ */
#define PYMT__ALIGNMENT_SHIFT 4
#define PYMT__ALIGNMENT (1u << PYMT__ALIGNMENT_SHIFT)
#define PYMT__SMALL_MAX 512u
#define PYMT__NCLASSES (PYMT__SMALL_MAX >> PYMT__ALIGNMENT_SHIFT)
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

/* Request size (1..512) -> class; class -> block size. 0 is served as 1. */
static inline unsigned pymt__size_to_class(size_t n) {
    return (unsigned)((n - 1) >> PYMT__ALIGNMENT_SHIFT);
}
static inline size_t pymt__class_to_size(unsigned c) {
    return (size_t)(c + 1) << PYMT__ALIGNMENT_SHIFT;
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
    PYMT__FAM_OBJECT = 3  /* pymt_object_new/newvar/del */
};
const char *pymt__family_name(int family);

/* ---- options (options.c), read once by init ------------------------------------------------ */
typedef struct pymt__options {
    pymt_mode mode;
    bool pooling;        /* mode is PYMALLOC or PYMALLOC_DEBUG */
    bool debug;          /* mode is one of the _DEBUG ones */
    bool tcache;         /* per-thread caches on */
    bool stats_at_exit;  /* PYMT_STATS=1 */
    bool debug_backtrace;/* PYMT_DEBUG_BACKTRACE=1 */
    const char *debug_log; /* PYMT_DEBUG_LOG, or NULL (points into the environment) */
    unsigned arena_reserve; /* wholly free arenas kept mapped (PYMT_ARENA_RESERVE) */
    size_t large_cache;     /* bytes of freed large blocks a thread keeps (PYMT_LARGE_CACHE) */
    bool hugepages;         /* arenas in huge-page-advised pairs (PYMT_HUGEPAGES) */
} pymt__options;
extern pymt__options pymt__opt;
void pymt__options_read(pymt__options *o);

/* ---- init.c ---------------------------------------------------------------------------------- */
/* Non-zero once pymt__init_slow has finished; acquire-load before trusting pymt__opt. */
bool pymt__initialized(void);
void pymt__init_slow(void);
static inline void pymt__ensure_init(void) {
    if (pymt__unlikely(!pymt__initialized()))
        pymt__init_slow();
}
/* Set by pymt_set_tcache before init (-1: not set). */
extern int pymt__tcache_request;
extern int pymt__hugepages_request; /* pymt_set_hugepages before init: -1 none, else 0/1 */
/* Write a whole message to stderr with write(2): no stdio, no allocation. */
void pymt__write_err(const char *msg);
/* Report a fatal misuse (mismatched free seen by the release build) and abort. */
void pymt__fatal(const char *msg) __attribute__((noreturn));

/* ---- sysalloc.c: the system allocator, the only way pymt reaches it ------------------------ */
/* Built with PYMT_SYS_LIBC=1 (the preload library) these call glibc's __libc_* entry points so
 * a preloaded pymt never recurses into itself. */
void *pymt__sys_malloc(size_t n);
void *pymt__sys_calloc(size_t nelem, size_t elsize);
void *pymt__sys_realloc(void *p, size_t n);
void pymt__sys_free(void *p);
void *pymt__sys_memalign(size_t alignment, size_t n);
size_t pymt__sys_usable_size(const void *p);

/* ---- the pool side, as the API and debug layers see it (api_objmem.c) --------------------- */
/* True when p lies inside one of pymt's arenas (lock-free, safe for any pointer). */
bool pymt__is_pool_block(const void *p);
/* Object memory without debug checks: pools (via the thread cache) for n <= 512 when pooling
 * is on, the system allocator otherwise. n == 0 is served as 1. NULL + ENOMEM on failure. */
void *pymt__objmem_malloc_nodebug(size_t n);
void pymt__objmem_free_nodebug(void *p);
size_t pymt__objmem_usable_nodebug(const void *p);

/* ---- debug.c (debug.h has the details) ----------------------------------------------------- */
#include "debug.h"

#endif /* PYMT_INTERNAL_H */

/* pymt.h: the public interface of pymt, a thread-safe small-object allocator in the pymalloc line.
 *
 * Three families, as in CPython; memory from one family is freed by the same family only:
 *   raw memory     pymt_mem_*                         undistinguished chunks (system allocator)
 *   object memory  pymt_object_malloc/calloc/realloc/free  pools for requests <= 512 bytes,
 *                                                     the medium tier up to 256 KiB
 *   objects        pymt_object_new/newvar/del         typed objects on object memory
 * Every function here is thread-safe and may be called before any set-up: the library
 * initialises itself on first use, reading its environment once (PYMT_MALLOC, PYMT_TCACHE, ...).
 * Every block is aligned to 16 bytes. Standard headers only: no ConcurrencyKit, no internals. */
#ifndef PYMT_PYMT_H
#define PYMT_PYMT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(PYMT_STATIC_DEFINE)
#define PYMT_API
#elif defined(__GNUC__)
#define PYMT_API __attribute__((visibility("default")))
#else
#define PYMT_API
#endif

#if defined(__GNUC__)
#define PYMT_MALLOC_ATTR __attribute__((malloc, warn_unused_result))
#else
#define PYMT_MALLOC_ATTR
#endif

/* Version of this header and of the library it belongs to. */
#define PYMT_VERSION_MAJOR 0
#define PYMT_VERSION_MINOR 1
#define PYMT_VERSION_PATCH 0

/* Geometry of the pools (fixed at build time; the same numbers as 64-bit pymalloc). */
#define PYMT_ALIGNMENT 16                  /* every block is aligned to this many bytes */
#define PYMT_SMALL_REQUEST_THRESHOLD 512   /* pymalloc's classes end here */
#define PYMT_NUM_SIZE_CLASSES 32           /* 16, 32, ..., 512 bytes */
/* The medium tier: 36 classes above pymalloc's, four per doubling (640, 768, 896, 1024, 1280,
 * ..., 229376, 262144 bytes), each class in 1 MiB arenas of its own (three blocks of the last
 * class fit in one). On by default for object
 * memory, objects and the drop-in malloc; off with PYMT_MEDIUM=0 in the environment or the
 * CMake option PYMT_MEDIUM=OFF, and in the hardened mode: then every request above
 * PYMT_SMALL_REQUEST_THRESHOLD goes to the system allocator, as in pymalloc. */
#define PYMT_MEDIUM_REQUEST_THRESHOLD 262144 /* larger requests go to the system allocator */
#define PYMT_NUM_MEDIUM_CLASSES 36

/* ---------------------------------------------------------------------------------------------
 * Raw memory (the PyMem_Malloc family). Backed by the system allocator in every mode.
 * Errors: NULL with errno ENOMEM on exhaustion or a size above PTRDIFF_MAX.
 * Free with pymt_mem_free only; handing a pool block to pymt_mem_free reports and aborts. */

/* Allocate n bytes (n == 0 gives a unique non-NULL pointer). Contents are undefined
 * (filled with the clean byte 0xCD in debug mode). */
PYMT_API PYMT_MALLOC_ATTR void *pymt_mem_malloc(size_t n);
/* Allocate nelem * elsize zeroed bytes; NULL + ENOMEM when the product overflows. */
PYMT_API PYMT_MALLOC_ATTR void *pymt_mem_calloc(size_t nelem, size_t elsize);
/* Resize p (from pymt_mem_*) to n bytes keeping the contents up to the smaller size.
 * realloc(NULL, n) allocates; realloc(p, 0) returns a valid minimal block. On failure p is
 * left untouched and NULL + ENOMEM is returned. */
PYMT_API void *pymt_mem_realloc(void *p, size_t n);
/* Free p from pymt_mem_*; NULL is a no-op. */
PYMT_API void pymt_mem_free(void *p);

/* ---------------------------------------------------------------------------------------------
 * Object memory (the PyObject_Malloc family). Requests of at most PYMT_SMALL_REQUEST_THRESHOLD
 * bytes come from the pools, and with the medium tier on up to PYMT_MEDIUM_REQUEST_THRESHOLD
 * from its arenas, both through a per-thread cache; larger ones from the system allocator.
 * Same contracts as the raw family: malloc(0) is unique and non-NULL, free(NULL) is a no-op,
 * errors are NULL + ENOMEM with the allocator intact. A block may be freed by any thread.
 * Free with pymt_object_free (or pymt_object_del, the same domain). */

PYMT_API PYMT_MALLOC_ATTR void *pymt_object_malloc(size_t n);
PYMT_API PYMT_MALLOC_ATTR void *pymt_object_calloc(size_t nelem, size_t elsize);
/* Resize; keeps the block in place when the new size still fits its size class and shrinks
 * it by less than a quarter (up to 512 bytes, pymalloc's rule) or by less than half (the
 * medium classes); otherwise moves it, also between the pools and the system allocator as the
 * size crosses a threshold, keeping the contents. A block of the pools that grows past its
 * class may move to a larger class than asked for, up to a quarter (up to 512 bytes) or half
 * (medium) above its old one within its tier (pymt_usable_size reports what it got), so a
 * block grown a little at a time is not copied at every class. */
PYMT_API void *pymt_object_realloc(void *p, size_t n);
PYMT_API void pymt_object_free(void *p);

/* ---------------------------------------------------------------------------------------------
 * Objects (the PyObject_New family): typed objects carved from object memory. */

/* A type: members after these three are allowed (and ignored by pymt). */
typedef struct pymt_type {
    const char *tp_name;   /* for reports */
    size_t tp_basicsize;   /* bytes of the fixed part, at least sizeof(pymt_object) */
    size_t tp_itemsize;    /* bytes per item of a variable-size object, 0 for fixed-size */
} pymt_type;

/* The head of every object. */
typedef struct pymt_object {
    intptr_t ob_refcnt;
    const pymt_type *ob_type;
} pymt_object;

/* The head of every variable-size object. */
typedef struct pymt_varobject {
    pymt_object ob_base;
    ptrdiff_t ob_size;
} pymt_varobject;

/* Allocate tp_basicsize bytes, set ob_refcnt = 1 and ob_type = type; the rest is
 * uninitialised. NULL + ENOMEM on exhaustion, NULL + EINVAL when type is NULL or its
 * basicsize is smaller than pymt_object. Free with pymt_object_del. */
PYMT_API PYMT_MALLOC_ATTR pymt_object *pymt_object_new(const pymt_type *type);
/* Allocate tp_basicsize + n * tp_itemsize bytes rounded up to PYMT_ALIGNMENT, set the head
 * as pymt_object_new does and ob_size = n. NULL + ENOMEM when n is negative or the size
 * overflows. Free with pymt_object_del. */
PYMT_API PYMT_MALLOC_ATTR pymt_varobject *pymt_object_newvar(const pymt_type *type, ptrdiff_t n);
/* Free an object from pymt_object_new/newvar (NULL is a no-op). */
PYMT_API void pymt_object_del(void *op);

/* Typed conveniences in the spirit of PyObject_New / PyObject_NewVar. */
#define PYMT_OBJECT_NEW(ctype, typeobj) ((ctype *)pymt_object_new(typeobj))
#define PYMT_OBJECT_NEWVAR(ctype, typeobj, n) ((ctype *)pymt_object_newvar((typeobj), (n)))

/* ---------------------------------------------------------------------------------------------
 * Queries and control. */

/* Usable bytes of a live block of any family (the size class for a pool block, the system
 * allocator's usable size otherwise, the requested size in debug mode); 0 for NULL. */
PYMT_API size_t pymt_usable_size(const void *p);

/* Give this thread's cached free blocks back (for a thread about to idle). Threads that
 * exit do this on their own. Thread-safe; cheap when the cache is empty. */
PYMT_API void pymt_thread_flush(void);

/* Turn the per-thread caches on (1) or off (0) before the first allocation of the process
 * (the environment variable PYMT_TCACHE does the same). Returns 0, or -1 with errno EBUSY
 * once the allocator has been used. */
PYMT_API int pymt_set_tcache(int enabled);

/* Map arenas two at a time, 2 MiB-aligned, and advise the kernel to back them with
 * transparent huge pages (1), or map them one by one (0, the default), before the first
 * allocation of the process (the environment variable PYMT_HUGEPAGES does the same). With
 * huge pages a program makes fewer TLB misses on pool memory and holds it in 2 MiB steps:
 * the first touch of a pair may make all of it resident. Returns 0, or -1 with errno EBUSY
 * once the allocator has been used. */
PYMT_API int pymt_set_hugepages(int enabled);

/* Return the memory of wholly free arenas to the OS, after draining the shared block depots,
 * the calling thread's cache, and what other threads' caches hold in their spare magazines and
 * large-block caches (a thread inside a slow path of its cache at that moment keeps it; each
 * thread's current magazines, up to half of what it caches, and in hardened mode all of its
 * magazines, are its own alone until its next slow path or pymt_thread_flush); in debug mode, after emptying the quarantine of
 * freed debug blocks, checking each. Also the pages of the free pools of arenas still in use
 * (each pool keeps its first page, which holds its header), which pymt otherwise keeps resident
 * up to PYMT_PURGE_MAX for reuse, the pages that lie wholly inside free medium blocks of
 * arenas still in use (a block keeps the page of its first 16 bytes), and the pages that an
 * arena taken back from the reserve still holds past what its new owner has carved. Returns
 * the bytes the call gave back to the OS, in any of those steps: 1 MiB for each arena unmapped
 * (whether its pages were resident or discarded before; arenas_reclaimed_total counts them)
 * and the bytes of the pages discarded from arenas still in use (pools_purged_total and
 * medium_blocks_purged_total count those pools and blocks); not what other threads give back
 * meanwhile. 0 when nothing went back. Thread-safe. */
PYMT_API size_t pymt_trim(void);

/* The mode chosen at start-up. */
typedef enum pymt_mode {
    PYMT_MODE_PYMALLOC = 0,       /* pools (default) */
    PYMT_MODE_MALLOC = 1,         /* pooling off: every family on the system allocator */
    PYMT_MODE_PYMALLOC_DEBUG = 2, /* pools plus debug checks */
    PYMT_MODE_MALLOC_DEBUG = 3    /* system allocator plus debug checks */
} pymt_mode;
PYMT_API pymt_mode pymt_get_mode(void);
/* Non-zero when the per-thread caches are in use. */
PYMT_API int pymt_tcache_enabled(void);

/* Set the memory budget of all thread caches together, in bytes (at least 64 KiB), a strict
 * bound from then on. Without it (and without PYMT_TCACHE_BYTES, which sets it at start-up)
 * the budget is 8 MiB and grows with the heap: while the arenas in use hold more than 24 MiB
 * it is a third of their bytes, at most 32 MiB. Each live thread's cache may hold the budget
 * in force divided by the number of live caches, never less than 16 KiB; a thread over its
 * share gives blocks back at its next allocation or free that misses its cache. Any time,
 * from any thread. Returns 0, or -1 with errno EINVAL when bytes is below 64 KiB. */
PYMT_API int pymt_set_tcache_budget(size_t bytes);

/* 1 when arenas are mapped for huge pages (pymt_set_hugepages, PYMT_HUGEPAGES) and pooling is
 * on, else 0. Whether the kernel gives huge pages is its choice
 * (/sys/kernel/mm/transparent_hugepage/enabled: "madvise" or "always"). */
PYMT_API int pymt_hugepages_enabled(void);

/* 1 when the medium tier serves requests of 513..PYMT_MEDIUM_REQUEST_THRESHOLD bytes of
 * object memory, objects and the drop-in malloc (the default with pooling on; PYMT_MEDIUM=0,
 * the CMake option PYMT_MEDIUM=OFF and the hardened mode turn it off), else 0. */
PYMT_API int pymt_medium_enabled(void);

/* 1 when the hardened mode is on (PYMT_HARDEN=1 in the environment, or a library built with
 * the CMake option PYMT_HARDEN=ON, and pooling on), else 0. In the hardened mode the free lists
 * of the pools, the thread caches and the depot hold their links encoded with a per-process
 * secret and checked when followed, each free block carries a marker that catches a second
 * free, and pool headers carry a canary; a failed check writes one line to stderr ("pymt:
 * fatal: hardened mode: ...", naming the block and its size class) and aborts. It costs time
 * on every allocation and free of object memory (docs/hardening.md). */
PYMT_API int pymt_hardened_enabled(void);

/* ---------------------------------------------------------------------------------------------
 * Statistics. Counters are exact when no other thread is allocating; while threads run they
 * are a consistent-enough snapshot (each counter read atomically, not all at one instant).
 * Block accounting: for each class, blocks_total (carved into pools) ==
 *   blocks_in_use + blocks_cached + blocks_depot + blocks_free.                              */

typedef struct pymt_class_stats {
    size_t block_size;     /* bytes per block */
    size_t pools;          /* pools currently assigned to this class */
    size_t blocks_total;   /* blocks those pools hold (carved or not) */
    size_t blocks_in_use;  /* held by the program (in debug mode also blocks held in the
                              debug quarantine: pymt_stats.debug_quarantine_blocks) */
    size_t blocks_cached;  /* in per-thread caches */
    size_t blocks_depot;   /* in the lock-free depots */
    size_t blocks_free;    /* free inside the pools (free lists and not yet carved) */
} pymt_class_stats;

typedef struct pymt_stats {
    size_t struct_size;            /* filled in: sizeof the struct as this library knows it */
    pymt_mode mode;
    int tcache_enabled;
    pymt_class_stats classes[PYMT_NUM_SIZE_CLASSES];
    /* arenas */
    size_t arenas_current;         /* arenas mapped now (in use plus reserve) */
    size_t arenas_reserve;         /* wholly free arenas kept mapped for reuse */
    size_t arenas_allocated_total; /* arenas ever taken from the OS */
    size_t arenas_reclaimed_total; /* arenas ever given back to the OS */
    size_t arenas_highwater;       /* most arenas mapped at once */
    size_t pools_free;             /* empty pools inside arenas */
    /* bytes */
    size_t bytes_in_use;           /* pool blocks held by the program, at block size */
    size_t bytes_cached;           /* pool blocks in thread caches and depots */
    size_t bytes_free;             /* free bytes in pools, free pools, and reserve arenas */
    size_t bytes_overhead;         /* pool headers, tails too small for a block, metadata */
    size_t bytes_mapped;           /* arena bytes mapped from the OS */
    /* system-allocator side */
    size_t large_in_use;           /* blocks of the object family living on the system allocator */
    /* concurrency */
    size_t lock_acquisitions;      /* times a core lock or a medium class lock was taken */
    size_t tcache_refills;         /* batches a thread cache took from the core */
    size_t tcache_flushes;         /* batches a thread cache gave to the core */
    size_t handoffs_published;     /* batches and arenas pushed on the lock-free stacks */
    size_t handoffs_adopted;       /* batches and arenas taken from them */
    size_t threads_cached;         /* threads with a live cache */
    /* debug mode (0 otherwise) */
    size_t debug_blocks_raw;       /* live debug blocks, raw memory */
    size_t debug_blocks_objmem;    /* live debug blocks, object memory */
    size_t debug_blocks_object;    /* live debug blocks, objects */
    /* newer fields come last: a caller built against an older header passes a smaller
     * struct_size and is not written past it */
    size_t large_cached_bytes;     /* freed large object-memory blocks that thread caches keep
                                      for reuse (PYMT_LARGE_CACHE); pymt_trim frees them
                                      (another thread's unless it is using its cache then) */
    /* debug mode (0 otherwise): freed blocks the quarantine still holds, to catch a use after
     * free. Their memory is not back in the pools yet, so the per-class blocks_in_use and
     * bytes_in_use above include them; debug_blocks_* above do not. */
    size_t debug_quarantine_blocks;
    size_t debug_quarantine_bytes; /* their bytes, decorations (header, guards, frames) included */
    /* the thread caches' memory budget (PYMT_TCACHE_BYTES, pymt_set_tcache_budget) */
    size_t tcache_budget;          /* bytes all thread caches together may hold now (the
                                      budget in force: pymt_set_tcache_budget) */
    size_t tcache_share;           /* each live cache's share of it now */
    size_t tcache_bytes;           /* bytes they hold now (blocks at block size) */
    size_t tcache_bytes_max;       /* the most one live cache holds */
    size_t depot_bytes;            /* bytes in the depot, all classes */
    /* the pool cores: each a lock and its own arenas; the threads are spread over them */
    size_t pool_cores;             /* how many (PYMT_CORES; 0 when pooling is off) */
    size_t lock_contended;         /* core-lock acquisitions that found the lock busy and waited
                                      (a trylock failed first) */
    /* the medium tier (pymt_medium_enabled): per class as classes[], where pools counts the
     * class's arenas; all zero when the tier is off. The totals above (bytes_*, pools_free
     * aside) include these blocks. */
    pymt_class_stats medium_classes[PYMT_NUM_MEDIUM_CLASSES];
    size_t medium_arenas_empty;    /* wholly free medium arenas kept for reuse (pymt_trim
                                      releases them) */
    /* free pools of arenas in use whose pages went back to the kernel (PYMT_PURGE_MAX), and
     * those of them taken again later, each a refault of its pages, since the start: both
     * rising together, run after run, say the heap swings by more than the pools kept (the
     * bound learns the swing from the second, up to PYMT_PURGE_MAX) */
    size_t pools_purged_total;
    size_t pools_refaulted_total;
    /* the same for the free medium blocks of 16 KiB and up in arenas still in use (their own
     * bound, also from PYMT_PURGE_MAX), and pymt_trim's purges of free medium blocks of any
     * class: blocks whose pages went back, and those of them taken again, since the start */
    size_t medium_blocks_purged_total;
    size_t medium_blocks_refaulted_total;
    /* the depot alone (handoffs_* above also count arenas reused from the reserve): batches
     * of free blocks thread caches published on it (a full magazine, an exiting thread's) and
     * batches they adopted from it, since the start; 0 without thread caches */
    size_t depot_batches_published;
    size_t depot_batches_adopted;
} pymt_stats;

/* Fill *out (whose size the caller passes, for compatibility across versions: only the first
 * min(struct_size, sizeof(pymt_stats)) bytes are written). A struct_size that ends inside the
 * layout of the headers whose medium ceiling was 16 KiB (20 medium rows, then
 * medium_arenas_empty, pools_purged_total and pools_refaulted_total) gets that layout: those
 * three fields follow the 20th row (the totals still count every class). Returns 0, or -1 with
 * errno EINVAL when out is NULL or struct_size is too small for the head. Thread-safe. */
PYMT_API int pymt_get_stats(pymt_stats *out, size_t struct_size);
/* Print the statistics in the spirit of sys._debugmallocstats: per size class the pools,
 * blocks in use, cached and free, then arenas and bytes. f == NULL means stderr. */
PYMT_API void pymt_print_stats(FILE *f);

/* ---------------------------------------------------------------------------------------------
 * Debug mode (PYMT_MALLOC=debug or malloc_debug). Outside debug mode these do nothing. */

/* Check the guards of every live debug block; returns the number of corrupt blocks found
 * (each also reported through the report path, without aborting). */
PYMT_API size_t pymt_check_heap(void);

/* A report hook: called with the whole report text instead of writing it and aborting.
 * If the hook returns, the offending operation is abandoned (nothing is freed) and the call
 * returns (NULL for an allocation). NULL restores the default (write, then abort). */
typedef void (*pymt_report_hook)(const char *report, size_t len, void *ctx);
PYMT_API void pymt_set_report_hook(pymt_report_hook hook, void *ctx);

#ifdef __cplusplus
}
#endif

#endif /* PYMT_PYMT_H */

/* types.h: the structures that more than one layer sees, in one place, bottom layer first:
 * an arena's record, a pool's header, a thread cache, the options, and the backend table.
 * Each layer's own header declares only that layer's functions; the structures live here so
 * a layer can hold a pointer to a lower layer's object without including anything above it.
 * Only definitions: no function, no variable, nothing that allocates or locks. */
#ifndef PYMT_TYPES_H
#define PYMT_TYPES_H

#include "atomic.h"
#include "internal.h"

/* ---- arena (arena.c) ----------------------------------------------------------------------- */
typedef struct pymt__pool pymt__pool;

enum pymt__arena_state {
    PYMT__ARENA_UNUSED = 0, /* slot without memory (on the free-slot stack or never used) */
    PYMT__ARENA_ACTIVE,     /* holds pools; owned by the core (lock) */
    PYMT__ARENA_RETIRING,   /* wholly free, unlinked; owned by the thread retiring it */
    PYMT__ARENA_RESERVE,    /* wholly free, pages discarded, on the reserve stack */
    PYMT__ARENA_MEDIUM      /* one medium class's run of blocks; owned by medium.c */
};

/* Arena metadata lives in a table of its own (never in the arena, never freed), so the lock-free
 * stacks can link these objects and a stale link never points into unmapped memory. */
typedef struct pymt__arena {
    ck_stack_entry_t link;      /* reserve / free-slot stacks; first member (see arena_of_link) */
    uintptr_t address;          /* base of the 1 MiB mapping; 0 when the slot has none */
    pymt__pool *freepools;      /* empty pools, linked through pool->nextpool (core lock) */
    uint32_t nfreepools;        /* empty pools, carved or not (core lock) */
    uint32_t ncarved;           /* pools carved so far, from the base up (core lock) */
    struct pymt__arena *nextarena, *prevarena; /* usable_arenas, ascending nfreepools */
    uint32_t index;             /* slot number in the table */
    _Atomic uint32_t state;     /* enum pymt__arena_state; relaxed: validators read it unlocked */
    uint32_t ndirty;            /* free pools whose pages are still resident (core lock) */
    uint32_t dirty_end;         /* pages below this offset may be resident past what the owner
                                   carved: what a warm arena's earlier owners carved (0: none;
                                   the owner's lock, arena.h) */
} pymt__arena;

/* ---- pool (pool.c) ------------------------------------------------------------------------- */
/* The header at the start of every pool (48 bytes: blocks start 16-byte aligned after it).
 *   pool: one size class
 *   +--------+-------+-------+-------+-- ... --+-------+------+
 *   | header | blk 0 | blk 1 | blk 2 |         | blk n | tail |   free blocks are linked through
 *   +--------+-------+-------+-------+-- ... --+-------+------+   their first word
 * szidx is written under the lock while the pool has no live block and read without the lock
 * by free(), which holds a live block of the pool, so it cannot change under that read.
 * pymalloc's maxnextoffset is not stored: it is POOL_SIZE - the class's block size, and its
 * four bytes hold the hardened mode's canary, first, where an overflow out of the last block of
 * the pool below lands before it reaches any other field (harden.h). */
struct pymt__pool {
    uint32_t canary;         /* hardened mode: pymt__harden_canary(pool); 0 otherwise */
    uint32_t szidx;          /* size class; kept while the pool is empty (reuse skips re-init) */
    uint32_t count;          /* blocks out of the pool: with the program, in caches or depots */
    uint32_t nextoffset;     /* offset of the first never-carved block */
    void *freeblock;         /* free list of blocks given back */
    pymt__pool *nextpool;    /* usedpools list, or the arena's freepools list */
    pymt__pool *prevpool;    /* usedpools list */
    pymt__arena *arena;
};
_Static_assert(sizeof(struct pymt__pool) == 48, "pool header is pymalloc's 48 bytes");

/* ---- large-block cache (large.c) ------------------------------------------------------------ */
#define PYMT__LARGE_SLOTS 8
typedef struct pymt__large_slot {
    void *p;      /* NULL: empty */
    size_t size;  /* usable size */
} pymt__large_slot;

/* Recently freed large object-memory blocks one thread keeps for reuse. The owner's, under
 * lock, which pymt_trim also tries in order to take another thread's blocks (large.c); bytes
 * (their usable bytes in all) is read by stats without it. */
typedef struct pymt__large_cache {
    pymt__large_slot slot[PYMT__LARGE_SLOTS];
    uint32_t next;              /* the slot the next kept block replaces */
    _Atomic uint32_t lock;      /* 1 while the owner or a trimmer is at the slots */
    _Atomic size_t bytes;
} pymt__large_cache;

/* ---- thread cache (tcache.c) --------------------------------------------------------------- */
/* A bin counts down its room, max - count, so a push tests and updates one word; count and max
 * (the field bound) are read and set only through tcache.h's pymt__tbin_* helpers, which keep
 * room consistent. Room is negative after a refill that brought more than max blocks. */
typedef struct pymt__tbin {
    void *head;               /* free blocks linked through word 0 (owner only) */
    _Atomic int32_t room;     /* max - blocks in the bin; written by the owner, read by stats */
    _Atomic uint32_t bound;   /* max; 0: do not cache; written by the owner, read by stats */
} pymt__tbin;

enum pymt__tcache_state {
    PYMT__TC_NEW = 0,   /* zero-initialised TLS: not set up */
    PYMT__TC_SETUP,     /* being set up (re-entrant calls go to the core) */
    PYMT__TC_ACTIVE,    /* caching */
    PYMT__TC_OFF,       /* set-up failed: no caching for this thread */
    PYMT__TC_DEAD       /* destructor ran: no caching until the thread is gone */
};

/* A thread cache is in two parts. The bins, which the inline fast paths pop and push, are in
 * the thread's TLS block (pymt__tcache_tls); the rest, used on slow paths only, is a record
 * (pymt__tcache) on pymt's own pages (records.h), set up at the thread's first slow path and
 * given back at its exit, so that the TLS block stays small enough for a library loaded with
 * dlopen (the C library's spare static TLS is a couple of KiB, shared by every such library). */
typedef struct pymt__tcache {
    pymt__tbin *bins;                   /* the owner's bins, in its TLS block */
    /* The second magazine of each class: a bin that filled up, kept whole (owner, or a trimmer
     * holding trim_lock: see below). Kept apart from bins[] so the fast path's lines stay
     * dense.
     * Hardened mode: bins[] stay empty with max 0 (the inline fast path always misses), and
     * the same words hold each class's one hardened magazine instead: hmag[c] its chain
     * (encoded links, free markers: harden.h), hmag_count[c] its length, hmag_max[c] its bound
     * (it holds up to twice that). */
    union {
        void *spare[PYMT__NBINS];
        void *hmag[PYMT__NBINS];
    };
    union { /* written by the owner, read by stats */
        _Atomic uint32_t spare_count[PYMT__NBINS];
        _Atomic uint32_t hmag_count[PYMT__NBINS];
    };
    uint16_t hmag_max[PYMT__NBINS];     /* hardened mode only; owner only */
    /* Counters written by the owner only (relaxed load + store, never a shared read-modify-
     * write), read by stats under the core lock, folded into the globals at thread exit. */
    _Atomic intptr_t large_delta;       /* large object-memory blocks allocated minus freed */
    _Atomic size_t refills, flushes;    /* batches in from depot/core, out to depot/core */
    _Atomic size_t published, adopted;  /* batches pushed on / taken from the depot */
    uint32_t state;                     /* enum pymt__tcache_state; owner only */
    struct pymt__tcache *next, *prev;   /* registry of live caches (global lock) */
    pymt__large_cache large;            /* large.c */
    /* The incremental sweep (owner only): slow-path visits so far, the visit at which each
     * class last had one, and the class the sweep looks at next. */
    uint32_t events;
    uint32_t sweep_next;
    uint32_t last_use[PYMT__NBINS];
    /* The budget (tcache_budget.c): blocks each bin is charged for, bytes charged over the bins and
     * spares, bytes reserved from the budget (at least the charge), and a request to keep to
     * the share at the next slow path. These and the spares are written by the owner in its
     * slow paths and by a trimmer (a thread taking the spares back), each holding trim_lock. */
    uint16_t bin_charge[PYMT__NBINS];
    size_t charged, reserved;
    bool trim_asked;
    _Atomic uint32_t trim_lock; /* 1 while the owner's slow path or a trimmer runs */
} pymt__tcache;

typedef struct pymt__tcache_tls {
    /* the bin of pool tag 0 (an address in the arena range but in no carved pool: the slow
     * path's to judge), always full: room and bound stay 0 */
    pymt__tbin untagged;
    pymt__tbin bins[PYMT__NBINS]; /* small classes, then medium ones: the bin of tag c + 1 */
    /* the record once set up; NULL before, and a shared read-only stand-in saying "set-up
     * under way", "not caching" or "exited" otherwise (tcache.c) */
    pymt__tcache *tc;
} pymt__tcache_tls;

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
    size_t purge_max;       /* free pools' resident bytes before a purge, at most (PYMT_PURGE_MAX) */
    size_t large_cache;     /* bytes of freed large blocks a thread keeps (PYMT_LARGE_CACHE) */
    bool hugepages;         /* arenas in huge-page-advised pairs (PYMT_HUGEPAGES) */
    size_t tcache_bytes;    /* budget of all thread caches together (PYMT_TCACHE_BYTES) */
    bool tcache_grows;      /* the default budget, not set: grows with the heap */
    bool harden;            /* hardened mode (PYMT_HARDEN); only with pooling */
    bool medium;            /* the medium tier (PYMT_MEDIUM); only with pooling, not hardened */
    unsigned cores;         /* pool cores (PYMT_CORES; default one per online CPU, up to 16) */
    int glibc_tune;         /* PYMT_GLIBC_TUNE: -1 unset; after init, 1 if pymt set glibc's
                             * thresholds (sys.h) */
    bool glibc_thresholds_set; /* the environment sets one of glibc's thresholds itself */
} pymt__options;

/* ---- backends (backend.h): one table per family, chosen once by init -------------------------
 * PEP 445's PyMemAllocatorEx plus usable size. ctx is the backend's own (the debug backend's
 * says which family it tags and which backend it wraps). Contracts, for every backend:
 *   malloc(n), 0 <= n <= PTRDIFF_MAX: a unique block (n == 0 included), or NULL + ENOMEM;
 *   calloc(nelem, elsize): the product already checked (<= PTRDIFF_MAX); zeroed;
 *   realloc(p, n): p NULL or from this backend, n <= PTRDIFF_MAX; NULL + ENOMEM keeps p;
 *   free(p): p NULL or from this backend;
 *   usable(p): bytes the program may use at p (0 for NULL). */
typedef struct pymt__backend {
    void *ctx;
    void *(*malloc)(void *ctx, size_t n);
    void *(*calloc)(void *ctx, size_t nelem, size_t elsize);
    void *(*realloc)(void *ctx, void *p, size_t n);
    void (*free)(void *ctx, void *p);
    size_t (*usable)(void *ctx, const void *p);
} pymt__backend;

#endif /* PYMT_TYPES_H */

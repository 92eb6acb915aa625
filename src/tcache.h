/* tcache.h: the per-thread cache fast path: pop and push per size class, nothing else.
 * No lock, no atomic read-modify-write, no shared counter: a bin belongs to its thread; only
 * its count is an _Atomic word (relaxed load/store by the owner, plain moves on x86-64) because
 * pymt_get_stats reads it from another thread. A bin whose max is 0 (thread not set up yet,
 * caches off, debug mode, thread exiting) sends every call to the _slow functions in tcache.c. */
#ifndef PYMT_TCACHE_H
#define PYMT_TCACHE_H

#include "atomic.h"
#include "internal.h"
#include "track.h"

typedef struct pymt__tbin {
    void *head;               /* free blocks linked through word 0 (owner only) */
    _Atomic uint32_t count;   /* blocks in the bin; written by the owner, read by stats */
    uint32_t max;             /* 0: do not cache (owner only) */
} pymt__tbin;

enum pymt__tcache_state {
    PYMT__TC_NEW = 0,   /* zero-initialised TLS: not set up */
    PYMT__TC_SETUP,     /* being set up (re-entrant calls go to the core) */
    PYMT__TC_ACTIVE,    /* caching */
    PYMT__TC_OFF,       /* caches off for this thread (mode, or set-up failed) */
    PYMT__TC_DEAD       /* destructor ran: no caching until the thread is gone */
};

#define PYMT__LARGE_SLOTS 8
typedef struct pymt__large_slot {
    void *p;      /* NULL: empty */
    size_t size;  /* usable size */
} pymt__large_slot;

typedef struct pymt__tcache {
    pymt__tbin bins[PYMT__NCLASSES];
    /* The second magazine of each class: a bin that filled up, kept whole (owner only). A full
     * bin moves here in O(1) and an empty bin takes it back in O(1); only a third magazine's
     * worth sends blocks away. Kept apart from bins[] so the fast path's lines stay dense. */
    void *spare[PYMT__NCLASSES];
    _Atomic uint32_t spare_count[PYMT__NCLASSES]; /* written by the owner, read by stats */
    /* Counters written by the owner only (relaxed load + store, never a shared read-modify-
     * write: global counters bumped on every refill made two threads' caches share a hot
     * line), read by stats under the core lock, folded into the globals at thread exit. */
    _Atomic intptr_t large_delta;       /* large object-memory blocks allocated minus freed */
    _Atomic size_t refills, flushes;    /* batches in from depot/core, out to depot/core */
    _Atomic size_t published, adopted;  /* batches pushed on / taken from the depot */
    uint32_t state;                     /* owner only */
    struct pymt__tcache *next, *prev;   /* registry of live caches (core lock) */
    /* Recently freed large object-memory blocks kept for reuse (large.c; owner only, but
     * large_bytes, their usable bytes in all, is read by stats). */
    pymt__large_slot large[PYMT__LARGE_SLOTS];
    uint32_t large_next;                /* the slot the next kept block replaces */
    _Atomic size_t large_bytes;
} pymt__tcache;

extern PYMT__TLS pymt__tcache pymt__tc;

/* The misses of the two fast paths below. They take what the caller already has in its
 * argument registers (n, p) and find the class again themselves: passing it cost each fast
 * path an instruction to keep it for the call. */
void *pymt__tcache_alloc_slow(size_t n) PYMT__NOINLINE PYMT__COLD;
void pymt__tcache_free_slow(void *p) PYMT__NOINLINE PYMT__COLD;

/* The bin of class c, its address computed once: without the empty asm GCC re-derives the TLS
 * address for every access to the _Atomic count (7 extra instructions per free, measured with
 * callgrind on the hot pair). */
static inline pymt__tbin *pymt__tcache_bin(unsigned c) {
    pymt__tbin *b = &pymt__tc.bins[c];
    __asm__("" : "+r"(b));
    return b;
}

/* Pop a block of class c for a request of n bytes (1 <= n <= 512) off the bin; NULL when the
 * bin is empty (the caller chooses the slow path: the preload has its own). */
static inline void *pymt__tcache_pop(unsigned c, size_t n) {
    pymt__tbin *b = pymt__tcache_bin(c);
    void *p = b->head;
    if (pymt__likely(p != NULL)) {
        b->head = pymt__blk_get(p, 0);
        pymt__store_relaxed(&b->count, pymt__load_relaxed(&b->count) - 1);
        PYMT_TRACK_ALLOC(p, n);
    }
    return p;
}

/* Push pool block p of class c on the bin; false when the bin is full. */
static inline bool pymt__tcache_push(void *p, unsigned c) {
    pymt__tbin *b = pymt__tcache_bin(c);
    uint32_t cnt = pymt__load_relaxed(&b->count);
    if (pymt__unlikely(cnt >= b->max))
        return false;
    PYMT_TRACK_FREE(p, pymt__class_to_size(c));
    pymt__blk_set(p, 0, b->head);
    b->head = p;
    pymt__store_relaxed(&b->count, cnt + 1);
    return true;
}

/* A block of class c for a request of n bytes (1 <= n <= 512). */
static inline void *pymt__tcache_alloc(unsigned c, size_t n) {
    void *p = pymt__tcache_pop(c, n);
    if (pymt__likely(p != NULL))
        return p;
    return pymt__tcache_alloc_slow(n);
}

/* Take back pool block p of class c. */
static inline void pymt__tcache_free(void *p, unsigned c) {
    if (pymt__likely(pymt__tcache_push(p, c)))
        return;
    pymt__tcache_free_slow(p);
}

extern _Atomic intptr_t pymt__large_global; /* the same for threads without a live cache */

/* Count a large (system-allocator) object-memory block in (+1) or out (-1). A thread with a
 * cache counts in its own word (no atomic read-modify-write: it was a contended lock xadd on
 * every large malloc and free); others in the global word. */
static inline void pymt__tcache_count_large(intptr_t d) {
    pymt__tcache *tc = &pymt__tc;
    if (pymt__likely(tc->state == PYMT__TC_ACTIVE))
        pymt__store_relaxed(&tc->large_delta, pymt__load_relaxed(&tc->large_delta) + d);
    else
        pymt__fetch_add_relaxed(&pymt__large_global, d);
}

/* The calling thread's cache, set up first if this is the thread's first use of it; NULL when
 * the thread does not cache (caches off, debug mode, set-up failed, thread exiting). */
pymt__tcache *pymt__tcache_active(void);

/* Set-up done once by init: the pthread key whose destructor flushes an exiting thread. */
bool pymt__tcache_init(void);
/* Blocks cached per class over all live thread caches, and the number of those caches.
 * Core lock held. */
void pymt__tcache_counts_locked(size_t cached[PYMT__NCLASSES], size_t *threads, size_t *large,
                                size_t *large_cached_bytes);
/* Cumulative refills, flushes, depot batches published and adopted. Core lock held. */
void pymt__tcache_counters_locked(size_t *refills, size_t *flushes, size_t *published,
                                  size_t *adopted);
/* Give back the calling thread's cache (pymt_thread_flush). */
void pymt__tcache_flush_self(void);
/* fork child: only the forking thread's cache survives. Core lock held. */
void pymt__tcache_atfork_child_locked(void);

#endif /* PYMT_TCACHE_H */

/* tcache.h: the per-thread cache fast path: pop and push per size class, inline, and the
 * entry points of tcache.c behind them. No lock, no atomic read-modify-write, no shared counter:
 * a bin belongs to its thread; only its room (max - count) and max are _Atomic words (relaxed
 * loads and stores by the owner, one unlocked add or sub to memory on x86-64) because stats
 * read them from another thread. A bin whose max is 0 (thread not set up, caches not in use,
 * thread exiting) has room 0 and refuses every push, and an empty bin every pop, so the callers
 * go to their slow paths. The cache itself (pymt__tcache) is in
 * types.h; the design of the magazines is in tcache.c. */
#ifndef PYMT_TCACHE_H
#define PYMT_TCACHE_H

#include "depot.h"
#include "large.h"
#include "track.h"

extern PYMT__TLS pymt__tcache_tls pymt__tc;

/* The bin at byte offset off of the thread's block (0: the untagged bin; 16 * (c + 1): class
 * c's), its address computed once: GCC left to itself re-derives the TLS address for every
 * access to the _Atomic count. On x86-64 the block's offset from the thread pointer (a GOT
 * word: initial-exec TLS) and the thread pointer are added to off straight from memory, one
 * instruction fewer than taking the block's address and then the bin's, and the bin is in rdx,
 * so that a popped block is loaded straight into rax, the return register. */
static inline pymt__tbin *pymt__tcache_bin_at(uintptr_t off) {
    _Static_assert(offsetof(pymt__tcache_tls, bins) == sizeof(pymt__tbin), "untagged bin first");
#if defined(__x86_64__)
    __asm__("addq pymt__tc@gottpoff(%%rip), %0\n\t"
            "addq %%fs:0, %0"
            : "+d"(off));
    return (pymt__tbin *)off;
#else
    pymt__tbin *b = (pymt__tbin *)((char *)&pymt__tc + off);
    __asm__("" : "+r"(b));
    return b;
#endif
}

/* The bin of class c (small or medium). */
static inline pymt__tbin *pymt__tcache_bin(unsigned c) {
    return pymt__tcache_bin_at(((uintptr_t)c + 1) * sizeof(pymt__tbin));
}

/* The owner's updates of a bin's room, its only writer (stats read it with relaxed loads).
 * On x86-64 one unlocked add or sub to memory does a relaxed load and a relaxed store (each
 * single-copy atomic), where GCC emits load, op, store for the C11 pair; the sub's flags say
 * whether there was room. Under TSan, which must see the accesses, and elsewhere, the C11 pair. */
#if defined(__x86_64__) && !defined(PYMT__TSAN)
static inline void pymt__tbin_room_inc(pymt__tbin *b) {
    __asm__("addl $1, %0" : "+m"(b->room));
}
/* room -= 1 when room > 0; false (room as it was) otherwise */
static inline bool pymt__tbin_room_take(pymt__tbin *b) {
    bool none;
    __asm__("subl $1, %0" : "+m"(b->room), "=@ccl"(none)); /* room - 1 < 0 */
    if (pymt__likely(!none))
        return true;
    pymt__tbin_room_inc(b);
    return false;
}
#else
static inline void pymt__tbin_room_inc(pymt__tbin *b) {
    pymt__store_relaxed(&b->room, pymt__load_relaxed(&b->room) + 1);
}
static inline bool pymt__tbin_room_take(pymt__tbin *b) {
    int32_t r = pymt__load_relaxed(&b->room);
    if (r <= 0)
        return false;
    pymt__store_relaxed(&b->room, r - 1);
    return true;
}
#endif

/* Pop a block for a request of n bytes off bin b (tbin_pop), or off the thread's bin of class c
 * (tcache_pop, small or medium); NULL when the bin is empty. The next block's line is fetched for
 * writing at once: a bin is a chain through the blocks, and after a batch freed by another thread
 * (a consumer's, through the depot) each block's line is still in that thread's cache. Without it
 * the next pop waits for the line, shared, and the caller's first write waits again to own it;
 * with it the line comes owned while the caller works. Producer/consumer 1:1 ran 1.4x (batched
 * 1.7x) on a machine whose cores pass lines slowly; the hot pair, whose next block is in L1, ran
 * the same. */
static inline void *pymt__tbin_pop(pymt__tbin *b, size_t n) {
    void *p = b->head;
    if (pymt__likely(p != NULL)) {
        void *next = pymt__blk_get(p, 0);
        b->head = next;
        pymt__prefetch_write(next);
        pymt__tbin_room_inc(b);
        PYMT_TRACK_ALLOC(p, n);
    }
    return p;
}
static inline void *pymt__tcache_pop(unsigned c, size_t n) {
    return pymt__tbin_pop(pymt__tcache_bin(c), n);
}

/* The same for a small request, 0 <= n <= PYMT__SMALL_MAX, whose bin comes straight from n:
 * the small classes' bins follow the untagged bin 16 bytes apart, so n rounded up to 16 is the
 * bin's offset in the thread's block (0, for n = 0, is the untagged bin, never given a block:
 * the pop misses and the slow path serves the request). */
static inline void *pymt__tcache_pop_small(size_t n) {
    _Static_assert(sizeof(pymt__tbin) == PYMT__ALIGNMENT, "a bin per 16 bytes of request");
    uintptr_t off = ((uintptr_t)n + PYMT__ALIGNMENT - 1) & ~(uintptr_t)(PYMT__ALIGNMENT - 1);
    return pymt__tbin_pop(pymt__tcache_bin_at(off), n);
}

/* Push block p of class c (small or medium) on bin b; false when the bin is full (or not in
 * use). */
static inline bool pymt__tbin_push(pymt__tbin *b, void *p, unsigned c) {
    if (pymt__unlikely(!pymt__tbin_room_take(b)))
        return false;
    PYMT_TRACK_FREE(p, pymt__class_to_size(c));
    (void)c;
    pymt__blk_set(p, 0, b->head);
    b->head = p;
    return true;
}

/* Push block p of class c on the thread's bin of the class. */
static inline bool pymt__tcache_push(void *p, unsigned c) {
    return pymt__tbin_push(pymt__tcache_bin(c), p, c);
}

/* Push block p on the bin of its pool tag (pymt__pool_tag: (class + 1) * 2, the bin's offset
 * from the untagged bin in units of 8 bytes; 0 for the untagged bin, which is always full).
 * Not through pymt__tcache_bin_at: the tag would need a shift before its two adds, where here
 * the block's address is taken beside the tag's load and one scaled lea joins them, the same
 * count with the tag one instruction from the bin. */
static inline bool pymt__tcache_push_tagged(void *p, unsigned tag) {
    _Static_assert(offsetof(pymt__tcache_tls, bins) == sizeof(pymt__tbin), "untagged bin first");
    _Static_assert(sizeof(pymt__tbin) == 8u << PYMT__TAG_SHIFT, "bin offset = tag * 8");
    return pymt__tbin_push((pymt__tbin *)((char *)&pymt__tc + (size_t)tag * 8), p,
                           pymt__tag_class(tag));
}

/* A bin's count and bound as the slow paths and stats see them. Another thread (stats) may
 * read a count that mixes an old max with a new room while the owner changes max (clamped at
 * 0); exact when the owner is quiescent. */
static inline uint32_t pymt__tbin_max(const pymt__tbin *b) {
    return pymt__load_relaxed(&b->bound);
}
static inline uint32_t pymt__tbin_count(const pymt__tbin *b) {
    int64_t n = (int64_t)pymt__load_relaxed(&b->bound) - pymt__load_relaxed(&b->room);
    return n < 0 ? 0 : (uint32_t)n;
}
/* Owner only. */
static inline void pymt__tbin_set_count(pymt__tbin *b, uint32_t n) {
    pymt__store_relaxed(&b->room, (int32_t)(pymt__load_relaxed(&b->bound) - n));
}
static inline void pymt__tbin_set_max(pymt__tbin *b, uint32_t max) {
    uint32_t n = pymt__tbin_count(b);
    pymt__store_relaxed(&b->bound, max);
    pymt__tbin_set_count(b, n);
}

/* The misses of pop and push, for the pools backend with thread caches (backend_pools.c).
 * They take what the caller has in its argument registers and find the class themselves.
 *   refill: a block for a request of 1 <= n <= pymt__medium_max bytes when its bin is empty:
 *     set the thread's cache up on first use, then the spare magazine, a depot batch, or a
 *     batch from the pools (one core-lock acquisition) or the medium class (its own lock). A
 *     thread that cannot cache gets one block under the lock. NULL + ENOMEM.
 *   overflow: take back pool block p when its bin is full: the bin becomes the spare, or goes
 *     to the depot or the pools whole. A thread that cannot cache gives p to its pool. */
void *pymt__tcache_refill(size_t n) PYMT__NOINLINE PYMT__COLD;
void pymt__tcache_overflow(void *p) PYMT__NOINLINE PYMT__COLD;

/* The hardened backend's small blocks (backend_pools.c, hardened mode with thread caches
 * only): the calling thread's hardened magazine of the class, whose links are encoded and
 * checked (tcache.c). harden_malloc: a block for 1 <= n <= 512 bytes, NULL + ENOMEM.
 * harden_free: take back pool block p, stopping the program with a report when p is not a
 * block start or is already free. harden_check_live: the same two checks for a block that
 * call (realloc) is about to use. */
void *pymt__tcache_harden_malloc(size_t n) PYMT__NOINLINE;
void pymt__tcache_harden_free(void *p) PYMT__NOINLINE;
void pymt__tcache_harden_check_live(const char *call, void *p);

/* The calling thread's large-block cache (large.c), its thread cache set up first on first
 * use; NULL when the thread does not cache (set-up failed, thread exiting). Only the pools
 * backend with thread caches calls it. */
pymt__large_cache *pymt__tcache_large_cache(void);

extern _Atomic intptr_t pymt__large_global; /* the same for threads without a live cache */

/* Count a large object-memory block in (+1) or out (-1). A thread with a cache counts in its
 * own word (no atomic read-modify-write on a shared line); others in the global word. */
static inline void pymt__tcache_count_large(intptr_t d) {
    pymt__tcache *tc = pymt__tc.tc;
    if (pymt__likely(tc != NULL && tc->state == PYMT__TC_ACTIVE))
        pymt__store_relaxed(&tc->large_delta, pymt__load_relaxed(&tc->large_delta) + d);
    else
        pymt__fetch_add_relaxed(&pymt__large_global, d);
}

/* Set-up done once by init: the budget of all caches together (bytes; grows: the default,
 * which grows with the heap), and the pthread key whose destructor gives an exiting thread's
 * blocks back. */
bool pymt__tcache_init(size_t budget, bool grows);
/* The budget of all caches together, and each live cache's share of it (never below 16 KiB).
 * set_budget takes the spares of the caches over their new share back at once (their owners
 * may be idle) and asks those caches to keep to it at their next slow paths; until they have,
 * the caches' reservations may pass a lowered budget, and no cache reserves more. Takes the
 * global lock, and each core's lock in turn for the spares given back. */
void pymt__tcache_set_budget(size_t bytes);
size_t pymt__tcache_budget(void);
/* The budget in force: a budget set (PYMT_TCACHE_BYTES, set_budget) as it is; the default one
 * grown with the heap (a third of the bytes of the arenas in use, up to 4x the default).
 * The shares and the reservations follow it; when it falls (the heap shrinks) the caches over
 * their new share give back at their next slow paths. */
size_t pymt__tcache_budget_now(void);
size_t pymt__tcache_share(void);
/* Bytes held by each live cache (its bins and spares at block size): their sum, the largest
 * (up to nbig of them, largest first, in big[]), and how many caches there are. Core lock. */
size_t pymt__tcache_bytes_locked(size_t *big, size_t nbig);
/* Blocks cached per class over all live thread caches, and the number of those caches.
 * Core lock held. */
void pymt__tcache_counts_locked(size_t cached[PYMT__NBINS], size_t *threads, size_t *large,
                                size_t *large_cached_bytes);
/* Cumulative refills, flushes, depot batches published and adopted. Core lock held. */
void pymt__tcache_counters_locked(size_t *refills, size_t *flushes, size_t *published,
                                  size_t *adopted);
/* Give back the calling thread's cache (pymt_thread_flush, pymt_trim). */
void pymt__tcache_flush_self(void);
/* pymt_trim: take the spares of every other live cache and the large blocks it keeps, and ask
 * each to keep to its share at its next slow path; a cache whose owner is in a slow path at
 * that moment is passed over (no wait). Its bins stay: only their owner touches them. Not in
 * the hardened mode, whose magazines are the spares' words. Takes the global lock, then each
 * core concerned. */
void pymt__tcache_trim_others(void);
/* fork child: only the forking thread's cache survives. Core lock held. */
void pymt__tcache_atfork_child_locked(void);
/* Validator: every bin and spare of tc holds as many blocks as it counts, no more than two
 * magazines' worth, each a pool block of the bin's class; in the hardened mode the bins are
 * empty with max 0 and every block of a magazine is a block start with its free marker.
 * Owner thread, or a thread that knows the owner is not running (tests). */
bool pymt__tcache_check(const pymt__tcache *tc);
/* The calling thread's cache (white-box tests). */
const pymt__tcache *pymt__tcache_self(void);
/* Validator: the caches' records are consistent (records.h), and every one handed out belongs
 * to a cache on the registry or to one being set up or torn down. Takes the global lock. */
bool pymt__tcache_records_check(void);

#endif /* PYMT_TCACHE_H */

/* tcache_order.c: a magazine put in address order before it leaves its thread.
 *
 * A bin hands out the block freed last. Over a long run a program's objects then lose the address
 * order they were first carved in: a thread frees blocks of one class in whatever order its
 * objects die, mixed with its temporaries, and the bin, its spare and the depot hand them out
 * again in that order. What the program allocates in a row (the records of a parsed document) ends
 * up spread over more pools and more lines, and what it then walks in a row misses the cache where
 * the same walk over blocks in address order would have been served by the prefetcher. CPython's
 * JSON round trip, 300 rounds in one process (clients/bench/json_order.py): consecutive records'
 * dicts lay within 512 bytes of each other 98% of the time in the first rounds and 12% after 300
 * (pymalloc, which allocates from one pool at a time: 30-50%), and the last rounds took 1.1-1.3
 * times as long as the first ones (docs/benchmarks.md, session 20).
 *
 * The cure is on the overflow's way out: a full bin of a small class that leaves the thread (to
 * the depot or the pools) is first looked at, while its blocks are still in the cache, and when
 * fewer than three quarters of its neighbours lie within four blocks of each other it is sorted by
 * address (a radix sort of its pointers on the stack, by 64-byte line, two passes of 8 bits while
 * the chain spans less than 4 MiB) and relinked, lowest first. A batch adopted from the depot then
 * hands out blocks in address order, and a run of allocations fills neighbouring blocks again.
 * Chains that are in order already (a consumer freeing what a producer allocated in a row) cost
 * the look alone, and the look reads the 32 links nearest the head first: when those are in order
 * the chain leaves as it is (over 300 JSON rounds, 84% of the leaving bins stop there, and the
 * records keep the same order as with a look at every link; in ten rounds the function's
 * instructions fall from 16.4 to 6.7 million). The bin and its spare, which trade places when a
 * thread allocates and frees around a full bin, are not sorted: the trade is O(1) and may happen
 * every few calls. Nor are the medium classes' bins: they hold 1 to 102 blocks of 640 bytes or
 * more, each ten lines at least, so their order buys the prefetcher little, and they leave far
 * more often for the blocks they move (programs of random sizes up to 16 KiB, rptest and
 * alloc-test, ran 0.78-0.91x with them sorted). A chain of more than 256 blocks (a bin of the 16-
 * or 32-byte class just after a refill of two bins' worth) leaves as it is: the sort's two arrays
 * of pointers, 4 KiB of stack, are sized for a bin at its bound. */
#include <string.h>

#include "tcache_own.h"

enum {
    ORDER_MAX = PYMT__TC_ORDER_MAX, /* at least what a bin holds (tcache.c checks) */
    LINE_SHIFT = 6,                 /* keys count 64-byte lines: blocks within one keep the
                                     * order they came in, which costs the walks nothing */
    DIGIT_BITS = 8,
    MAX_DIGITS = 3, /* keys of up to 24 bits: a span of 1 GiB in lines */
    BUCKETS = 1 << DIGIT_BITS,
    LOOK = 32 /* neighbours looked at first, from the head */
};

/* Do blocks x and y of size bytes lie within four blocks of each other? */
static inline bool near_pair(uintptr_t x, uintptr_t y, size_t size) {
    return (x > y ? x - y : y - x) <= 4 * size;
}

/* Digit d of the key of address x: (x - lo) >> shift, 8 bits at a time. */
static inline unsigned digit(uintptr_t x, uintptr_t lo, unsigned shift, unsigned d) {
    return (unsigned)(((x - lo) >> shift >> (d * DIGIT_BITS)) & (BUCKETS - 1));
}

void *pymt__tc_chain_order(void *chain, size_t n, size_t size) {
    if (n < 3 || n > ORDER_MAX || pymt__hardened || size > PYMT__SMALL_MAX)
        return chain; /* hardened: links are encoded, and the magazines are the hardened ones */
    uintptr_t a[ORDER_MAX], t[ORDER_MAX];
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    size_t near = 0;
    void *q = chain;
    for (size_t i = 0; i < n; i++) {
        uintptr_t x = (uintptr_t)q;
        a[i] = x;
        lo = x < lo ? x : lo;
        hi = x > hi ? x : hi;
        if (i > 0)
            near += near_pair(x, a[i - 1], size);
        if (i == LOOK && 4 * near >= 3 * LOOK)
            return chain; /* the blocks freed last are in order: so, nearly always, is the rest */
        q = pymt__blk_get(q, 0);
    }
    if (4 * near >= 3 * (n - 1))
        return chain; /* in order enough: as it is */
    /* the key: the distance from the lowest block in lines, in two passes while the chain
     * spans less than 4 MiB, three up to 1 GiB, and in coarser units beyond */
    unsigned shift = LINE_SHIFT, digits = 1;
    while (((hi - lo) >> shift) >> (DIGIT_BITS * MAX_DIGITS) != 0)
        shift++;
    while (digits < MAX_DIGITS && ((hi - lo) >> shift) >> (DIGIT_BITS * digits) != 0)
        digits++;
    uint16_t count[MAX_DIGITS][BUCKETS];
    memset(count, 0, digits * sizeof count[0]);
    for (size_t i = 0; i < n; i++)
        for (unsigned d = 0; d < digits; d++)
            count[d][digit(a[i], lo, shift, d)]++;
    uintptr_t *src = a, *dst = t;
    for (unsigned d = 0; d < digits; d++) {
        if (count[d][digit(src[0], lo, shift, d)] == n)
            continue; /* every key has this digit: the pass would change nothing */
        unsigned sum = 0;
        for (unsigned b = 0; b < BUCKETS; b++) {
            unsigned c = count[d][b];
            count[d][b] = (uint16_t)sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            dst[count[d][digit(src[i], lo, shift, d)]++] = src[i];
        uintptr_t *x = src;
        src = dst;
        dst = x;
    }
    for (size_t i = 0; i + 1 < n; i++)
        pymt__blk_set((void *)src[i], 0, (void *)src[i + 1]);
    pymt__blk_set((void *)src[n - 1], 0, NULL);
    return (void *)src[0];
}

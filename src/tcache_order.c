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
 * fewer than three quarters of its neighbours lie within four blocks of each other and its links
 * walk its span more than twice over, it is sorted by address (a radix sort of its pointers on
 * the stack, by 64-byte line, two passes of 8 bits while the chain spans less than 4 MiB) and
 * relinked, lowest first. A batch adopted from the depot then hands out blocks in address order,
 * and a run of allocations fills neighbouring blocks again.
 * Chains that are in order already (a consumer freeing what a producer allocated in a row) cost
 * the look alone, and the look reads the 32 links nearest the head first: when those are in order
 * the chain leaves as it is (over 300 JSON rounds, 84% of the leaving bins stop there, and the
 * records keep the same order as with a look at every link; in ten rounds the function's
 * instructions fall from 16.4 to 6.7 million). A chain in one direction with gaps between its
 * blocks (a class whose other blocks are live between them: CPython's rows of a float and two
 * ints, nine blocks of 32 bytes apart) would sort into itself: the walk spares it (in
 * python_bench's tuple workload 1,700 of 39,000 leaving bins are sorted, against 10,700 with the
 * neighbour count alone, and the function's instructions fall from 258 to 83 million). The bin and
 * its spare, which trade places when a thread allocates and frees around a full bin, are not
 * sorted: the trade is O(1) and may happen every few calls. Nor are the medium classes' bins: they
 * hold 1 to 102 blocks of 640 bytes or more, each ten lines at least, so their order buys the
 * prefetcher little, and they leave far more often for the blocks they move (programs of random
 * sizes up to 16 KiB, rptest and alloc-test, ran 0.78-0.91x with them sorted). A chain of more
 * than 256 blocks (a bin of the 16- or 32-byte class just after a refill of two bins' worth)
 * leaves as it is: the sort's two arrays are sized for a bin at its bound. They hold each block's
 * address in 16-byte units modulo 2^32, then its distance from the lowest block, so the sort takes
 * 2.5 KiB of the stack of a free() (two arrays of 64-bit pointers and the three passes' counts
 * took 5.5 KiB); a chain spread over 64 GiB or more (a heap that wide) leaves as it is. */
#include <string.h>

#include "tcache_own.h"

enum {
    ORDER_MAX = PYMT__TC_ORDER_MAX, /* at least what a bin holds (tcache.c checks) */
    UNIT_SHIFT = 4,                 /* blocks are 16-byte aligned: the arrays count 16-byte
                                     * units, in 32 bits */
    LINE_SHIFT = 6 - UNIT_SHIFT,    /* keys count 64-byte lines: blocks within one keep the
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

/* Are steps links, near of them between near blocks, walked over path bytes between lo and hi,
 * in order enough? Three quarters of the steps near (blocks freed in a row), or a walk of the
 * span at most twice: a chain in one direction walks it once whatever the gaps its class's live
 * blocks leave between its own (a stride sorts into itself), and one or two wraps cost a walk
 * more; runs interleaved or no order at all walk it many times, and those are sorted. */
static inline bool in_order(size_t near, size_t steps, uintptr_t path, uintptr_t lo, uintptr_t hi) {
    return 4 * near >= 3 * steps || path <= 2 * (hi - lo);
}

/* The block u units above address low. */
static inline void *unit_block(uintptr_t low, uint32_t u) {
    return (void *)(low + ((uintptr_t)u << UNIT_SHIFT));
}

/* Digit d of key u (a distance from the lowest block in units) >> shift, 8 bits at a time. */
static inline unsigned digit(uint32_t u, unsigned shift, unsigned d) {
    return (u >> shift >> (d * DIGIT_BITS)) & (BUCKETS - 1);
}

void *pymt__tc_chain_order(void *chain, size_t n, size_t size) {
    if (n < 3 || n > ORDER_MAX || pymt__hardened || size > PYMT__SMALL_MAX)
        return chain; /* hardened: links are encoded, and the magazines are the hardened ones */
    /* each block as its address in units, modulo 2^32, so that the two arrays take 2 KiB of
     * the stack of a free() */
    uint32_t a[ORDER_MAX], t[ORDER_MAX];
    uintptr_t lo = UINTPTR_MAX, hi = 0, prev = 0, path = 0;
    size_t near = 0;
    void *q = chain;
    for (size_t i = 0; i < n; i++) {
        uintptr_t x = (uintptr_t)q;
        pymt__assert((x & (((uintptr_t)1 << UNIT_SHIFT) - 1)) == 0);
        a[i] = (uint32_t)(x >> UNIT_SHIFT);
        lo = x < lo ? x : lo;
        hi = x > hi ? x : hi;
        if (i > 0) {
            near += near_pair(x, prev, size);
            path += x > prev ? x - prev : prev - x;
        }
        if (i == LOOK && in_order(near, LOOK, path, lo, hi))
            return chain; /* the blocks freed last are in order: so, nearly always, is the rest */
        prev = x;
        q = pymt__blk_get(q, 0);
    }
    if (in_order(near, n - 1, path, lo, hi))
        return chain; /* in order enough: as it is */
    uint64_t span = (hi - lo) >> UNIT_SHIFT;
    if (span > UINT32_MAX)
        return chain; /* spread over 64 GiB: more than order could bring together */
    /* the distances from the lowest block: exact modulo 2^32, as the span fits 32 bits */
    const uint32_t lo_units = (uint32_t)(lo >> UNIT_SHIFT);
    for (size_t i = 0; i < n; i++)
        a[i] -= lo_units;
    /* the key: the distance from the lowest block in lines, in two passes while the chain
     * spans less than 4 MiB, three up to 1 GiB, and in coarser units beyond */
    unsigned shift = LINE_SHIFT, digits = 1;
    while ((span >> shift) >> (DIGIT_BITS * MAX_DIGITS) != 0)
        shift++;
    while (digits < MAX_DIGITS && (span >> shift) >> (DIGIT_BITS * digits) != 0)
        digits++;
    uint32_t *src = a, *dst = t;
    for (unsigned d = 0; d < digits; d++) {
        uint16_t count[BUCKETS];
        memset(count, 0, sizeof count);
        for (size_t i = 0; i < n; i++)
            count[digit(src[i], shift, d)]++;
        if (count[digit(src[0], shift, d)] == n)
            continue; /* every key has this digit: the pass would change nothing */
        unsigned sum = 0;
        for (unsigned b = 0; b < BUCKETS; b++) {
            unsigned c = count[b];
            count[b] = (uint16_t)sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            dst[count[digit(src[i], shift, d)]++] = src[i];
        uint32_t *x = src;
        src = dst;
        dst = x;
    }
    for (size_t i = 0; i + 1 < n; i++)
        pymt__blk_set(unit_block(lo, src[i]), 0, unit_block(lo, src[i + 1]));
    pymt__blk_set(unit_block(lo, src[n - 1]), 0, NULL);
    return unit_block(lo, src[0]);
}

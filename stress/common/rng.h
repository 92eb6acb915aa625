/* rng.h: each thread's pseudo-random numbers, and the request sizes drawn from them.
 *
 * xoshiro256** seeded through splitmix64, one independent stream per (seed, thread id), so the
 * sizes and choices of each thread follow from the seed. Header only: every operation of every
 * worker draws from it. The sizes (stress_rand_size) reach every class of both tiers; the few
 * wide ones (16 KiB up to the medium ceiling) are capped in live bytes over all threads by
 * stress_wide_live, which block.c keeps. */
#ifndef PYMT_STRESS_RNG_H
#define PYMT_STRESS_RNG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pymt/pymt.h"

typedef struct stress_rng {
    uint64_t s[4];
} stress_rng;

static inline uint64_t stress_splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* One independent stream per (seed, stream): stream is the thread id. */
static inline void stress_rng_init(stress_rng *r, uint64_t seed, uint64_t stream) {
    uint64_t x = seed ^ (stream * 0xD1B54A32D192ED03ull);
    for (int i = 0; i < 4; i++)
        r->s[i] = stress_splitmix64(&x);
}

static inline uint64_t stress_rotl(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

static inline uint64_t stress_rng_next(stress_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = stress_rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = stress_rotl(s[3], 45);
    return result;
}

/* Uniform in [0, n) (n > 0); Lemire's multiply-shift, bias below 2^-32 for our n. */
static inline uint64_t stress_rng_below(stress_rng *r, uint64_t n) {
    return (uint64_t)(((unsigned __int128)stress_rng_next(r) * n) >> 64);
}

/* True with probability pct/100. */
static inline bool stress_rng_pct(stress_rng *r, unsigned pct) {
    return stress_rng_below(r, 100) < pct;
}

/* Wide blocks: requests of STRESS_WIDE_MIN bytes up to the medium ceiling's draws (the big
 * medium classes, which purge their free blocks: src/medium.c). stress_wide_live is the bytes
 * of those alive now, over all threads (block.c adds and subtracts them); past STRESS_WIDE_CAP
 * stress_rand_size draws no more, so the resident set stays modest however many threads run. */
#define STRESS_WIDE_MIN ((size_t)16 << 10)
#define STRESS_WIDE_END (PYMT_MEDIUM_REQUEST_THRESHOLD - 64) /* the ceiling's draws start here */
#define STRESS_WIDE_CAP ((size_t)16 << 20)
extern _Atomic size_t stress_wide_live;

static inline bool stress_size_is_wide(size_t n) {
    return n >= STRESS_WIDE_MIN && n < STRESS_WIDE_END;
}

/* A request size for object memory: every class equally often, plenty just around the
 * thresholds, some above the first up to max_large, every medium class now and then, a few
 * zero-byte requests.
 *   ~2%  0
 *   ~70% 1..512: a class (16 B .. 512 B) uniformly, then a size inside it
 *   ~10% 496..528 (the last class and the first sizes past pymalloc's threshold)
 *   ~15.5% 513..max_large (the medium tier while it is on)
 *   ~0.5% 1 KiB .. the medium ceiling - 64, log-uniform: an octave (1-2 KiB, ..., 128-256 KiB)
 *        uniformly, then a size inside it, so each of the tier's classes from 1 KiB up is
 *        drawn (about 1/32 of these each); 513..max_large instead while wide blocks
 *        (stress_size_is_wide) hold STRESS_WIDE_CAP bytes. Half a percent: most of these
 *        blocks fault their pages in afresh (the big classes purge), which costs more than
 *        their bytes
 *   ~1%  the medium ceiling - 64 .. + 64 (256 KiB: its last sizes and the first past it)
 *   ~1%  the ceiling + 1 .. twice the ceiling (the system allocator's)
 * (max_large 512 or less: the last 18% are 1..512 too) */
static inline size_t stress_rand_size(stress_rng *r, size_t max_large) {
    uint64_t k = stress_rng_below(r, 100);
    if (k < 2)
        return 0;
    if (k < 72) {
        size_t cls = (size_t)stress_rng_below(r, PYMT_NUM_SIZE_CLASSES);
        return cls * PYMT_ALIGNMENT + 1 + (size_t)stress_rng_below(r, PYMT_ALIGNMENT);
    }
    if (k < 82)
        return 496 + (size_t)stress_rng_below(r, 33);
    if (max_large <= PYMT_SMALL_REQUEST_THRESHOLD)
        return 1 + (size_t)stress_rng_below(r, PYMT_SMALL_REQUEST_THRESHOLD);
    if (k == 97 && stress_rng_pct(r, 50) &&
        atomic_load_explicit(&stress_wide_live, memory_order_relaxed) < STRESS_WIDE_CAP) {
        size_t lo = (size_t)1024 << stress_rng_below(r, 8); /* 1 KiB .. 128 KiB */
        size_t n = lo + (size_t)stress_rng_below(r, lo);
        return n < STRESS_WIDE_END ? n : STRESS_WIDE_END - 1;
    }
    if (k == 98)
        return PYMT_MEDIUM_REQUEST_THRESHOLD - 64 + (size_t)stress_rng_below(r, 129);
    if (k == 99)
        return PYMT_MEDIUM_REQUEST_THRESHOLD + 1 +
               (size_t)stress_rng_below(r, PYMT_MEDIUM_REQUEST_THRESHOLD);
    return PYMT_SMALL_REQUEST_THRESHOLD + 1 +
           (size_t)stress_rng_below(r, max_large - PYMT_SMALL_REQUEST_THRESHOLD);
}

#endif /* PYMT_STRESS_RNG_H */

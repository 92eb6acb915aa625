/* rng.h: each thread's pseudo-random numbers, and the request sizes drawn from them.
 *
 * xoshiro256** seeded through splitmix64, one independent stream per (seed, thread id), so the
 * sizes and choices of each thread follow from the seed. Header only: every operation of every
 * worker draws from it. */
#ifndef PYMT_STRESS_RNG_H
#define PYMT_STRESS_RNG_H

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

/* A request size for object memory: every class equally often, plenty just around the
 * thresholds, some above the first up to max_large, a few zero-byte requests.
 *   ~2%  0
 *   ~70% 1..512: a class (16 B .. 512 B) uniformly, then a size inside it
 *   ~10% 496..528 (the last class and the first sizes past pymalloc's threshold)
 *   ~16% 513..max_large (the medium tier while it is on)
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
    if (k == 98)
        return PYMT_MEDIUM_REQUEST_THRESHOLD - 64 + (size_t)stress_rng_below(r, 129);
    if (k == 99)
        return PYMT_MEDIUM_REQUEST_THRESHOLD + 1 +
               (size_t)stress_rng_below(r, PYMT_MEDIUM_REQUEST_THRESHOLD);
    return PYMT_SMALL_REQUEST_THRESHOLD + 1 +
           (size_t)stress_rng_below(r, max_large - PYMT_SMALL_REQUEST_THRESHOLD);
}

#endif /* PYMT_STRESS_RNG_H */

/* test_debug_bench.c: what debug mode costs, as a ratio against the mode the environment picks.
 * Not a ctest: run it twice and compare, e.g.
 *   PYMT_MALLOC=pymalloc build/release/tests/debug_bench
 *   PYMT_MALLOC=debug    build/release/tests/debug_bench
 * Two single-threaded loops over object memory: "pair" (malloc(n) then free, n cycling over
 * 16..512) and "churn" (a window of 1024 live blocks, each step frees a random one and
 * allocates a new one of random size 1..512). Prints nanoseconds per malloc+free. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "pymt/pymt.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static const char *mode_name(pymt_mode m) {
    switch (m) {
    case PYMT_MODE_PYMALLOC: return "pymalloc";
    case PYMT_MODE_MALLOC: return "malloc";
    case PYMT_MODE_PYMALLOC_DEBUG: return "pymalloc_debug";
    default: return "malloc_debug";
    }
}

int main(int argc, char **argv) {
    long ops = argc > 1 ? atol(argv[1]) : 2000000;
    void *volatile sink;
    double t0 = now();
    for (long i = 0; i < ops; i++) {
        void *p = pymt_object_malloc(16 + (size_t)(i % 32) * 16);
        sink = p;
        pymt_object_free(p);
    }
    double pair = (now() - t0) / (double)ops * 1e9;

    enum { W = 1024 };
    static void *win[W];
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < W; i++)
        win[i] = pymt_object_malloc(1 + (size_t)i % 512);
    t0 = now();
    for (long i = 0; i < ops; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t k = (size_t)(x % W);
        pymt_object_free(win[k]);
        win[k] = pymt_object_malloc(1 + (size_t)(x >> 20) % 512);
        sink = win[k];
    }
    double churn = (now() - t0) / (double)ops * 1e9;
    for (int i = 0; i < W; i++)
        pymt_object_free(win[i]);
    (void)sink;
    printf("mode %s: pair %.1f ns per malloc+free, churn %.1f ns per free+malloc (%ld ops)\n",
           mode_name(pymt_get_mode()), pair, churn, ops);
    return 0;
}

/* pairs.c: the hot pair of pymt_bench --pairs in a small C program, built twice to show what
 * the way pymt is linked costs (bench/CMakeLists.txt):
 *   pymt_pairs_shared  libpymt.so, each call through the PLT (--alloc=pymt-shared)
 *   pymt_pairs_static  libpymt.a, direct calls (--alloc=pymt-static)
 * bench/callgrind.sh counts each under its --alloc name; farm-bench times them against each
 * other (docs/benchmarks.md, session 26). The loop is pymt_bench's (bench_memory.cc): the same
 * two calls and the same barrier on the pointer.
 *
 *   pymt_pairs_X --alloc=KIND --pairs=N     N malloc+free pairs of 32 bytes
 *   pymt_pairs_X --alloc=KIND --print-env   the environment callgrind.sh sets up */
#include <pymt/pymt.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef PYMT_PAIRS_KIND
#error "PYMT_PAIRS_KIND names the build: pymt-static or pymt-shared"
#endif

__attribute__((noinline)) void pymtbench_pairs_c(long n) {
    for (long i = 0; i < n; i++) {
        void *p = pymt_object_malloc(32);
        __asm__ volatile("" : : "r,m"(p) : "memory"); /* benchmark::DoNotOptimize */
        pymt_object_free(p);
    }
}

static int usage(void) {
    fprintf(stderr, "usage: pymt_pairs --alloc=%s --pairs=N | --print-env\n", PYMT_PAIRS_KIND);
    return 2;
}

int main(int argc, char **argv) {
    long pairs = -1;
    int env = 0, alloc_ok = 0;
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--alloc=", 8) == 0 && strcmp(argv[i] + 8, PYMT_PAIRS_KIND) == 0)
            alloc_ok = 1;
        else if (strncmp(argv[i], "--pairs=", 8) == 0)
            pairs = strtol(argv[i] + 8, NULL, 10);
        else if (strcmp(argv[i], "--print-env") == 0)
            env = 1;
        else
            return usage();
    }
    if (!alloc_ok || (pairs < 0 && !env))
        return usage();
    if (env) {
        puts("PYMT_HARDEN=0"); /* as pymt_bench --alloc=pymt: the default mode, not hardened */
        return 0;
    }
    pymtbench_pairs_c(pairs);
    return 0;
}

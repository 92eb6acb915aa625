/* preload_glibc_tune.c: glibc's thresholds under libpymt-malloc.so, which passes glibc only the
 * blocks above pymt's classes and by default raises glibc's mmap threshold to 32 MiB and its
 * trim threshold to 16 MiB (src/sys.h, PYMT_GLIBC_TUNE). The program is not linked with pymt;
 * it reads glibc's own accounting (mallinfo2, which the drop-in leaves to glibc) for the main
 * thread's heap:
 *   - a block of 1 MiB is a mapping of its own with glibc's defaults (threshold 128 KiB), a
 *     chunk of the heap with pymt's;
 *   - 9 MiB of blocks of 288 KiB (past pymt's medium ceiling, 256 KiB), freed, leave a free
 *     top of the heap that glibc's defaults give back to the kernel (the trim threshold is at
 *     most 2 MiB after the 1 MiB mapping was freed) and pymt's keep.
 * With PYMT_MALLOC=malloc the drop-in passes every request to glibc and leaves its thresholds
 * alone. Usage: preload_glibc_tune tuned|default, under LD_PRELOAD (the ctest sets it). */
#include <malloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "preload_check.h"

#define MIB ((size_t)1 << 20)
#define NBIG 32
#define BIG ((size_t)288 << 10)

int main(int argc, char **argv) {
    if (argc != 2 || (strcmp(argv[1], "tuned") != 0 && strcmp(argv[1], "default") != 0)) {
        fprintf(stderr, "usage: preload_glibc_tune tuned|default\n");
        return 2;
    }
    int tuned = strcmp(argv[1], "tuned") == 0;
    /* the drop-in is in place: a small block's usable size is its class (or, in debug mode, its
     * request), a multiple of 16; glibc's are 8 modulo 16 (PYMT_MALLOC=malloc: glibc's) */
    const char *mode = getenv("PYMT_MALLOC");
    bool sys_mode = mode != NULL && strcmp(mode, "malloc") == 0;
    void *small = malloc(32);
    CHECK(small != NULL && (malloc_usable_size(small) % 16 == 0) != sys_mode);
    free(small);

    size_t maps_before = mallinfo2().hblks;
    char *p = malloc(MIB);
    CHECK(p != NULL);
    memset(p, 1, MIB);
    size_t maps = mallinfo2().hblks - maps_before;
    CHECK(maps == (tuned ? 0u : 1u));
    free(p);

    char *b[NBIG];
    for (int i = 0; i < NBIG; i++) {
        b[i] = malloc(BIG);
        CHECK(b[i] != NULL);
        memset(b[i], 2, BIG);
    }
    for (int i = NBIG - 1; i >= 0; i--)
        free(b[i]);
    size_t top = mallinfo2().keepcost;
    if (tuned)
        CHECK(top >= NBIG * BIG);
    else
        CHECK(top < NBIG * BIG);

    printf("%s: 1 MiB block %s, free top of the heap after 9 MiB freed: %zu KiB\n", argv[1],
           maps != 0 ? "mapped on its own" : "in the heap", top >> 10);
    return failures != 0;
}

/* preload_trim.c: malloc_trim under libpymt-malloc.so gives back the memory of both allocators
 * behind the drop-in. Programs call malloc_trim(0) to return free memory to the system (a
 * server after a burst, a runtime after a collection); under the preload most of their heap is
 * pymt's, which glibc's own malloc_trim cannot see.
 *   pymt's part: 400 blocks of 200,000 bytes (the medium tier), written, then 9 in 10 freed in
 *     a shuffled order. The free blocks' pages stay resident in arenas that still hold live
 *     blocks until pymt_trim releases them.
 *   glibc's part: 40 blocks of 1 MiB (above pymt's tiers, so glibc's, in its heap below the
 *     drop-in's mmap threshold), written, then all but the last freed: the free space lies
 *     below a live block, so glibc keeps it until its own malloc_trim.
 * After each part malloc_trim(0) must return 1 and give back at least half of what is resident
 * beyond the live blocks, and the blocks still held must keep their contents.
 * Run with LD_PRELOAD pointing at libpymt-malloc.so (the ctest sets it, default mode). */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "preload_check.h"

/* The resident set in bytes, exact (smaps_rollup walks the page tables). */
static size_t rss_bytes(void) {
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    CHECK(f != NULL);
    char line[256];
    size_t kb = 0;
    while (fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "Rss: %zu kB", &kb) == 1)
            break;
    fclose(f);
    CHECK(kb != 0);
    return kb << 10;
}

static void fill(unsigned char *p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i += 512)
        p[i] = (unsigned char)(seed + i / 512);
}

static int intact(const unsigned char *p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i += 512)
        if (p[i] != (unsigned char)(seed + i / 512))
            return 0;
    return 1;
}

/* Free the n blocks but those with i % keep == keep - 1, in a shuffled order, then trim. What
 * is resident beyond base (the resident set before the blocks existed) and the blocks kept
 * must be at least 4 MiB before the trim (or the case shows nothing), and the trim must give
 * back at least half of it. */
static void free_then_trim(const char *what, unsigned char **b, size_t n, size_t size,
                           size_t keep, size_t base) {
    size_t order[512];
    CHECK(n <= sizeof order / sizeof order[0]);
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    uint32_t x = 12345;
    for (size_t i = n - 1; i > 0; i--) {
        x = x * 1103515245u + 12345u;
        size_t j = (x >> 8) % (i + 1);
        size_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    size_t freed = 0, live = 0;
    for (size_t k = 0; k < n; k++) {
        size_t i = order[k];
        if (i % keep == keep - 1) {
            live += size;
            continue;
        }
        free(b[i]);
        b[i] = NULL;
        freed += size;
    }
    size_t before = rss_bytes();
    int r = malloc_trim(0);
    size_t after = rss_bytes();
    printf("%s: %zu MiB freed, %zu MiB live, resident above the start %zu -> %zu MiB, "
           "malloc_trim returned %d\n",
           what, freed >> 20, live >> 20, (before - base) >> 20,
           (after > base ? after - base : 0) >> 20, r);
    size_t excess = before > base + live ? before - base - live : 0;
    CHECK(excess >= (size_t)4 << 20);
    CHECK(r == 1);
    CHECK(after + excess / 2 <= before);
    for (size_t i = 0; i < n; i++)
        if (b[i] != NULL) {
            CHECK(intact(b[i], size, (unsigned)i));
            free(b[i]);
        }
}

int main(void) {
    if (!preload_is_mapped()) {
        fprintf(stderr, "pymt is not preloaded (set LD_PRELOAD to libpymt-malloc.so)\n");
        return 1;
    }
    enum { MEDIUM_N = 400, MEDIUM_SIZE = 200000, BIG_N = 40, BIG_SIZE = 1 << 20 };
    static unsigned char *b[MEDIUM_N];
    size_t base = rss_bytes();

    for (size_t i = 0; i < MEDIUM_N; i++) {
        b[i] = malloc(MEDIUM_SIZE);
        CHECK(b[i] != NULL);
        fill(b[i], MEDIUM_SIZE, (unsigned)i);
    }
    free_then_trim("pymt's medium blocks", b, MEDIUM_N, MEDIUM_SIZE, 10, base);

    /* the last block, kept, lies above the others in glibc's heap */
    base = rss_bytes();
    for (size_t i = 0; i < BIG_N; i++) {
        b[i] = malloc(BIG_SIZE);
        CHECK(b[i] != NULL);
        fill(b[i], BIG_SIZE, (unsigned)i);
    }
    free_then_trim("glibc's big blocks", b, BIG_N, BIG_SIZE, BIG_N, base);
    return failures ? 1 : 0;
}

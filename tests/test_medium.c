/* test_medium.c: the medium tier, 513 bytes to PYMT_MEDIUM_REQUEST_THRESHOLD.
 *
 * Proves: every request in every medium class gets that class's block (pymt_usable_size) and
 * moves that class's blocks_in_use (pymt_get_stats); 512 is pymalloc's last class, 513 the
 * first medium one, the ceiling the last, one past it the system allocator's; realloc keeps
 * contents across both thresholds in every direction and stays in place within a class; the
 * per-class stats add up; pymt_trim hands wholly free medium arenas back; PYMT_MEDIUM=0
 * restores pymalloc's threshold exactly. CMake runs it with PYMT_MALLOC=pymalloc and
 * PYMT_MEDIUM=1, and again with PYMT_MEDIUM=0 (medium.off). */
#include "check.h"

#include <pthread.h>
#include <string.h>

/* the medium classes' blocks, listed rather than computed: four per doubling */
static const size_t blocks[PYMT_NUM_MEDIUM_CLASSES] = {
    640,   768,   896,   1024,   1280,   1536,   1792,   2048,   2560,   3072,   3584,   4096,
    5120,  6144,  7168,  8192,   10240,  12288,  14336,  16384,  20480,  24576,  28672,  32768,
    40960, 49152, 57344, 65536,  81920,  98304,  114688, 131072, 163840, 196608, 229376, 262144,
};

#define ARENA ((size_t)1 << 20) /* an arena: what one medium class maps at a time */

static bool medium_expected(void) {
    const char *m = getenv("PYMT_MEDIUM");
    return m == NULL || strcmp(m, "0") != 0;
}

static void setting_is_the_environment(void) {
    CHECK_EQ(pymt_medium_enabled(), medium_expected() ? 1 : 0);
    CHECK_EQ(blocks[PYMT_NUM_MEDIUM_CLASSES - 1], (size_t)PYMT_MEDIUM_REQUEST_THRESHOLD);
}

/* one request of n bytes: its block is `block` bytes and class `cls` (-1: the system
 * allocator, counted in large_in_use) moves by one while it is held */
static void check_one(size_t n, size_t block, int cls) {
    pymt_stats before = check_stats();
    unsigned char *p = pymt_object_malloc(n);
    REQUIRE(p != NULL);
    pymt_stats during = check_stats();
    CHECK(check_aligned(p));
    if (cls >= 0) {
        CHECK_EQ(pymt_usable_size(p), block);
        CHECK_EQ(check_class_at(&during, cls)->blocks_in_use,
                 check_class_at(&before, cls)->blocks_in_use + 1);
        CHECK_EQ(during.large_in_use, before.large_in_use);
    } else {
        CHECK(pymt_usable_size(p) >= n);
        CHECK_EQ(during.large_in_use, before.large_in_use + 1);
        CHECK_EQ(check_sum_classes(&during).in_use, check_sum_classes(&before).in_use);
    }
    memset(p, 0xA5, pymt_usable_size(p));
    pymt_object_free(p);
    pymt_stats after = check_stats();
    CHECK_EQ(after.large_in_use, before.large_in_use);
    CHECK_EQ(check_sum_classes(&after).in_use, check_sum_classes(&before).in_use);
}

static void every_class_edge(void) {
    REQUIRE(check_plain_pools());
    if (!pymt_medium_enabled())
        CHECK_SKIP("the medium tier is off");
    check_one(512, 512, PYMT_NUM_SIZE_CLASSES - 1);
    size_t lo = 513;
    for (int i = 0; i < PYMT_NUM_MEDIUM_CLASSES; i++) {
        int cls = PYMT_NUM_SIZE_CLASSES + i;
        check_one(lo, blocks[i], cls);
        check_one(lo + 1, blocks[i], cls);
        check_one((lo + blocks[i]) / 2, blocks[i], cls);
        check_one(blocks[i], blocks[i], cls);
        lo = blocks[i] + 1;
    }
    check_one(PYMT_MEDIUM_REQUEST_THRESHOLD + 1, 0, -1);
    check_one(4 * PYMT_MEDIUM_REQUEST_THRESHOLD, 0, -1);
}

static void calloc_zeroes_medium_blocks(void) {
    REQUIRE(check_plain_pools());
    /* dirty a block of every class first, so a reused one would show */
    for (int i = 0; i < PYMT_NUM_MEDIUM_CLASSES; i++) {
        unsigned char *p = pymt_object_malloc(blocks[i]);
        REQUIRE(p != NULL);
        memset(p, 0xEE, blocks[i]);
        pymt_object_free(p);
    }
    for (int i = 0; i < PYMT_NUM_MEDIUM_CLASSES; i++) {
        unsigned char *p = pymt_object_calloc(1, blocks[i]);
        REQUIRE(p != NULL);
        size_t bad = 0;
        for (size_t k = 0; k < blocks[i]; k++)
            bad += p[k] != 0;
        CHECK_EQ(bad, 0);
        pymt_object_free(p);
    }
}

static void stats_report_the_block_sizes(void) {
    pymt_stats s = check_stats();
    for (int i = 0; i < PYMT_NUM_MEDIUM_CLASSES; i++)
        CHECK_EQ(s.medium_classes[i].block_size, pymt_medium_enabled() ? blocks[i] : 0);
}

static void fill(unsigned char *p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(seed * 31 + i * 7);
}

static size_t first_bad(const unsigned char *p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++)
        if (p[i] != (unsigned char)(seed * 31 + i * 7))
            return i;
    return n;
}

static void realloc_keeps_contents_across_both_thresholds(void) {
    const size_t c = PYMT_MEDIUM_REQUEST_THRESHOLD;
    /* small -> medium -> large -> medium -> small, and every jump over a tier */
    static const size_t walk[] = {100,   600,    c,     c + 1, 5000, 512, 513, 1,
                                  c + 1, 300000, 16000, 40,    c,    100, 2000};
    unsigned char *p = pymt_object_malloc(walk[0]);
    REQUIRE(p != NULL);
    fill(p, walk[0], 0);
    for (size_t i = 1; i < sizeof walk / sizeof walk[0]; i++) {
        size_t keep = walk[i] < walk[i - 1] ? walk[i] : walk[i - 1];
        unsigned char *q = pymt_object_realloc(p, walk[i]);
        REQUIRE(q != NULL);
        CHECK_EQ(first_bad(q, keep, (unsigned)(i - 1)), keep);
        CHECK(pymt_usable_size(q) >= walk[i]);
        fill(q, walk[i], (unsigned)i);
        p = q;
    }
    pymt_object_free(p);
}

static void realloc_stays_in_place_within_a_medium_class(void) {
    REQUIRE(check_plain_pools());
    if (!pymt_medium_enabled())
        CHECK_SKIP("the medium tier is off");
    size_t lo = 513;
    for (int i = 0; i < PYMT_NUM_MEDIUM_CLASSES; i++) {
        unsigned char *p = pymt_object_malloc(lo);
        REQUIRE(p != NULL);
        fill(p, lo, 3);
        CHECK(pymt_object_realloc(p, blocks[i]) == p); /* grows to the block's end */
        CHECK(pymt_object_realloc(p, lo) == p);        /* shrinks to the class's start */
        CHECK_EQ(first_bad(p, lo, 3), lo);
        /* a shrink to just above half the block stays; to half, it moves */
        size_t half = blocks[i] / 2;
        unsigned char *k = pymt_object_realloc(p, half + 1);
        REQUIRE(k != NULL);
        CHECK(k == p);
        p = k; /* a moved block: p is freed */
        unsigned char *h = pymt_object_realloc(p, half);
        REQUIRE(h != NULL);
        CHECK(h != p);
        /* half a medium class is a small class (320..512) or the medium class a doubling down */
        CHECK_EQ(pymt_usable_size(h), half <= 512 ? half : blocks[i - 4]);
        CHECK_EQ(first_bad(h, half, 3), half);
        p = pymt_object_realloc(h, lo);
        REQUIRE(p != NULL);
        unsigned char *q = pymt_object_realloc(p, blocks[i] + 1); /* the next class moves */
        REQUIRE(q != NULL);
        CHECK(q != p);
        CHECK_EQ(first_bad(q, half, 3), half);
        pymt_object_free(q);
        lo = blocks[i] + 1;
    }
}

static void stats_add_up_with_medium_blocks_held(void) {
    REQUIRE(check_plain_pools());
    enum { N = 24 };
    void *held[PYMT_NUM_MEDIUM_CLASSES][N];
    for (int i = 0; i < PYMT_NUM_MEDIUM_CLASSES; i++)
        for (int k = 0; k < N; k++) {
            held[i][k] = pymt_object_malloc(blocks[i] - (size_t)k);
            REQUIRE(held[i][k] != NULL);
        }
    pymt_stats s = check_stats();
    CHECK_STATS_ADD_UP(&s);
    if (pymt_medium_enabled())
        for (int i = 0; i < PYMT_NUM_MEDIUM_CLASSES; i++) {
            CHECK(s.medium_classes[i].blocks_in_use >= N);
            CHECK(s.medium_classes[i].pools >= 1);
        }
    for (int i = 0; i < PYMT_NUM_MEDIUM_CLASSES; i++)
        for (int k = 0; k < N; k += 2)
            pymt_object_free(held[i][k]);
    s = check_stats();
    CHECK_STATS_ADD_UP(&s);
    for (int i = 0; i < PYMT_NUM_MEDIUM_CLASSES; i++)
        for (int k = 1; k < N; k += 2)
            pymt_object_free(held[i][k]);
    pymt_thread_flush();
    s = check_stats();
    CHECK_STATS_ADD_UP(&s);
    for (int i = 0; i < PYMT_NUM_MEDIUM_CLASSES; i++)
        CHECK_EQ(s.medium_classes[i].blocks_cached, 0);
}

/* Enough blocks of the last class (256 KiB, three to an arena) to fill several arenas, all
 * freed: arenas that empty beyond the one the class keeps go back without a call, and pymt_trim
 * hands back the kept one and the reserve. */
static void trim_returns_medium_arenas(void) {
    REQUIRE(check_plain_pools());
    if (!pymt_medium_enabled())
        CHECK_SKIP("the medium tier is off");
    enum { N = 30 }; /* 7.5 MiB: ten arenas */
    static void *held[N];
    pymt_trim();
    pymt_stats s0 = check_stats();
    for (int i = 0; i < N; i++) {
        held[i] = pymt_object_malloc(PYMT_MEDIUM_REQUEST_THRESHOLD);
        REQUIRE(held[i] != NULL);
    }
    pymt_stats s1 = check_stats();
    CHECK(s1.medium_classes[PYMT_NUM_MEDIUM_CLASSES - 1].pools >= 6);
    CHECK(s1.bytes_mapped >= s0.bytes_mapped + (size_t)N * PYMT_MEDIUM_REQUEST_THRESHOLD);
    for (int i = 0; i < N; i++)
        pymt_object_free(held[i]);
    pymt_stats s2 = check_stats();
    CHECK(s2.bytes_mapped + 2 * ARENA <= s1.bytes_mapped);
    size_t released = pymt_trim();
    pymt_stats s3 = check_stats();
    CHECK(released >= ARENA); /* at least the arena the class kept */
    CHECK_EQ(s3.medium_arenas_empty, 0);
    CHECK_EQ(s3.medium_classes[PYMT_NUM_MEDIUM_CLASSES - 1].blocks_in_use,
             s0.medium_classes[PYMT_NUM_MEDIUM_CLASSES - 1].blocks_in_use);
    CHECK(s3.bytes_mapped <= s0.bytes_mapped);
}

/* Free every block of p[0..n) but the first (in p's order) of each arena, then flush the
 * thread's cache; returns how many were freed. */
static size_t free_all_but_first_per_arena(void **p, size_t n) {
    size_t freed = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == NULL)
            continue;
        bool first = true;
        for (size_t j = 0; j < i && first; j++)
            first = p[j] == NULL || (uintptr_t)p[j] >> 20 != (uintptr_t)p[i] >> 20;
        if (first)
            continue;
        pymt_object_free(p[i]);
        p[i] = NULL;
        freed++;
    }
    pymt_thread_flush();
    return freed;
}

/* Arenas held by a few blocks: 47 MiB of 12 KiB blocks written (a class below the dirty bound's,
 * so that only the trim gives their pages back), then every block freed but the first of each
 * arena. No arena is wholly free, but pymt_trim gives back the pages inside the free blocks
 * (one or two of each block's three or four: not the one of its link), so RSS falls by at
 * least a page per block freed; the blocks still held, and those allocated after, work as
 * before. */
static void trim_gives_back_the_free_blocks_of_arenas_in_use(void) {
    REQUIRE(check_plain_pools());
    if (!pymt_medium_enabled())
        CHECK_SKIP("the medium tier is off");
    if (CHECK_SANITIZED)
        CHECK_SKIP("RSS means nothing under a sanitizer");
    enum { N = 48 * 84, SIZE = 12288 };
    static void *p[N];
    for (int i = 0; i < N; i++) {
        REQUIRE((p[i] = pymt_object_malloc(SIZE)) != NULL);
        memset(p[i], 0x77, SIZE);
    }
    size_t freed = free_all_but_first_per_arena(p, N);
    size_t before = check_rss_bytes();
    (void)pymt_trim();
    size_t after = check_rss_bytes();
    size_t fell = before > after ? before - after : 0;
    if (fell + ((size_t)2 << 20) < freed * (size_t)sysconf(_SC_PAGESIZE)) {
        check_fail_at(__FILE__, __LINE__, "trim gives back the free blocks' pages");
        fprintf(stderr, "    %zu blocks held; RSS %zu KiB before the trim, %zu KiB after\n",
                (size_t)N - freed, before / 1024, after / 1024);
    }
    for (int i = 0; i < N; i++) {
        if (p[i] != NULL) {
            CHECK(((unsigned char *)p[i])[SIZE - 1] == 0x77);
            pymt_object_free(p[i]);
        }
        REQUIRE((p[i] = pymt_object_malloc(SIZE)) != NULL);
        memset(p[i], 0x11, SIZE);
    }
    for (int i = 0; i < N; i++)
        pymt_object_free(p[i]);
}

/* Many classes each left with a wholly free arena: at most two are kept over all classes, the
 * others go back, so a program that has freed everything does not keep an arena per class. */
static void few_empty_arenas_are_kept_over_all_classes(void) {
    REQUIRE(check_plain_pools());
    if (!pymt_medium_enabled())
        CHECK_SKIP("the medium tier is off");
    pymt_trim();
    void *held[8];
    for (int i = 0; i < 8; i++) {
        held[i] = pymt_object_malloc(blocks[12 + i]); /* 5 KiB .. 16 KiB: an arena each */
        REQUIRE(held[i] != NULL);
    }
    pymt_stats s0 = check_stats();
    for (int i = 0; i < 8; i++)
        CHECK(s0.medium_classes[12 + i].pools >= 1);
    for (int i = 0; i < 8; i++)
        pymt_object_free(held[i]);
    pymt_thread_flush(); /* the blocks leave the thread's cache: every arena is now empty */
    pymt_stats s1 = check_stats();
    size_t arenas = 0;
    for (int i = 0; i < 8; i++)
        arenas += s1.medium_classes[12 + i].pools;
    CHECK(s1.medium_arenas_empty <= 2);
    CHECK(arenas <= 2);
}

/* Blocks of the classes the dirty bound covers (16 KiB and up), freed while each arena keeps
 * one: their pages go back past the bound without a pymt_trim. 120 blocks of 200,000 bytes
 * (the 224 KiB class, four to an arena), written, then all but the first of each arena freed:
 * 90 blocks, 16.5 MiB of whole pages, given back to arenas still in use. The bound is the bytes
 * those classes have out (30 blocks, 6.6 MiB) within 2 MiB .. 4 x PYMT_PURGE_MAX (32 MiB by
 * default): RSS falls by at least those pages less 8 MiB. (Before the bound, every freed block
 * stayed resident until pymt_trim: RSS fell by nothing.) */
enum { BIG = 200000, NBIG = 120 };

static void *big[NBIG];

/* Allocate n blocks of size bytes into p (one thread), write them, free all but the first of
 * each arena, and check that RSS fell by at least the pages each freed block surely gives
 * back (every page of its bytes but the first and the last, which may be partial, the first
 * holding its link) less slack (the dirty bound and some margin); then the blocks held are
 * intact, the freed ones serve again, and all are freed. */
static void freed_blocks_give_back(void **p, size_t n, size_t size, size_t slack) {
    REQUIRE(check_plain_pools());
    if (!pymt_medium_enabled())
        CHECK_SKIP("the medium tier is off");
    if (CHECK_SANITIZED)
        CHECK_SKIP("RSS means nothing under a sanitizer");
    pymt_trim();
    for (size_t i = 0; i < n; i++) {
        REQUIRE((p[i] = pymt_object_malloc(size)) != NULL);
        memset(p[i], 0x5b, size);
    }
    size_t before = check_rss_bytes();
    size_t freed = free_all_but_first_per_arena(p, n);
    size_t after = check_rss_bytes();
    size_t fell = before > after ? before - after : 0;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t gives = ((size + page - 1) / page - 2) * page;
    CHECK(freed >= n * 3 / 4);
    if (fell + slack < freed * gives) {
        check_fail_at(__FILE__, __LINE__, "freed blocks leave RSS past the bound");
        fprintf(stderr, "    %zu blocks of %zu bytes freed; RSS fell by %zu KiB\n", freed, size,
                fell / 1024);
    }
    for (size_t i = 0; i < n; i++) {
        if (p[i] != NULL)
            CHECK(((unsigned char *)p[i])[size - 1] == 0x5b);
        else
            REQUIRE((p[i] = pymt_object_malloc(size)) != NULL);
        memset(p[i], 0x11, size);
    }
    for (size_t i = 0; i < n; i++) {
        pymt_object_free(p[i]);
        p[i] = NULL;
    }
    pymt_thread_flush();
}

static void freed_big_blocks_give_back_their_pages(void) {
    freed_blocks_give_back(big, NBIG, BIG, (size_t)8 << 20);
}

/* The same for blocks of 20,000 bytes (the 20 KiB class, 51 to an arena): 1,020 blocks in 20
 * arenas, 1,000 of them freed, 19 MiB, of which at least 12 KiB a block go back; the bound is
 * the 2 MiB floor. (With the bound only from 64 KiB up, RSS fell by nothing.) */
enum { MID = 20000, NMID = 1020 };
static void *mid[NMID];

static void freed_mid_blocks_give_back_their_pages(void) {
    freed_blocks_give_back(mid, NMID, MID, (size_t)4 << 20);
}

/* A heap of big blocks that swings keeps them once it has had to fault purged ones back: 32
 * blocks of 200,000 bytes (8 arenas), all but the first of each arena freed and allocated
 * again, six times. The first troughs purge (the bound is the 2 MiB floor while 8 blocks are
 * out), the next peaks fault the purged blocks back, and the regret raises the bound past the
 * swing (5 MiB, under the cap): from the fourth cycle a cycle faults next to nothing.
 * (Without the regret, each cycle faulted the 24 blocks' pages back, about 1,100 pages.) */
static void a_big_heap_that_swings_stops_purging(void) {
    REQUIRE(check_plain_pools());
    if (!pymt_medium_enabled())
        CHECK_SKIP("the medium tier is off");
    if (CHECK_SANITIZED)
        CHECK_SKIP("page faults mean nothing under a sanitizer");
    enum { N = 32, CYCLES = 6 };
    long flt[CYCLES];
    pymt_stats before_last = {0};
    pymt_trim(); /* no regret from the cases before */
    pymt_stats s0 = check_stats();
    for (int r = 0; r < CYCLES; r++) {
        if (r == CYCLES - 1)
            before_last = check_stats();
        long f0 = check_minor_faults();
        for (int i = 0; i < N; i++)
            if (big[i] == NULL) {
                REQUIRE((big[i] = pymt_object_malloc(BIG)) != NULL);
                memset(big[i], 0x22, BIG);
            }
        (void)free_all_but_first_per_arena(big, N);
        flt[r] = check_minor_faults() - f0;
    }
    CHECK(flt[1] >= 200); /* the second cycle faults back what the first purged */
    CHECK(flt[CYCLES - 1] * 10 < flt[1]);
    CHECK(flt[CYCLES - 2] * 10 < flt[1]);
    /* the statistics tell the same: blocks were purged and taken again, and the last cycle
     * purged none */
    pymt_stats after = check_stats();
    CHECK(before_last.medium_blocks_purged_total > s0.medium_blocks_purged_total);
    CHECK(before_last.medium_blocks_refaulted_total > s0.medium_blocks_refaulted_total);
    CHECK_EQ(after.medium_blocks_purged_total, before_last.medium_blocks_purged_total);
    if (flt[CYCLES - 1] * 10 >= flt[1] || getenv("MEDIUM_VERBOSE") != NULL)
        fprintf(stderr, "    minor faults per cycle: %ld %ld %ld %ld %ld %ld\n", flt[0], flt[1],
                flt[2], flt[3], flt[4], flt[5]);
    for (int i = 0; i < N; i++) {
        pymt_object_free(big[i]);
        big[i] = NULL;
    }
    pymt_trim();
}

/* Threads that each hold and free 16 KiB blocks, more of them than a small budget has room for
 * (the medium.budget variant: PYMT_TCACHE_BYTES=64K over eight threads): a thread whose bin of
 * the class has bound 0 sends a freed block back to its tier, not to the pool core. */
enum { WORKERS = 8, HOLD = 6, ROUNDS = 200 };
static void *medium_worker(void *arg) {
    (void)arg;
    void *held[HOLD];
    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < HOLD; i++)
            if ((held[i] = pymt_object_malloc(blocks[PYMT_NUM_MEDIUM_CLASSES - 1 - i % 3])) == NULL)
                return NULL;
        for (int i = 0; i < HOLD; i++) {
            memset(held[i], r, 640);
            pymt_object_free(held[i]);
        }
    }
    return (void *)1;
}

static void threads_over_a_small_budget(void) {
    pthread_t t[WORKERS];
    for (int i = 0; i < WORKERS; i++)
        REQUIRE(pthread_create(&t[i], NULL, medium_worker, NULL) == 0);
    for (int i = 0; i < WORKERS; i++) {
        void *res = NULL;
        REQUIRE(pthread_join(t[i], &res) == 0);
        CHECK(res != NULL);
    }
    pymt_stats s = check_stats();
    CHECK_STATS_ADD_UP(&s);
    CHECK(s.tcache_bytes <= s.tcache_budget + PYMT_MEDIUM_REQUEST_THRESHOLD * 16);
}

/* PYMT_MEDIUM=0: pymalloc's threshold exactly; 513 bytes and up are the system's. */
static void off_means_pymalloc_threshold(void) {
    REQUIRE(check_plain_pools());
    if (pymt_medium_enabled())
        CHECK_SKIP("the medium tier is on");
    check_one(512, 512, PYMT_NUM_SIZE_CLASSES - 1);
    check_one(513, 0, -1);
    check_one(1024, 0, -1);
    check_one(PYMT_MEDIUM_REQUEST_THRESHOLD, 0, -1);
    pymt_stats s = check_stats();
    for (int i = 0; i < PYMT_NUM_MEDIUM_CLASSES; i++)
        CHECK_EQ(s.medium_classes[i].blocks_total, 0);
}

static const check_case cases[] = {
    CHECK_CASE(setting_is_the_environment),
    CHECK_CASE(every_class_edge),
    CHECK_CASE(calloc_zeroes_medium_blocks),
    CHECK_CASE(stats_report_the_block_sizes),
    CHECK_CASE(realloc_keeps_contents_across_both_thresholds),
    CHECK_CASE(realloc_stays_in_place_within_a_medium_class),
    CHECK_CASE(stats_add_up_with_medium_blocks_held),
    CHECK_CASE(trim_returns_medium_arenas),
    CHECK_CASE(trim_gives_back_the_free_blocks_of_arenas_in_use),
    CHECK_CASE(few_empty_arenas_are_kept_over_all_classes),
    CHECK_CASE(off_means_pymalloc_threshold),
    CHECK_CASE(freed_big_blocks_give_back_their_pages),
    CHECK_CASE(freed_mid_blocks_give_back_their_pages),
    CHECK_CASE(a_big_heap_that_swings_stops_purging),
    CHECK_CASE(threads_over_a_small_budget),
};
CHECK_MAIN(cases)

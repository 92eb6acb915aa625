/* test_large.c: the per-thread cache of large object-memory blocks (src/large.c).
 * Proves: a freed block of 32 KiB..1 MiB is kept (stats.large_cached_bytes) and handed out
 * again for a request it fits with at most a quarter to spare, not for one it fits worse (the
 * sizes are past the medium ceiling, 256 KiB, so that they are large with the tier on or off);
 * calloc of a kept block is zeroed; the kept bytes never exceed PYMT_LARGE_CACHE; blocks
 * outside 32 KiB..1 MiB are never kept; a realloc that grows a large block first gives the
 * kept blocks back (one that shrinks keeps them), and keeps the contents; pymt_thread_flush,
 * pymt_trim and thread exit give everything back; PYMT_LARGE_CACHE=0 keeps nothing; large_in_use counts only blocks with the
 * program. glibc's thresholds stay glibc's in a library unless PYMT_GLIBC_TUNE=1 asks, and
 * then not when the environment sets one of them. ASan and Valgrind-annotated builds keep nothing (the tools must see every free), so
 * there the cases check exactly that. Run in pymalloc mode (ctest sets PYMT_MALLOC=pymalloc). */
#include <malloc.h>
#include <pthread.h>

#include "check.h"

static char err[4096];

static pymt_stats stats_now(void) {
    pymt_stats s;
    pymt_get_stats(&s, sizeof s);
    return s;
}

/* ASan builds and PYMT_VALGRIND builds (the debug preset) keep nothing */
#if defined(PYMT_CONFIG_VALGRIND) && PYMT_CONFIG_VALGRIND
#define LARGE_CACHE_BUILT 0
#else
#define LARGE_CACHE_BUILT (!CHECK_ASAN)
#endif
static bool cache_built(void) {
    return LARGE_CACHE_BUILT && pymt_tcache_enabled();
}

static void kept_block_is_reused(void) {
    pymt_thread_flush();
    pymt_stats s0 = stats_now();
    CHECK_EQ(s0.large_cached_bytes, 0);
    void *p = pymt_object_malloc(400000);
    REQUIRE(p != NULL);
    memset(p, 0xab, 400000);
    pymt_stats s1 = stats_now();
    CHECK_EQ(s1.large_in_use, s0.large_in_use + 1);
    pymt_object_free(p);
    pymt_stats s2 = stats_now();
    CHECK_EQ(s2.large_in_use, s0.large_in_use);
    if (!cache_built()) {
        CHECK_EQ(s2.large_cached_bytes, 0);
        return;
    }
    CHECK(s2.large_cached_bytes >= 400000);
    /* a request it fits with less than a quarter to spare gets it back */
    void *q = pymt_object_malloc(360000);
    CHECK(q == p);
    CHECK_EQ(stats_now().large_cached_bytes, 0);
    CHECK_EQ(stats_now().large_in_use, s0.large_in_use + 1);
    pymt_object_free(q);
    /* one it fits with more to spare does not */
    void *r = pymt_object_malloc(270000);
    CHECK(r != p);
    CHECK(stats_now().large_cached_bytes >= 400000);
    pymt_object_free(r);
    pymt_thread_flush();
    CHECK_EQ(stats_now().large_cached_bytes, 0);
}

static void calloc_of_kept_block_is_zeroed(void) {
    pymt_thread_flush();
    unsigned char *p = pymt_object_malloc(320 << 10);
    REQUIRE(p != NULL);
    memset(p, 0x5a, 320 << 10);
    pymt_object_free(p);
    unsigned char *q = pymt_object_calloc(1, 300 << 10);
    REQUIRE(q != NULL);
    if (cache_built())
        CHECK(q == p);
    size_t nonzero = 0;
    for (size_t i = 0; i < (300 << 10); i++)
        nonzero += q[i] != 0;
    CHECK_EQ(nonzero, 0);
    pymt_object_free(q);
    pymt_thread_flush();
}

static void sizes_outside_the_range_are_not_kept(void) {
    pymt_thread_flush();
    void *small = pymt_object_malloc(20 << 10);
    void *huge = pymt_object_malloc(3 << 20);
    REQUIRE(small != NULL && huge != NULL);
    pymt_object_free(small);
    pymt_object_free(huge);
    CHECK_EQ(stats_now().large_cached_bytes, 0);
}

static void trim_and_flush_give_everything_back(void) {
    pymt_thread_flush();
    void *p[4];
    for (int i = 0; i < 4; i++) {
        p[i] = pymt_object_malloc((size_t)(300 + 40 * i) << 10);
        REQUIRE(p[i] != NULL);
    }
    for (int i = 0; i < 4; i++)
        pymt_object_free(p[i]);
    if (cache_built())
        CHECK(stats_now().large_cached_bytes >= (size_t)(300 + 340 + 380 + 420) << 10);
    pymt_trim();
    CHECK_EQ(stats_now().large_cached_bytes, 0);
}

static void growing_realloc_gives_kept_blocks_back(void) {
    pymt_thread_flush();
    unsigned char *kept = pymt_object_malloc(320 << 10);
    unsigned char *grow = pymt_object_malloc(280 << 10);
    REQUIRE(kept != NULL && grow != NULL);
    for (size_t i = 0; i < (280 << 10); i++)
        grow[i] = (unsigned char)(i * 7);
    pymt_object_free(kept);
    if (cache_built())
        CHECK(stats_now().large_cached_bytes >= (320 << 10));
    /* shrinking keeps them */
    grow = pymt_object_realloc(grow, 270 << 10);
    REQUIRE(grow != NULL);
    if (cache_built())
        CHECK(stats_now().large_cached_bytes >= (320 << 10));
    /* growing: the kept block goes back to the system allocator first */
    grow = pymt_object_realloc(grow, 600 << 10);
    REQUIRE(grow != NULL);
    CHECK_EQ(stats_now().large_cached_bytes, 0);
    size_t wrong = 0;
    for (size_t i = 0; i < (270 << 10); i++)
        wrong += grow[i] != (unsigned char)(i * 7);
    CHECK_EQ(wrong, 0);
    pymt_object_free(grow);
    pymt_thread_flush();
}

/* PYMT_LARGE_CACHE=640 (KiB): ten blocks of 300 KiB freed, at most 640 KiB kept, the newest */
static void child_budget_is_respected(void) {
    void *p[10];
    for (int i = 0; i < 10; i++) {
        p[i] = pymt_object_malloc(300 << 10);
        REQUIRE(p[i] != NULL);
    }
    for (int i = 0; i < 10; i++) {
        pymt_object_free(p[i]);
        CHECK(stats_now().large_cached_bytes <= (640 << 10));
    }
    if (!cache_built())
        return;
    CHECK(stats_now().large_cached_bytes >= (600 << 10));
    void *q = pymt_object_malloc(300 << 10);
    CHECK(q == p[9] || q == p[8]);
    pymt_object_free(q);
}

static void budget_is_respected(void) {
    const char *env[] = {"PYMT_MALLOC=pymalloc", "PYMT_LARGE_CACHE=640", NULL};
    int st = check_spawn_self("child_budget_is_respected", env, err, sizeof err);
    CHECK_CHILD_EXIT0("PYMT_LARGE_CACHE=640 child", st, err);
}

static void child_zero_budget_keeps_nothing(void) {
    void *p = pymt_object_malloc(300 << 10);
    REQUIRE(p != NULL);
    pymt_object_free(p);
    CHECK_EQ(stats_now().large_cached_bytes, 0);
}

static void zero_budget_keeps_nothing(void) {
    const char *env[] = {"PYMT_MALLOC=pymalloc", "PYMT_LARGE_CACHE=0", NULL};
    int st = check_spawn_self("child_zero_budget_keeps_nothing", env, err, sizeof err);
    CHECK_CHILD_EXIT0("PYMT_LARGE_CACHE=0 child", st, err);
    CHECK_EQ(err[0], '\0');
}

static void *free_big_and_exit(void *arg) {
    (void)arg;
    void *p = pymt_object_malloc(300 << 10);
    if (p != NULL)
        pymt_object_free(p);
    return (void *)(uintptr_t)(stats_now().large_cached_bytes != 0);
}

static void thread_exit_gives_everything_back(void) {
    pymt_thread_flush();
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, free_big_and_exit, NULL) == 0);
    void *kept;
    pthread_join(t, &kept);
    CHECK_EQ((uintptr_t)kept, cache_built() ? 1 : 0);
    CHECK_EQ(stats_now().large_cached_bytes, 0);
}

/* Run with PYMT_GLIBC_TUNE and EXPECT_TUNED set: a block of 2 MiB (past the large cache,
 * straight to glibc) is a mapping of its own under glibc's default thresholds (128 KiB in a
 * fresh process), a chunk of its heap under pymt's (32 MiB); mallinfo2 is glibc's count. */
static void child_glibc_thresholds(void) {
    if (CHECK_SANITIZED)
        CHECK_SKIP("the sanitizer's allocator is not glibc's");
    bool tuned = strcmp(getenv("EXPECT_TUNED"), "1") == 0;
    size_t before = mallinfo2().hblks;
    void *p = pymt_object_malloc((size_t)2 << 20);
    REQUIRE(p != NULL);
    CHECK_EQ(mallinfo2().hblks - before, (tuned ? 0u : 1u));
    pymt_object_free(p);
}

static void glibc_thresholds_only_when_asked(void) {
    /* the environment of each child: what a library does by default, with 0, with 1, and with
     * 1 under a threshold the environment sets for glibc itself */
    const char *const settings[][5] = {
        {"PYMT_GLIBC_TUNE", "GLIBC_TUNABLES", "EXPECT_TUNED=0", NULL},
        {"PYMT_GLIBC_TUNE=0", "GLIBC_TUNABLES", "EXPECT_TUNED=0", NULL},
        {"PYMT_GLIBC_TUNE=1", "GLIBC_TUNABLES", "EXPECT_TUNED=1", NULL},
        {"PYMT_GLIBC_TUNE=1", "GLIBC_TUNABLES=glibc.malloc.mmap_threshold=131072",
         "EXPECT_TUNED=0", NULL},
    };
    for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++) {
        int st = check_spawn_self("child_glibc_thresholds", settings[i], err, sizeof err);
        if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
            check_fail_at(__FILE__, __LINE__, "the child case exits 0");
            check_show_child(settings[i][1], st, err);
        }
    }
}

static const check_case cases[] = {
    CHECK_CASE(kept_block_is_reused),
    CHECK_CASE(calloc_of_kept_block_is_zeroed),
    CHECK_CASE(sizes_outside_the_range_are_not_kept),
    CHECK_CASE(trim_and_flush_give_everything_back),
    CHECK_CASE(growing_realloc_gives_kept_blocks_back),
    CHECK_CASE(child_budget_is_respected),
    CHECK_CASE(budget_is_respected),
    CHECK_CASE(child_zero_budget_keeps_nothing),
    CHECK_CASE(zero_budget_keeps_nothing),
    CHECK_CASE(thread_exit_gives_everything_back),
    CHECK_CASE(child_glibc_thresholds),
    CHECK_CASE(glibc_thresholds_only_when_asked),
};
CHECK_MAIN(cases)

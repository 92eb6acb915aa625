/* test_footprint.c: the thread caches' memory. Proves: the blocks of exited threads go back to
 * the pools and the depot drains as the thread pool shrinks, so arenas are released without
 * pymt_trim (stats and RSS back near the start); a thread over its share of the budget gives
 * blocks back at its next slow-path visit; a class a thread has moved on from is emptied by
 * the sweep; the budget can be set at run time and the statistics show it. Runs with
 * PYMT_MALLOC=pymalloc (ctest ENVIRONMENT). */
#include "check.h"

#include <pthread.h>

enum { PER_CLASS = 600, THREADS = 32 };

static pthread_barrier_t all_done;

/* The pattern: per small class, 600 blocks allocated then freed. */
static void churn_every_class(void) {
    static _Thread_local void *p[PER_CLASS];
    for (size_t size = 16; size <= 512; size += 16) {
        for (int i = 0; i < PER_CLASS; i++) {
            p[i] = pymt_object_malloc(size);
            if (p[i] == NULL)
                abort();
            memset(p[i], 0x11, size);
        }
        for (int i = 0; i < PER_CLASS; i++)
            pymt_object_free(p[i]);
    }
}

static void *worker(void *arg) {
    (void)arg;
    churn_every_class();
    pthread_barrier_wait(&all_done); /* all live at once, as a thread pool is */
    return NULL;
}

static void exited_threads_memory_returns_without_trim(void) {
    (void)pymt_trim();
    pymt_stats s0 = check_stats();
    size_t rss0 = check_rss_bytes();
    pthread_t t[THREADS];
    REQUIRE(pthread_barrier_init(&all_done, NULL, THREADS) == 0);
    for (int i = 0; i < THREADS; i++)
        REQUIRE(pthread_create(&t[i], NULL, worker, NULL) == 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&all_done);
    /* no call since the joins: the exits themselves gave everything back */
    pymt_stats s = check_stats();
    CHECK_EQ(s.threads_cached, s0.threads_cached);
    CHECK_EQ(s.depot_bytes, 0);
    CHECK_EQ(s.tcache_bytes, s0.tcache_bytes);
    CHECK_STATS_ADD_UP(&s);
    for (unsigned c = 0; c < PYMT_NUM_SIZE_CLASSES; c++)
        CHECK_EQ(s.classes[c].blocks_in_use, s0.classes[c].blocks_in_use);
    /* wholly free arenas left: at most the reserve (2, pages discarded) and the one pymalloc
     * keeps on its list, on each pool core's list */
    CHECK(s.arenas_current <= s0.arenas_current + 2 + s.pool_cores);
    if (!CHECK_SANITIZED) {
        size_t rss = check_rss_bytes();
        if (rss > rss0 + ((size_t)2 << 20)) {
            check_fail_at(__FILE__, __LINE__, "RSS back within 2 MiB of the start");
            fprintf(stderr, "    RSS start %zu KiB, after the exits %zu KiB\n", rss0 / 1024,
                    rss / 1024);
        }
    }
}

/* ---- the budget and the sweep, seen by the thread that caches --------------------------------- */

typedef struct share_result {
    size_t share, held_max, budget;
} share_result;

static void *over_its_share(void *arg) {
    share_result *r = arg;
    enum { N = 256 };
    static _Thread_local void *p[N];
    /* every class: N blocks out, then back, which overflows the bins and visits the slow path */
    for (int round = 0; round < 3; round++)
        for (size_t size = 512; size >= 16; size -= 16) {
            for (int i = 0; i < N; i++)
                p[i] = pymt_object_malloc(size);
            for (int i = 0; i < N; i++)
                pymt_object_free(p[i]);
        }
    pymt_stats s = check_stats();
    r->share = s.tcache_share;
    r->held_max = s.tcache_bytes_max;
    r->budget = s.tcache_budget;
    return NULL;
}

static void a_thread_keeps_within_its_share(void) {
    CHECK(pymt_set_tcache_budget(1000) == -1 && errno == EINVAL);
    size_t budget = (size_t)64 << 10;
    REQUIRE(pymt_set_tcache_budget(budget) == 0);
    share_result r = {0};
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, over_its_share, &r) == 0);
    pthread_join(t, NULL);
    CHECK_EQ(r.budget, budget);
    CHECK(r.share >= ((size_t)16 << 10) && r.share <= budget);
    /* within its share, give or take one block of each class (bins never go below one) and
     * one refill's batch */
    if (r.held_max > r.share + 8448 + 8192) {
        check_fail_at(__FILE__, __LINE__, "cache within its share");
        fprintf(stderr, "    held %zu bytes, share %zu\n", r.held_max, r.share);
    }
    REQUIRE(pymt_set_tcache_budget((size_t)32 << 20) == 0);
    /* the same pattern with the default budget keeps far more: the limit above was the cause */
    pthread_create(&t, NULL, over_its_share, &r);
    pthread_join(t, NULL);
    CHECK(r.held_max > ((size_t)64 << 10) + 8448 + 8192);
}

static void *moves_on(void *arg) {
    size_t *held_small = arg;
    enum { N = 200 };
    static _Thread_local void *p[N];
    for (int i = 0; i < N; i++)
        p[i] = pymt_object_malloc(32);
    for (int i = 0; i < N; i++)
        pymt_object_free(p[i]); /* the 32-byte bins are full now */
    /* then only 256-byte blocks, long enough for the sweep to come round */
    for (int round = 0; round < 400; round++) {
        for (int i = 0; i < N; i++)
            p[i] = pymt_object_malloc(256);
        for (int i = 0; i < N; i++)
            pymt_object_free(p[i]);
    }
    pymt_stats s = check_stats();
    *held_small = s.classes[1].blocks_cached; /* 32-byte class, this thread's cache only */
    return NULL;
}

static void a_class_left_behind_is_swept(void) {
    size_t held = SIZE_MAX;
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, moves_on, &held) == 0);
    pthread_join(t, NULL);
    CHECK_EQ(held, 0);
}

/* Empty pools inside arenas that stay in use go back to the kernel past a small number: one
 * block kept per arena keeps every arena mapped, and RSS must still fall. */
static void empty_pools_of_live_arenas_are_purged(void) {
    if (CHECK_SANITIZED)
        CHECK_SKIP("RSS means nothing under a sanitizer");
    enum { N = 250000 }; /* 64-byte blocks: about 16 MiB of pools */
    static void *p[N];
    size_t rss0 = check_rss_bytes();
    for (int i = 0; i < N; i++) {
        p[i] = pymt_object_malloc(64);
        REQUIRE(p[i] != NULL);
        memset(p[i], 0x22, 64);
    }
    size_t peak = check_rss_bytes();
    uintptr_t last_arena = 0;
    int kept = 0;
    for (int i = 0; i < N; i++) {
        uintptr_t arena = (uintptr_t)p[i] >> 20;
        if (arena != last_arena) { /* the first block met in each arena stays */
            last_arena = arena;
            kept++;
            continue;
        }
        pymt_object_free(p[i]);
        p[i] = NULL;
    }
    pymt_thread_flush();
    pymt_stats s = check_stats();
    CHECK_STATS_ADD_UP(&s);
    size_t rss = check_rss_bytes();
    /* without the purge every free pool stays resident: RSS stays at the peak */
    if (peak - rss0 < ((size_t)12 << 20) || rss > rss0 + (peak - rss0) / 2) {
        check_fail_at(__FILE__, __LINE__, "free pools of live arenas leave RSS");
        fprintf(stderr, "    RSS start %zu KiB, peak %zu KiB, after %zu KiB (%d blocks kept)\n",
                rss0 / 1024, peak / 1024, rss / 1024, kept);
    }
    for (int i = 0; i < N; i++)
        pymt_object_free(p[i]);
}

static void stats_print_the_budget(void) {
    char *text = check_stats_text();
    CHECK(text != NULL && strstr(text, "# thread cache budget / share") != NULL);
    CHECK(text != NULL && strstr(text, "# bytes in the depot") != NULL);
    CHECK(text != NULL && strstr(text, "# bytes in thread caches           = ") != NULL);
    free(text);
}

static const check_case cases[] = {
    CHECK_CASE(exited_threads_memory_returns_without_trim),
    CHECK_CASE(a_thread_keeps_within_its_share),
    CHECK_CASE(a_class_left_behind_is_swept),
    CHECK_CASE(empty_pools_of_live_arenas_are_purged),
    CHECK_CASE(stats_print_the_budget),
};
CHECK_MAIN(cases)

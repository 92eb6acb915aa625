/* test_tcache.c: per-thread caches leave nothing behind and batch the core's work.
 *
 * Proves: a thread that allocates and frees, then exits, leaves no block cached
 * (blocks_cached back to 0 and threads_cached back down after the join), also when another
 * thread frees its blocks; pymt_thread_flush() empties the calling thread's cache; with the
 * caches on, refills, flushes and core lock acquisitions are far fewer than allocations, and
 * with them off (`tcache.tcache_off`, PYMT_TCACHE=0) no refill or flush happens and every
 * operation takes the lock; a thread never caches more blocks of a class than the documented
 * bound, four bins' worth (a bin and a spare, each up to twice its size right after a refill
 * from the pools); blocks freed in random order are handed out again in address order.
 * Runs with PYMT_MALLOC=pymalloc (set by CMake). */
#include "check.h"

#include <pthread.h>

enum { NBLOCKS = 3000 };

static size_t total_cached(const pymt_stats *s) {
    return check_sum_classes(s).cached;
}

/* The main thread's cache is emptied first so that "nothing cached" is exact. */
static pymt_stats quiet_start(void) {
    pymt_thread_flush();
    return check_stats();
}

static void check_nothing_left(const pymt_stats *s0, const char *what) {
    pymt_stats s1 = check_stats();
    CHECK_STATS_ADD_UP(&s1);
    if (total_cached(&s1) != 0 || s1.threads_cached > s0->threads_cached ||
        check_sum_classes(&s1).in_use != check_sum_classes(s0).in_use) {
        check_fail_at(__FILE__, __LINE__, "nothing cached or in use after the threads exit");
        fprintf(stderr, "    %s: cached %zu, threads_cached %zu -> %zu, in_use %zu -> %zu\n",
                what, total_cached(&s1), s0->threads_cached, s1.threads_cached,
                check_sum_classes(s0).in_use, check_sum_classes(&s1).in_use);
    }
}

typedef struct work {
    void **blocks;
    size_t n;
    size_t threads_cached_seen; /* read from inside the thread, while its cache lives */
} work;

static void *alloc_free_then_exit(void *arg) {
    work *w = arg;
    for (size_t i = 0; i < w->n; i++) {
        w->blocks[i] = pymt_object_malloc(i % PYMT_SMALL_REQUEST_THRESHOLD + 1);
        if (w->blocks[i])
            memset(w->blocks[i], 0x11, i % PYMT_SMALL_REQUEST_THRESHOLD + 1);
    }
    for (size_t i = 0; i < w->n; i++)
        pymt_object_free(w->blocks[i]);
    pymt_stats s;
    pymt_get_stats(&s, sizeof s);
    w->threads_cached_seen = s.threads_cached;
    return NULL;
}

static void *alloc_only(void *arg) {
    work *w = arg;
    for (size_t i = 0; i < w->n; i++) {
        w->blocks[i] = pymt_object_malloc((i * 37) % PYMT_SMALL_REQUEST_THRESHOLD + 1);
        if (w->blocks[i])
            memset(w->blocks[i], 0x22, 1);
    }
    return NULL;
}

static void *free_only(void *arg) {
    work *w = arg;
    for (size_t i = 0; i < w->n; i++)
        pymt_object_free(w->blocks[i]);
    return NULL;
}

static void exiting_thread_leaves_no_blocks_cached(void) {
    REQUIRE(check_plain_pools());
    static void *blocks[NBLOCKS];
    pymt_stats s0 = quiet_start();
    CHECK_EQ(total_cached(&s0), 0);
    work w = {blocks, NBLOCKS, 0};
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, alloc_free_then_exit, &w) == 0);
    pthread_join(t, NULL);
    for (size_t i = 0; i < NBLOCKS; i++)
        REQUIRE(blocks[i] != NULL);
    if (pymt_tcache_enabled())
        CHECK(w.threads_cached_seen >= s0.threads_cached + 1);
    check_nothing_left(&s0, "alloc and free in one thread");
}

static void blocks_freed_by_another_thread_leave_nothing_cached(void) {
    REQUIRE(check_plain_pools());
    static void *blocks[NBLOCKS];
    pymt_stats s0 = quiet_start();
    work w = {blocks, NBLOCKS, 0};
    pthread_t a, b;
    REQUIRE(pthread_create(&a, NULL, alloc_only, &w) == 0);
    pthread_join(a, NULL);
    for (size_t i = 0; i < NBLOCKS; i++)
        REQUIRE(blocks[i] != NULL);
    pymt_stats mid = check_stats();
    CHECK_EQ(check_sum_classes(&mid).in_use, check_sum_classes(&s0).in_use + NBLOCKS);
    CHECK_EQ(total_cached(&mid), 0); /* the allocating thread exited: its spare blocks went */
    REQUIRE(pthread_create(&b, NULL, free_only, &w) == 0);
    pthread_join(b, NULL);
    check_nothing_left(&s0, "allocated by one thread, freed by another");
}

/* Both threads alive at once: one allocates, the other frees while the first still runs. */
typedef struct relay {
    void **blocks;
    size_t n;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stage; /* 0: allocating, 1: allocated, 2: freed */
} relay;

static void *relay_producer(void *arg) {
    relay *r = arg;
    for (size_t i = 0; i < r->n; i++)
        r->blocks[i] = pymt_object_malloc(i % 200 + 1);
    pthread_mutex_lock(&r->mu);
    r->stage = 1;
    pthread_cond_broadcast(&r->cv);
    while (r->stage != 2)
        pthread_cond_wait(&r->cv, &r->mu);
    pthread_mutex_unlock(&r->mu);
    /* allocate again after the other thread freed: the cache must still be sound */
    for (size_t i = 0; i < r->n; i++)
        r->blocks[i] = pymt_object_malloc(i % 200 + 1);
    for (size_t i = 0; i < r->n; i++)
        pymt_object_free(r->blocks[i]);
    return NULL;
}

static void *relay_consumer(void *arg) {
    relay *r = arg;
    pthread_mutex_lock(&r->mu);
    while (r->stage != 1)
        pthread_cond_wait(&r->cv, &r->mu);
    pthread_mutex_unlock(&r->mu);
    for (size_t i = 0; i < r->n; i++)
        pymt_object_free(r->blocks[i]);
    pthread_mutex_lock(&r->mu);
    r->stage = 2;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

static void cross_thread_frees_while_both_live_leave_nothing_cached(void) {
    REQUIRE(check_plain_pools());
    static void *blocks[NBLOCKS];
    pymt_stats s0 = quiet_start();
    relay r = {blocks, NBLOCKS, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    pthread_t a, b;
    REQUIRE(pthread_create(&a, NULL, relay_producer, &r) == 0);
    REQUIRE(pthread_create(&b, NULL, relay_consumer, &r) == 0);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    check_nothing_left(&s0, "freed while the owner lives");
}

static void many_threads_come_and_go(void) {
    REQUIRE(check_plain_pools());
    enum { ROUNDS = 10, WIDTH = 4, N = 500 };
    static void *blocks[WIDTH][N];
    pymt_stats s0 = quiet_start();
    for (int r = 0; r < ROUNDS; r++) {
        pthread_t t[WIDTH];
        work w[WIDTH];
        for (int i = 0; i < WIDTH; i++) {
            w[i] = (work){blocks[i], N, 0};
            REQUIRE(pthread_create(&t[i], NULL, alloc_free_then_exit, &w[i]) == 0);
        }
        for (int i = 0; i < WIDTH; i++)
            pthread_join(t[i], NULL);
    }
    check_nothing_left(&s0, "40 short threads");
}

static void thread_flush_empties_the_callers_cache(void) {
    REQUIRE(check_plain_pools());
    enum { N = 400 };
    void *p[N];
    pymt_stats s0 = quiet_start();
    for (int i = 0; i < N; i++) {
        p[i] = pymt_object_malloc((size_t)(i % 8) * 16 + 8);
        REQUIRE(p[i] != NULL);
    }
    for (int i = 0; i < N; i++)
        pymt_object_free(p[i]);
    pymt_stats s1 = check_stats();
    CHECK_STATS_ADD_UP(&s1);
    if (pymt_tcache_enabled())
        CHECK(total_cached(&s1) > 0); /* the frees went to this thread's cache */
    else
        CHECK_EQ(total_cached(&s1), 0);
    pymt_thread_flush();
    pymt_stats s2 = check_stats();
    CHECK_STATS_ADD_UP(&s2);
    for (int c = 0; c < PYMT_NUM_SIZE_CLASSES; c++)
        CHECK_EQ(s2.classes[c].blocks_cached, 0);
    CHECK_EQ(check_sum_classes(&s2).in_use, check_sum_classes(&s0).in_use);
    if (pymt_tcache_enabled() && total_cached(&s1) > 0)
        CHECK(s2.tcache_flushes > s1.tcache_flushes);
    /* a second flush is cheap and changes nothing */
    pymt_thread_flush();
    pymt_stats s3 = check_stats();
    CHECK_EQ(total_cached(&s3), 0);
    CHECK_EQ(s3.tcache_flushes, s2.tcache_flushes);
}

static void core_work_is_batched_by_the_cache(void) {
    REQUIRE(check_plain_pools());
    enum { N = 20000 };
    static void *p[N];
    pymt_stats s0 = quiet_start();
    for (int i = 0; i < N; i++) {
        p[i] = pymt_object_malloc(32);
        REQUIRE(p[i] != NULL);
    }
    pymt_stats s1 = check_stats();
    for (int i = 0; i < N; i++)
        pymt_object_free(p[i]);
    pymt_stats s2 = check_stats();
    size_t refills = s1.tcache_refills - s0.tcache_refills;
    size_t flushes = s2.tcache_flushes - s1.tcache_flushes;
    size_t locks_alloc = s1.lock_acquisitions - s0.lock_acquisitions;
    size_t locks_free = s2.lock_acquisitions - s1.lock_acquisitions;
    if (pymt_tcache_enabled()) {
        CHECK(refills >= 1);
        CHECK(refills <= N / 8);
        CHECK(flushes >= 1);
        CHECK(flushes <= N / 8);
        CHECK(locks_alloc <= N / 8);
        CHECK(locks_free <= N / 8);
    } else {
        CHECK_EQ(refills, 0);
        CHECK_EQ(flushes, 0);
        CHECK(locks_alloc >= N);
        CHECK(locks_free >= N);
    }
    if (check_failures)
        fprintf(stderr, "    %d allocations: refills %zu, flushes %zu, locks %zu + %zu\n", N,
                refills, flushes, locks_alloc, locks_free);
    pymt_thread_flush();
}

/* A bin's size, as src/tcache.c documents it: clamp(8 KiB / size, 16, 256) blocks. */
static size_t bin_blocks(size_t size) {
    size_t m = 8192 / size;
    return m < 16 ? 16 : m > 256 ? 256 : m;
}

static void cache_stays_within_its_bound(void) {
    REQUIRE(check_plain_pools());
    enum { N = 12000 };
    static void *p[N];
    static const size_t sizes[] = {32, 64, 512};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t size = sizes[k], c = (size - 1) / 16, bound = 4 * bin_blocks(size);
        quiet_start();
        for (int round = 0; round < 3; round++) {
            /* allocate and free in uneven steps, so refills and overflows both happen */
            size_t n = N - 3000 * (size_t)round;
            for (size_t i = 0; i < n; i++) {
                p[i] = pymt_object_malloc(size);
                REQUIRE(p[i] != NULL);
                if (i % 997 == 0)
                    CHECK(check_stats().classes[c].blocks_cached <= bound);
            }
            for (size_t i = 0; i < n; i++) {
                pymt_object_free(p[n - 1 - i]);
                if (i % 997 == 0)
                    CHECK(check_stats().classes[c].blocks_cached <= bound);
            }
            size_t cached = check_stats().classes[c].blocks_cached;
            CHECK(cached <= bound);
            if (pymt_tcache_enabled())
                CHECK(cached > 0); /* the last frees stayed with the thread */
            else
                CHECK_EQ(cached, 0);
        }
        if (check_failures)
            fprintf(stderr, "    size %zu: bound %zu blocks\n", size, bound);
    }
    pymt_thread_flush();
}

/* Allocate n blocks of size bytes into out; false if one fails. */
static bool malloc_each(void **out, size_t n, size_t size) {
    for (size_t i = 0; i < n; i++)
        if ((out[i] = pymt_object_malloc(size)) == NULL)
            return false;
    return true;
}

/* Free every other block of the 2 * n in blocks (the odd ones), in an order shuffled by seed,
 * and mark them NULL: their neighbours stay allocated, so their pools do not empty and start
 * afresh. At most 1024 blocks freed. */
static void free_every_other_shuffled(void **blocks, size_t n, uint64_t seed) {
    size_t odd[1024];
    if (n > sizeof odd / sizeof odd[0])
        abort(); /* a test asking for more than this helper holds */
    for (size_t i = 0; i < n; i++)
        odd[i] = 2 * i + 1;
    check_shuffle(odd, n, seed);
    for (size_t i = 0; i < n; i++) {
        pymt_object_free(blocks[odd[i]]);
        blocks[odd[i]] = NULL;
    }
}

/* Allocate n blocks of size bytes into out; returns how many lie above the one allocated
 * before them, within 64 blocks: a run in address order, as a walk over them would want it. */
static size_t malloc_counting_in_order(void **out, size_t n, size_t size) {
    size_t up = 0;
    for (size_t i = 0; i < n; i++) {
        out[i] = pymt_object_malloc(size);
        CHECK(out[i] != NULL);
        if (out[i] == NULL)
            return 0;
        uintptr_t a = i > 0 ? (uintptr_t)out[i - 1] : UINTPTR_MAX, b = (uintptr_t)out[i];
        up += b > a && b - a <= 64 * size;
    }
    return up;
}

/* After a failed check of an order test: how many of the n - 1 allocations after the first lay
 * in order after the one before. */
static void report_in_order(size_t up, size_t n) {
    if (check_failures)
        fprintf(stderr, "    %zu of %zu allocations in order after the one before\n", up, n - 1);
}

static void free_each(void **blocks, size_t n) {
    for (size_t i = 0; i < n; i++)
        pymt_object_free(blocks[i]);
}

/* Blocks another thread freed in random order come back in address order: that thread's full
 * bins leave it sorted by address (src/tcache_order.c), for the depot and then the pools, so a
 * burst of allocations here, served from those batches, gets neighbouring blocks one after
 * the other. This thread allocates 2048 blocks of 64 bytes; the other frees every other one
 * in random order and waits, alive, while this thread allocates 512 blocks again (its exit
 * would drain the depot into the pools, and half the blocks stay allocated so that their pools
 * do not empty and start afresh). 483-487 of the 511 (from run to run) lie above the one
 * before, within 64 blocks; without the sort, 24. */
enum { SHUFFLED = 1024, SHUFFLED_SIZE = 64, SHUFFLED_AGAIN = 512 };
static void *shuffled[2 * SHUFFLED];
static pthread_barrier_t shuffled_done;

static void *free_shuffled(void *arg) {
    (void)arg;
    free_every_other_shuffled(shuffled, SHUFFLED, 20261127);
    pthread_barrier_wait(&shuffled_done); /* the frees are done */
    pthread_barrier_wait(&shuffled_done); /* the other thread has allocated again */
    return NULL;
}

static void blocks_freed_out_of_order_come_back_in_order(void) {
    REQUIRE(check_plain_pools());
    if (!pymt_tcache_enabled())
        CHECK_SKIP("no thread caches: the pools' own order");
    quiet_start();
    REQUIRE(malloc_each(shuffled, 2 * SHUFFLED, SHUFFLED_SIZE));
    pymt_thread_flush();
    REQUIRE(pthread_barrier_init(&shuffled_done, NULL, 2) == 0);
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, free_shuffled, NULL) == 0);
    pthread_barrier_wait(&shuffled_done);
    void *again[SHUFFLED_AGAIN];
    size_t up = malloc_counting_in_order(again, SHUFFLED_AGAIN, SHUFFLED_SIZE);
    pthread_barrier_wait(&shuffled_done);
    pthread_join(t, NULL);
    pthread_barrier_destroy(&shuffled_done);
    CHECK(2 * up >= SHUFFLED_AGAIN - 1);
    report_in_order(up, SHUFFLED_AGAIN);
    free_each(again, SHUFFLED_AGAIN);
    free_each(shuffled, 2 * SHUFFLED);
    pymt_thread_flush();
}

/* Blocks a thread still holds when it exits come back in address order too. This thread
 * allocates 400 blocks of 80 bytes; another frees every other one in random order (200 blocks,
 * all of which its bin and spare keep: they grow to 102 blocks each) and exits, the rest still
 * allocated, so their pools do not empty and start afresh. The exit gives both chains to the
 * pools (this thread's core's, whose arenas hold the blocks) sorted, so the pools' free lists,
 * and the allocations here that take from them, run in address order: 197 of the 199 lie
 * above the one before, within 64 blocks; without the sort at exit, 48. */
enum { EXITING = 200, EXITING_SIZE = 80 };
static void *exiting[2 * EXITING];

static void *free_shuffled_and_exit(void *arg) {
    (void)arg;
    free_every_other_shuffled(exiting, EXITING, 20261128);
    return NULL;
}

static void blocks_held_at_thread_exit_come_back_in_order(void) {
    REQUIRE(check_plain_pools());
    if (!pymt_tcache_enabled())
        CHECK_SKIP("no thread caches: the pools' own order");
    quiet_start();
    REQUIRE(malloc_each(exiting, 2 * EXITING, EXITING_SIZE));
    pymt_thread_flush();
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, free_shuffled_and_exit, NULL) == 0);
    pthread_join(t, NULL);
    void *again[EXITING];
    size_t up = malloc_counting_in_order(again, EXITING, EXITING_SIZE);
    CHECK(2 * up >= EXITING - 1);
    report_in_order(up, EXITING);
    free_each(again, EXITING);
    free_each(exiting, 2 * EXITING);
    pymt_thread_flush();
}

static const check_case cases[] = {
    CHECK_CASE(exiting_thread_leaves_no_blocks_cached),
    CHECK_CASE(blocks_freed_by_another_thread_leave_nothing_cached),
    CHECK_CASE(cross_thread_frees_while_both_live_leave_nothing_cached),
    CHECK_CASE(many_threads_come_and_go),
    CHECK_CASE(thread_flush_empties_the_callers_cache),
    CHECK_CASE(core_work_is_batched_by_the_cache),
    CHECK_CASE(cache_stays_within_its_bound),
    CHECK_CASE(blocks_freed_out_of_order_come_back_in_order),
    CHECK_CASE(blocks_held_at_thread_exit_come_back_in_order),
};
CHECK_MAIN(cases)

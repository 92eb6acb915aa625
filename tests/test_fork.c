/* test_fork.c: fork while other threads allocate; the child's allocator works.
 *
 * Two threads allocate and free in a loop (object memory of every class, some above the
 * threshold, and raw memory) while the main thread forks five times. Each child allocates,
 * writes, checks and frees many blocks, checks the statistics add up, and exits 0; a deadlock
 * on a lock held at fork time ends as SIGALRM (check.h's child timeout) and fails the case.
 * Under AddressSanitizer and ThreadSanitizer the threads keep to pool blocks: the sanitizers'
 * own malloc (GCC 12) takes no lock around fork, so a child could hang in it through no fault
 * of pymt's (seen with both: a child stuck in SizeClassAllocator64::GetFromAllocator). */
#include "check.h"

#include <pthread.h>
#include <stdatomic.h>

static atomic_int stop;

static void *churn(void *arg) {
    unsigned x = (unsigned)(uintptr_t)arg * 2654435761u + 1;
    void *held[64] = {0};
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        x = x * 1103515245u + 12345u;
        unsigned slot = (x >> 8) % 64;
        size_t n = (x >> 16) % (CHECK_SANITIZED ? PYMT_SMALL_REQUEST_THRESHOLD : 700);
        if (CHECK_SANITIZED)
            slot &= ~1u; /* object memory only */
        if (held[slot]) {
            if (slot & 1)
                pymt_mem_free(held[slot]);
            else
                pymt_object_free(held[slot]);
        }
        held[slot] = (slot & 1) ? pymt_mem_malloc(n) : pymt_object_malloc(n);
        if (held[slot])
            memset(held[slot], (int)slot, n);
    }
    for (int i = 0; i < 64; i++) {
        if (i & 1)
            pymt_mem_free(held[i]);
        else
            pymt_object_free(held[i]);
    }
    return NULL;
}

static void child_body(void *arg) {
    (void)arg;
    enum { N = 20000 };
    static unsigned char *p[N];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < N; i++) {
            size_t n = (size_t)(i * 31 + round) % 1100;
            p[i] = (i & 3) ? pymt_object_malloc(n) : pymt_mem_malloc(n);
            REQUIRE(p[i] != NULL);
            memset(p[i], i & 0xff, n);
        }
        for (int i = 0; i < N; i++) {
            size_t n = (size_t)(i * 31 + round) % 1100;
            if (n && (p[i][0] != (i & 0xff) || p[i][n - 1] != (i & 0xff)))
                check_fail_at(__FILE__, __LINE__, "child block keeps its contents");
            if (i & 3)
                pymt_object_free(p[i]);
            else
                pymt_mem_free(p[i]);
        }
    }
    pymt_thread_flush();
    if (pymt_get_mode() == PYMT_MODE_PYMALLOC) {
        pymt_stats s = check_stats();
        CHECK_STATS_ADD_UP(&s);
    }
}

static void fork_while_threads_allocate(void) {
    enum { THREADS = 2, FORKS = 5 };
    pthread_t t[THREADS];
    atomic_store(&stop, 0);
    for (int i = 0; i < THREADS; i++)
        REQUIRE(pthread_create(&t[i], NULL, churn, (void *)(uintptr_t)(i + 1)) == 0);
    static char err[1 << 14];
    for (int f = 0; f < FORKS; f++) {
        usleep(20000); /* let the threads get well into their loops */
        int st = check_fork(child_body, NULL, err, sizeof err);
        CHECK_CHILD_EXIT0("forked child", st, err);
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
}

static void parent_still_works_after_forks(void) {
    void *p[1000];
    for (int i = 0; i < 1000; i++) {
        p[i] = pymt_object_malloc((size_t)i % 600);
        REQUIRE(p[i] != NULL);
    }
    for (int i = 0; i < 1000; i++)
        pymt_object_free(p[i]);
    pymt_thread_flush();
    if (pymt_get_mode() == PYMT_MODE_PYMALLOC) {
        pymt_stats s = check_stats();
        CHECK_STATS_ADD_UP(&s);
        CHECK_EQ(check_sum_classes(&s).cached, 0);
    }
}

static void child_of_a_quiet_process_works(void) {
    static char err[1 << 14];
    int st = check_fork(child_body, NULL, err, sizeof err);
    CHECK_CHILD_EXIT0("forked child", st, err);
}

/* The child of a process with eight thread caches has one: its share is the whole budget, not
 * an eighth of it. */
enum { SHARE_THREADS = 7 };
static pthread_barrier_t share_set_up, share_forked;

static void *share_thread(void *arg) {
    (void)arg;
    pymt_object_free(pymt_object_malloc(64)); /* the thread's cache is set up */
    pthread_barrier_wait(&share_set_up);
    pthread_barrier_wait(&share_forked);
    return NULL;
}

static void child_share(void *arg) {
    (void)arg;
    pymt_stats s = check_stats();
    CHECK_EQ(s.threads_cached, 1);
    CHECK_EQ(s.tcache_share, s.tcache_budget);
}

static void a_child_has_the_whole_share(void) {
    if (pymt_get_mode() != PYMT_MODE_PYMALLOC || !pymt_tcache_enabled())
        CHECK_SKIP("no thread caches");
    pthread_t t[SHARE_THREADS];
    REQUIRE(pthread_barrier_init(&share_set_up, NULL, SHARE_THREADS + 1) == 0);
    REQUIRE(pthread_barrier_init(&share_forked, NULL, SHARE_THREADS + 1) == 0);
    for (int i = 0; i < SHARE_THREADS; i++)
        REQUIRE(pthread_create(&t[i], NULL, share_thread, NULL) == 0);
    pymt_object_free(pymt_object_malloc(64));
    pthread_barrier_wait(&share_set_up);
    pymt_stats s = check_stats();
    CHECK(s.threads_cached >= SHARE_THREADS + 1);
    CHECK(s.tcache_share < s.tcache_budget);
    static char err[1 << 14];
    int st = check_fork(child_share, NULL, err, sizeof err);
    CHECK_CHILD_EXIT0("forked child", st, err);
    pthread_barrier_wait(&share_forked);
    for (int i = 0; i < SHARE_THREADS; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&share_set_up);
    pthread_barrier_destroy(&share_forked);
}

static const check_case cases[] = {
    CHECK_CASE(child_of_a_quiet_process_works),
    CHECK_CASE(fork_while_threads_allocate),
    CHECK_CASE(parent_still_works_after_forks),
    CHECK_CASE(a_child_has_the_whole_share),
};
CHECK_MAIN(cases)

/* test_thread_exit.c: threads that allocate while they exit, inside pthread key destructors.
 *
 * glibc runs the destructors of a thread's keys in rounds, PTHREAD_DESTRUCTOR_ITERATIONS of
 * them, each in key order, and a key set in the last round after glibc has passed it never
 * gets its destructor. pymt's thread cache relies on its own key's destructor to give the
 * cached blocks back and to leave the registry that statistics and fork walk. These cases give
 * a thread a key of the test's, created after pymt's as a library's is under the drop-in malloc
 * (pymt creates its key at its first allocation), whose destructor re-arms itself for every
 * round and allocates and frees object memory in one of them; the thread allocates nothing
 * before, or allocates in its life too. Several such threads run one after the other, so each
 * gets the stack and TLS block of the one before. Then the process forks (the child allocates
 * and exits 0), a thread that lived through it all takes the statistics, and once the main
 * thread has flushed its own cache nothing may be cached or in use and only the main thread
 * may have a cache. Each scenario runs in a forked child under alarm(), so a hang fails it.
 * Runs with PYMT_MALLOC=pymalloc (set by CMake), and as `thread_exit.tcache_off`; the
 * last-round cases are skipped under ThreadSanitizer (see LAST_ROUND_SKIP_REASON). */
#include "check.h"

#include <limits.h>
#include <pthread.h>

enum { THREADS = 6, BLOCKS = 40, HANG_SECONDS = 30 };

static pthread_key_t test_key;
static int alloc_round;         /* the destructor round that allocates (1-based) */
static bool alloc_in_life;      /* the thread allocates before it returns, too */

static __thread int rounds_seen;

/* Allocate blocks of a few classes (and one large) and free them, so that a thread cache would
 * keep some. */
static void churn(void) {
    void *p[BLOCKS];
    for (int i = 0; i < BLOCKS; i++) {
        p[i] = pymt_object_malloc((size_t)(i % 8) * 48 + 1);
        if (p[i])
            memset(p[i], 0x5A, 1);
    }
    void *big = pymt_object_malloc(40000);
    for (int i = 0; i < BLOCKS; i++)
        pymt_object_free(p[i]);
    pymt_object_free(big);
}

static void test_key_destructor(void *value) {
    (void)value;
    rounds_seen++;
    if (rounds_seen == alloc_round)
        churn();
    if (rounds_seen < PTHREAD_DESTRUCTOR_ITERATIONS)
        pthread_setspecific(test_key, (void *)1); /* once more, in the next round */
}

static void *exiting_thread(void *arg) {
    (void)arg;
    rounds_seen = 0;
    if (alloc_in_life)
        churn();
    pthread_setspecific(test_key, (void *)1);
    return NULL;
}

/* A thread that lives across the scenario (its stack is not one the exiting threads reuse) and
 * takes the statistics when told to. */
static pthread_mutex_t stats_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t stats_cond = PTHREAD_COND_INITIALIZER;
static bool stats_wanted;

static void *take_stats(void *arg) {
    pthread_mutex_lock(&stats_lock);
    while (!stats_wanted)
        pthread_cond_wait(&stats_cond, &stats_lock);
    pthread_mutex_unlock(&stats_lock);
    *(pymt_stats *)arg = check_stats();
    return NULL;
}

/* Fork; the child allocates and frees, and exits 0. A child stuck in pymt's fork handler (it
 * runs before alarm() could be set in the child) is killed after HANG_SECONDS / 2. */
static void fork_and_allocate(void) {
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        void *p = pymt_object_malloc(64), *q = pymt_object_malloc(300);
        bool ok = p != NULL && q != NULL;
        pymt_object_free(p);
        pymt_object_free(q);
        _exit(ok ? 0 : 1);
    }
    REQUIRE(pid > 0);
    int st = 0;
    for (int waited_ms = 0; waitpid(pid, &st, WNOHANG) == 0; waited_ms += 10) {
        if (waited_ms >= HANG_SECONDS * 1000 / 2) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            check_fail_at(__FILE__, __LINE__, "the fork child finishes");
            return;
        }
        usleep(10000);
    }
    CHECK_CHILD_EXIT0("the fork child", st, "");
}

static void scenario(void *arg) {
    (void)arg;
    alarm(HANG_SECONDS);
    pymt_object_free(pymt_object_malloc(16)); /* pymt's key first, the test's after it */
    REQUIRE(pthread_key_create(&test_key, test_key_destructor) == 0);
    pymt_thread_flush();
    pymt_stats s0 = check_stats(), s1;
    pthread_t stats_thread;
    REQUIRE(pthread_create(&stats_thread, NULL, take_stats, &s1) == 0);
    for (int i = 0; i < THREADS; i++) {
        pthread_t t;
        REQUIRE(pthread_create(&t, NULL, exiting_thread, NULL) == 0);
        REQUIRE(pthread_join(t, NULL) == 0);
    }
    fork_and_allocate();
    pthread_mutex_lock(&stats_lock);
    stats_wanted = true;
    pthread_cond_signal(&stats_cond);
    pthread_mutex_unlock(&stats_lock);
    REQUIRE(pthread_join(stats_thread, NULL) == 0);
    CHECK_STATS_ADD_UP(&s1);
    pymt_thread_flush();
    pymt_trim();
    pymt_stats s2 = check_stats();
    check_totals t0 = check_sum_classes(&s0), t2 = check_sum_classes(&s2);
    CHECK_STATS_ADD_UP(&s2);
    CHECK_EQ(t2.cached, 0);
    CHECK_EQ(t2.in_use, t0.in_use);
    CHECK_EQ(s2.threads_cached, s0.threads_cached);
    CHECK_EQ(s2.large_in_use, s0.large_in_use);
}

static void run(int round, bool in_life) {
    static char err[1 << 14];
    alloc_round = round;
    alloc_in_life = in_life;
    int st = check_fork(scenario, NULL, err, sizeof err);
    if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
        check_fail_at(__FILE__, __LINE__, "the scenario runs to its end and passes");
        fprintf(stderr, "    allocation in destructor round %d, %s\n", round,
                in_life ? "after allocating in its life" : "first allocation of the thread");
        check_show_child("scenario", st, err);
    }
}

/* ThreadSanitizer (GCC 12's) finishes a thread in its own key destructor, in the last round;
 * a pthread_mutex_lock after that, by anyone, crashes inside it. */
#define LAST_ROUND_SKIP_REASON "ThreadSanitizer cannot run a mutex in the last destructor round"

static void first_allocation_in_the_last_destructor_round_leaves_nothing_behind(void) {
    REQUIRE(pymt_get_mode() == PYMT_MODE_PYMALLOC);
    if (CHECK_TSAN)
        CHECK_SKIP(LAST_ROUND_SKIP_REASON);
    run(PTHREAD_DESTRUCTOR_ITERATIONS, false);
}

static void first_allocation_in_an_earlier_destructor_round_leaves_nothing_behind(void) {
    REQUIRE(pymt_get_mode() == PYMT_MODE_PYMALLOC);
    for (int r = 1; r < PTHREAD_DESTRUCTOR_ITERATIONS; r++)
        run(r, false);
}

static void allocation_in_any_destructor_round_after_a_life_leaves_nothing_behind(void) {
    REQUIRE(pymt_get_mode() == PYMT_MODE_PYMALLOC);
    for (int r = 1; r < PTHREAD_DESTRUCTOR_ITERATIONS; r++)
        run(r, true);
    if (CHECK_TSAN)
        CHECK_SKIP(LAST_ROUND_SKIP_REASON);
    run(PTHREAD_DESTRUCTOR_ITERATIONS, true);
}

static const check_case cases[] = {
    CHECK_CASE(first_allocation_in_the_last_destructor_round_leaves_nothing_behind),
    CHECK_CASE(first_allocation_in_an_earlier_destructor_round_leaves_nothing_behind),
    CHECK_CASE(allocation_in_any_destructor_round_after_a_life_leaves_nothing_behind),
};
CHECK_MAIN(cases)

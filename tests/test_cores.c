/* test_cores.c: the pool cores (pool.c), white-box. Runs with PYMT_CORES=2 (ctest ENVIRONMENT;
 * cores.one runs it again with one core, where the cases that need two say so and pass
 * trivially; cores.tcache_off without thread caches, whose threads are not counted). It checks that threads are spread over the cores (each to the least loaded), that a block goes back to the
 * core of its arena however it travels (freed by another thread, in a chain that mixes both
 * cores), that every core's validators hold after each step (a block counted back on the wrong
 * core breaks its per-core counts, which pymt__heap_check_locked compares with what the pools
 * hold), that a refill which finds its core's lock busy is counted in
 * pymt_stats.lock_contended, and that a depot batch is adopted by threads of its own core only. */
#include "check.h"

#include <pthread.h>
#include <time.h>

#include "objmem.h"
#include "tcache.h"

static bool cores_ok(void) {
    pymt__core_lock();
    bool ok = pymt__heap_check_locked() && pymt__pool_lists_check_locked();
    pymt__core_unlock();
    return ok;
}

/* Does the calling thread count on its core? Only a thread with a cache does. */
static unsigned self_counts(void) {
    return pymt__tcache_self()->state == PYMT__TC_ACTIVE;
}

static pymt_stats stats_now(void) {
    pymt_stats s;
    if (pymt_get_stats(&s, sizeof s) != 0)
        abort();
    return s;
}

enum { NB = 3000 };

typedef struct job {
    void **blocks;
    size_t n, size;
    unsigned core; /* core of the thread's first block */
} job;

static void *alloc_job(void *arg) {
    job *j = arg;
    for (size_t i = 0; i < j->n; i++) {
        j->blocks[i] = pymt_object_malloc(j->size);
        if (j->blocks[i] == NULL)
            abort();
        memset(j->blocks[i], 0x5a, j->size);
    }
    j->core = pymt__arena_core(j->blocks[0]);
    return NULL;
}

static void *free_job(void *arg) {
    job *j = arg;
    for (size_t i = 0; i < j->n; i++)
        pymt_object_free(j->blocks[i]);
    return NULL; /* the exit gives this thread's cache back, split by core */
}

static void run(void *(*fn)(void *), void *arg) {
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, fn, arg) == 0);
    REQUIRE(pthread_join(t, NULL) == 0);
}

static void option_sets_the_number_of_cores(void) {
    pymt_stats s = stats_now();
    const char *env = getenv("PYMT_CORES");
    CHECK_EQ(s.pool_cores, (size_t)(env != NULL ? atoi(env) : 2));
    CHECK_EQ(s.pool_cores, pymt__pool_cores());
}

/* Two threads that start one after the other, when no other thread counts on a core, find the
 * cores equally loaded and take them in turn, so with two cores their blocks come from arenas
 * of different cores; all of a thread's blocks come from its own core. */
static void threads_are_spread_over_the_cores(void) {
    static void *a[NB], *b[NB];
    job ja = {a, NB, 48, 0}, jb = {b, NB, 48, 0};
    run(alloc_job, &ja);
    run(alloc_job, &jb);
    CHECK(cores_ok());
    if (pymt__pool_cores() >= 2)
        CHECK(ja.core != jb.core);
    for (size_t i = 0; i < NB; i++) {
        CHECK_EQ(pymt__arena_core(a[i]), ja.core);
        CHECK_EQ(pymt__arena_core(b[i]), jb.core);
    }
    run(free_job, &ja);
    run(free_job, &jb);
    CHECK(cores_ok());
}

/* Blocks of one core freed by a thread of the other go back to their own core: every core's
 * counts still match what its pools hold, and nothing is left in use. */
static void a_block_freed_by_another_core_goes_home(void) {
    static void *a[NB], *b[NB];
    pymt_stats s0 = stats_now();
    job ja = {a, NB, 80, 0}, jb = {b, NB, 80, 0};
    run(alloc_job, &ja);
    run(alloc_job, &jb);
    /* swap: each thread frees the other's blocks */
    job fa = {b, NB, 80, 0}, fb = {a, NB, 80, 0};
    run(free_job, &fa);
    CHECK(cores_ok());
    run(free_job, &fb);
    CHECK(cores_ok());
    pymt_stats s = stats_now();
    unsigned c = pymt__size_to_class(80);
    CHECK_EQ(s.classes[c].blocks_in_use, s0.classes[c].blocks_in_use);
}

/* A batch that a thread's cache sends to the depot goes to the depot of its blocks' core, and a
 * thread of the other core adopts none of it: its blocks all come from its own core. (With one
 * depot for all cores the second thread took them, and two threads' blocks came to share cache
 * lines.) */
static pthread_barrier_t depot_bar;
static bool publisher_caches; /* without caches (cores.tcache_off) there is no depot */

static void *publish_job(void *arg) {
    job *j = arg;
    alloc_job(j);
    publisher_caches = self_counts();
    free_job(j); /* bin, spare, then batches on the depot */
    pthread_barrier_wait(&depot_bar);
    pthread_barrier_wait(&depot_bar); /* stay alive: an exit would give the cache back */
    return NULL;
}

static void a_depot_batch_stays_with_its_core(void) {
    static void *a[NB], *b[NB];
    unsigned c = pymt__size_to_class(48);
    job ja = {a, NB, 48, 0}, jb = {b, NB, 48, 0};
    REQUIRE(pthread_barrier_init(&depot_bar, NULL, 2) == 0);
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, publish_job, &ja) == 0);
    pthread_barrier_wait(&depot_bar);
    if (publisher_caches)
        CHECK(stats_now().classes[c].blocks_depot > 0);
    run(alloc_job, &jb);
    if (pymt__pool_cores() >= 2) {
        CHECK(jb.core != ja.core);
        size_t foreign = 0;
        for (size_t i = 0; i < NB; i++)
            foreign += pymt__arena_core(b[i]) != jb.core;
        CHECK_EQ(foreign, 0);
    }
    pthread_barrier_wait(&depot_bar);
    REQUIRE(pthread_join(t, NULL) == 0);
    pthread_barrier_destroy(&depot_bar);
    run(free_job, &jb);
    CHECK(cores_ok());
}

/* One chain that alternates between the two cores' blocks, runs of `len` blocks each, given
 * back at once: the first block's core takes its runs as the walk meets them, the other core's
 * are relinked and given after; each part goes to its own core. */
static void give_a_chain_mixing_cores(size_t len) {
    static void *a[NB], *b[NB];
    job ja = {a, NB, 32, 0}, jb = {b, NB, 32, 0};
    run(alloc_job, &ja);
    run(alloc_job, &jb);
    unsigned c = pymt__size_to_class(32);
    size_t out0 = stats_now().classes[c].blocks_in_use;
    /* len = 2: a[0] -> a[1] -> b[0] -> b[1] -> a[2] -> a[3] -> ... -> NULL */
    void *chain = NULL;
    for (size_t i = 2 * NB; i-- > 0;) {
        void *const *from = (i / len) % 2 ? b : a;
        size_t j = i / (2 * len) * len + i % len;
        if (j >= NB)
            continue;
        pymt__link_set(from[j], chain);
        chain = from[j];
        if (pymt__hardened)
            pymt__harden_mark(from[j]);
    }
    pymt__pool_give(chain);
    CHECK(cores_ok());
    pymt_stats s = stats_now();
    CHECK_EQ(s.classes[c].blocks_in_use, out0 - 2 * NB);
}

static void a_chain_mixing_cores_is_split(void) {
    give_a_chain_mixing_cores(1);
    give_a_chain_mixing_cores(3);
}

/* A refill that finds its core's lock held is counted as contended before it waits. */
static pthread_barrier_t ready, go;
static void *refill_job(void *arg) {
    (void)arg;
    pymt_object_free(pymt_object_malloc(8)); /* the cache is set up (registry: global lock) */
    pthread_barrier_wait(&ready);
    pthread_barrier_wait(&go);
    void *p = pymt_object_malloc(400); /* a class this thread never used: a refill */
    if (p == NULL)
        abort();
    pymt_object_free(p);
    return NULL;
}

static void a_busy_core_lock_is_counted(void) {
    pymt_stats s0 = stats_now();
    REQUIRE(pthread_barrier_init(&ready, NULL, 2) == 0);
    REQUIRE(pthread_barrier_init(&go, NULL, 2) == 0);
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, refill_job, NULL) == 0);
    pthread_barrier_wait(&ready);
    pymt__core_lock(); /* every core's lock, so the thread's own is busy */
    pthread_barrier_wait(&go);
    struct timespec d = {0, 100 * 1000 * 1000};
    nanosleep(&d, NULL);
    pymt__core_unlock();
    REQUIRE(pthread_join(t, NULL) == 0);
    pthread_barrier_destroy(&ready);
    pthread_barrier_destroy(&go);
    pymt_stats s = stats_now();
    CHECK(s.lock_contended >= s0.lock_contended + 1);
    CHECK(s.lock_acquisitions > s0.lock_acquisitions);
    CHECK(cores_ok());
}

/* A thread takes the core with the fewest live threads: while one thread holds a core, threads
 * started and joined one after another all take a core with fewer; each counts on its core
 * while it lives and not after its exit. (Round robin ignored exits: every second thread
 * joined the busy core.) */
static pthread_barrier_t hold_bar;
typedef struct chooser {
    unsigned before[PYMT__CORES_MAX]; /* the counts just before the thread's first call */
    unsigned core, during;            /* its core, and that core's count once it has it */
    unsigned counts;                  /* 1 if it has a cache (counted), else 0 */
} chooser;

static void *choose_job(void *arg) {
    chooser *ch = arg;
    for (unsigned k = 0; k < pymt__pool_cores(); k++)
        ch->before[k] = pymt__pool_core_threads(k);
    pymt_object_free(pymt_object_malloc(64));
    ch->core = pymt__pool_self_core();
    ch->during = pymt__pool_core_threads(ch->core);
    ch->counts = self_counts();
    return NULL;
}

static void *hold_job(void *arg) {
    choose_job(arg);
    pthread_barrier_wait(&hold_bar);
    pthread_barrier_wait(&hold_bar); /* stay alive while the others choose */
    return NULL;
}

/* Start a thread that takes a core and holds it (alive) until hold_stop. */
static void hold_start(pthread_t *t, chooser *held) {
    REQUIRE(pthread_barrier_init(&hold_bar, NULL, 2) == 0);
    REQUIRE(pthread_create(t, NULL, hold_job, held) == 0);
    pthread_barrier_wait(&hold_bar);
}
static void hold_stop(pthread_t t) {
    pthread_barrier_wait(&hold_bar);
    REQUIRE(pthread_join(t, NULL) == 0);
    pthread_barrier_destroy(&hold_bar);
}

static unsigned counted_threads(void) {
    unsigned sum = 0;
    for (unsigned k = 0; k < pymt__pool_cores(); k++)
        sum += pymt__pool_core_threads(k);
    return sum;
}

/* pymt_print_stats shows the counts: its line lists core k's as the k-th number. */
static bool stats_show_the_counts(void) {
    char *text = check_stats_text();
    if (text == NULL)
        return false;
    const char *key = "# live threads counted per core    =";
    const char *at = strstr(text, key);
    bool ok = at != NULL;
    if (ok) {
        at += strlen(key);
        for (unsigned k = 0; k < pymt__pool_cores() && ok; k++) {
            char *end;
            unsigned long v = strtoul(at, &end, 10);
            ok = end != at && v == pymt__pool_core_threads(k);
            at = end;
        }
        ok = ok && *at == '\n';
    }
    free(text);
    return ok;
}

static bool chose_least_loaded(const chooser *ch) {
    for (unsigned k = 0; k < pymt__pool_cores(); k++)
        if (ch->before[k] < ch->before[ch->core])
            return false;
    return true;
}

static void a_thread_takes_the_least_loaded_core(void) {
    chooser held = {{0}, 0, 0, 0};
    pthread_t t;
    hold_start(&t, &held);
    CHECK(chose_least_loaded(&held));
    CHECK(stats_show_the_counts());
    CHECK_EQ(held.during, held.before[held.core] + held.counts);
    for (int i = 0; i < 6; i++) {
        chooser ch = {{0}, 0, 0, 0};
        run(choose_job, &ch);
        CHECK(chose_least_loaded(&ch));
        CHECK_EQ(ch.during, ch.before[ch.core] + ch.counts);
        /* gone with its exit: the counts are what it found */
        for (unsigned k = 0; k < pymt__pool_cores(); k++)
            CHECK_EQ(pymt__pool_core_threads(k), ch.before[k]);
        if (pymt__pool_cores() >= 2 && held.counts && held.before[0] == held.before[1])
            CHECK(ch.core != held.core);
    }
    hold_stop(t);
    CHECK_EQ(pymt__pool_core_threads(held.core), held.before[held.core]);
}

/* A child of a process whose threads count on the cores has one thread: the counts start again
 * from it. (Counts kept from the parent's threads would steer the child's new threads away
 * from cores nobody uses.) The main thread has no core until the child allocates. */
static void child_counts(void *arg) {
    (void)arg;
    CHECK_EQ(counted_threads(), 0);
    pymt_object_free(pymt_object_malloc(64));
    CHECK_EQ(pymt__pool_core_threads(pymt__pool_self_core()), self_counts());
}

static void a_child_counts_its_own_thread_only(void) {
    chooser held = {{0}, 0, 0, 0};
    pthread_t t;
    hold_start(&t, &held);
    /* the holder if it caches; the main thread never allocates here */
    CHECK_EQ(counted_threads(), held.counts);
    static char err[1 << 14];
    int st = check_fork(child_counts, NULL, err, sizeof err);
    CHECK_CHILD_EXIT0("forked child", st, err);
    hold_stop(t);
}

/* Threads come and go: once they are joined, the counts are back where they were, with caches
 * or without (cores.tcache_off). A thread without a cache has nothing that uncounts it at its
 * exit, so it must not count at all: it used to, and the counts (and the stats line) grew with
 * every thread ever started. */
static void the_counts_come_back_after_joins(void) {
    unsigned before = counted_threads();
    for (int i = 0; i < 8; i++) {
        chooser ch = {{0}, 0, 0, 0};
        run(choose_job, &ch);
    }
    CHECK_EQ(counted_threads(), before);
    CHECK(stats_show_the_counts());
}

static const check_case cases[] = {
    CHECK_CASE(option_sets_the_number_of_cores),
    CHECK_CASE(threads_are_spread_over_the_cores),
    CHECK_CASE(a_block_freed_by_another_core_goes_home),
    CHECK_CASE(a_chain_mixing_cores_is_split),
    CHECK_CASE(a_busy_core_lock_is_counted),
    CHECK_CASE(a_depot_batch_stays_with_its_core),
    CHECK_CASE(a_thread_takes_the_least_loaded_core),
    CHECK_CASE(a_child_counts_its_own_thread_only),
    CHECK_CASE(the_counts_come_back_after_joins),
};
CHECK_MAIN(cases)

/* test_footprint.c: the thread caches' memory. Proves: the blocks of exited threads go back to
 * the pools and the depot drains as the thread pool shrinks, so arenas are released without
 * pymt_trim (stats and RSS back near the start); a thread over its share of the budget gives
 * blocks back at its next slow-path visit; a class a thread has moved on from is emptied by
 * the sweep; an idle cache gives its spares back when the budget is lowered (no call of its
 * own) and keeps to its share from its next slow path; idle caches over their share make room
 * for threads short of budget; all caches together never hold more than the budget while
 * their threads are still, nor more than one magazine per thread over it while they run;
 * exited threads leave their part of the budget behind; the budget can be set at run time and
 * the statistics show it; a heap that empties and fills again in cycles stops purging its free
 * pools after the first cycles, and the statistics count the purges and refaults. Runs with
 * PYMT_MALLOC=pymalloc (ctest ENVIRONMENT); FOOTPRINT_VERBOSE=1 prints the figures the budget
 * and swing cases compare. */
#include "check.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/resource.h>

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

/* Free p[0..n) but the first block met in each arena, which keeps its arena alive (the freed
 * ones NULL); returns how many stay. */
static int free_all_but_first_per_arena(void **p, int n) {
    uintptr_t last_arena = 0;
    int kept = 0;
    for (int i = 0; i < n; i++) {
        uintptr_t arena = (uintptr_t)p[i] >> 20;
        if (arena != last_arena) {
            last_arena = arena;
            kept++;
            continue;
        }
        pymt_object_free(p[i]);
        p[i] = NULL;
    }
    return kept;
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
    int kept = free_all_but_first_per_arena(p, N);
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

/* PYMT_PURGE_MAX bounds the free pools a heap in use keeps resident. 48 MiB of 64-byte blocks,
 * then all but the first block of each arena freed in the first 20 MiB: about 20 MiB of free
 * pools in arenas that stay alive, next to 28 MiB in use. Under 8 MiB most of them are
 * purged; under 32 MiB (more than is free, less than is in use) none is, whatever the number of
 * pool cores: the bound is shared by the cores in use, and here one is. */
static void child_purge_bound(void) {
    const char *v = getenv("PYMT_PURGE_MAX");
    REQUIRE(v != NULL);
    bool big = strcmp(v, "32M") == 0;
    enum { N = 48 * 16384 }; /* 64-byte blocks: 48 MiB */
    static void *p[N];
    for (int i = 0; i < N; i++) {
        p[i] = pymt_object_malloc(64);
        REQUIRE(p[i] != NULL);
        memset(p[i], 0x33, 64);
    }
    size_t peak = check_rss_bytes();
    (void)free_all_but_first_per_arena(p, 20 * 16384);
    pymt_thread_flush();
    size_t rss = check_rss_bytes();
    size_t fell = peak > rss ? peak - rss : 0;
    if (big ? fell > ((size_t)4 << 20) : fell < ((size_t)8 << 20)) {
        check_fail_at(__FILE__, __LINE__, "the free pools kept do not follow PYMT_PURGE_MAX");
        fprintf(stderr, "    PYMT_PURGE_MAX=%s: RSS peak %zu KiB, after %zu KiB\n", v,
                peak / 1024, rss / 1024);
    }
    for (int i = 0; i < N; i++)
        pymt_object_free(p[i]);
}

/* Run the case `name` in a fresh process with one setting added to its environment (NULL:
 * none); a failure there is a failure here, with the child's stderr. */
static void child_with(const char *name, const char *setting) {
    static char err[1 << 12];
    const char *const env[] = {setting, NULL};
    int st = check_spawn_self(name, env, err, sizeof err);
    if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
        check_fail_at(__FILE__, __LINE__, "the child case exits 0");
        check_show_child(setting != NULL ? setting : name, st, err);
    }
}

static void purge_max_bounds_the_free_pools_kept(void) {
    if (CHECK_SANITIZED)
        CHECK_SKIP("RSS means nothing under a sanitizer");
    /* the default number of cores: one thread uses one of them, and has the whole bound */
    child_with("child_purge_bound", "PYMT_PURGE_MAX=8M");
    child_with("child_purge_bound", "PYMT_PURGE_MAX=32M");
}

/* A heap that empties and fills again in cycles keeps its free pools once it has had to fault
 * purged ones back: 6 MiB of 64-byte blocks, all but the first block of each arena freed (so
 * the arenas stay) and allocated again, five times, in a fresh process (default
 * PYMT_PURGE_MAX). The first troughs purge (the pools in use fall to a handful, and the bound
 * with them) and the next peaks fault the pools back; from the fourth cycle on the core keeps
 * them, and a cycle faults next to nothing. (Before the bound learned the swing, every cycle
 * faulted 650-800 pages back, against about 1,900 for the first.) */
static void child_cycles(void) {
    enum { N = 6 * 16384, CYCLES = 5 };
    static void *p[N];
    long flt[CYCLES];
    pymt_stats before_last = {0};
    for (int r = 0; r < CYCLES; r++) {
        if (r == CYCLES - 1)
            before_last = check_stats();
        long f0 = check_minor_faults();
        for (int i = 0; i < N; i++)
            if (p[i] == NULL) {
                p[i] = pymt_object_malloc(64);
                REQUIRE(p[i] != NULL);
                memset(p[i], 0x44, 64);
            }
        (void)free_all_but_first_per_arena(p, N);
        flt[r] = check_minor_faults() - f0;
    }
    CHECK(flt[0] >= 1000); /* the first touch of 6 MiB: 1,536 pages */
    CHECK(flt[CYCLES - 1] * 10 < flt[0]);
    CHECK(flt[CYCLES - 2] * 10 < flt[0]);
    /* the statistics tell the story: pools were purged and taken again, and the last cycle
     * purged none */
    pymt_stats after = check_stats();
    CHECK(before_last.pools_purged_total > 0);
    CHECK(before_last.pools_refaulted_total > 0);
    CHECK(before_last.pools_refaulted_total <= before_last.pools_purged_total);
    CHECK_EQ(after.pools_purged_total, before_last.pools_purged_total);
    if (flt[CYCLES - 1] * 10 >= flt[0] || getenv("FOOTPRINT_VERBOSE") != NULL)
        fprintf(stderr, "    minor faults per cycle: %ld %ld %ld %ld %ld\n", flt[0], flt[1],
                flt[2], flt[3], flt[4]);
    for (int i = 0; i < N; i++)
        pymt_object_free(p[i]);
}

static void a_heap_that_swings_stops_purging(void) {
    if (CHECK_SANITIZED)
        CHECK_SKIP("page faults mean nothing under a sanitizer");
    child_with("child_cycles", NULL);
}

/* ---- the global budget, seen from outside the caches -------------------------------------- */

/* A thread that churns sizes lo..hi (step 16), n blocks each, then parks, holding what its
 * cache kept, until told to make one call or to go. */
typedef struct parked {
    pthread_t t;
    size_t lo, hi;
    int n;
    int phase; /* 1 parked, 2 made its one call (lock) */
    int cmd;   /* 0 stay, 1 make one call, 2 go (lock) */
} parked;

static pthread_mutex_t park_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t park_cv = PTHREAD_COND_INITIALIZER;

static void churn_sizes(size_t lo, size_t hi, int n) {
    static _Thread_local void *p[PER_CLASS];
    for (size_t size = lo; size <= hi; size += 16) {
        for (int i = 0; i < n; i++) {
            p[i] = pymt_object_malloc(size);
            if (p[i] == NULL)
                abort();
            memset(p[i], 0x33, size);
        }
        for (int i = 0; i < n; i++)
            pymt_object_free(p[i]);
    }
}

static void *park_worker(void *arg) {
    parked *w = arg;
    churn_sizes(w->lo, w->hi, w->n);
    pthread_mutex_lock(&park_mu);
    w->phase = 1;
    pthread_cond_broadcast(&park_cv);
    while (w->cmd == 0)
        pthread_cond_wait(&park_cv, &park_mu);
    if (w->cmd == 1) {
        /* one allocation of a class it has not used (a slow path), and its free */
        pthread_mutex_unlock(&park_mu);
        pymt_object_free(pymt_object_malloc(512));
        pthread_mutex_lock(&park_mu);
        w->phase = 2;
        pthread_cond_broadcast(&park_cv);
        while (w->cmd != 2)
            pthread_cond_wait(&park_cv, &park_mu);
    }
    pthread_mutex_unlock(&park_mu);
    return NULL;
}

static void park_start(parked *w, size_t lo, size_t hi, int n) {
    *w = (parked){.lo = lo, .hi = hi, .n = n};
    REQUIRE(pthread_create(&w->t, NULL, park_worker, w) == 0);
    pthread_mutex_lock(&park_mu);
    while (w->phase < 1)
        pthread_cond_wait(&park_cv, &park_mu);
    pthread_mutex_unlock(&park_mu);
}

static void park_command(parked *w, int cmd, int wait_phase) {
    pthread_mutex_lock(&park_mu);
    w->cmd = cmd;
    pthread_cond_broadcast(&park_cv);
    while (w->phase < wait_phase)
        pthread_cond_wait(&park_cv, &park_mu);
    pthread_mutex_unlock(&park_mu);
}

static void park_end(parked *w) {
    park_command(w, 2, 0);
    pthread_join(w->t, NULL);
}

/* The budget is lowered while a thread idles with a full cache: its spares come back at once
 * (it makes no call), and its next slow path brings it within its new share. */
static void an_idle_thread_gives_back_when_the_budget_is_lowered(void) {
    REQUIRE(pymt_set_tcache_budget((size_t)8 << 20) == 0);
    /* the main thread has a cache (two share the budget) that holds nothing from here on */
    pymt_object_free(pymt_object_malloc(16));
    pymt_thread_flush();
    parked w;
    park_start(&w, 16, 256, PER_CLASS);
    pymt_stats s1 = check_stats(); /* the parked thread's cache is the largest */
    REQUIRE(pymt_set_tcache_budget((size_t)64 << 10) == 0);
    pymt_stats s2 = check_stats();
    park_command(&w, 1, 2);
    pymt_stats s3 = check_stats();
    park_end(&w);
    REQUIRE(pymt_set_tcache_budget((size_t)8 << 20) == 0);
    if (getenv("FOOTPRINT_VERBOSE"))
        fprintf(stderr, "idle %zu, lowered %zu, one call %zu (share %zu)\n", s1.tcache_bytes_max,
                s2.tcache_bytes_max, s3.tcache_bytes_max, s3.tcache_share);
    if (s1.tcache_bytes_max < ((size_t)128 << 10) ||
        s2.tcache_bytes_max > s1.tcache_bytes_max * 3 / 4) {
        check_fail_at(__FILE__, __LINE__, "an idle cache gives its spares back without a call");
        fprintf(stderr, "    idle cache %zu bytes, after the budget fell to 64 KiB %zu\n",
                s1.tcache_bytes_max, s2.tcache_bytes_max);
    }
    if (s3.tcache_bytes_max > s3.tcache_share) {
        check_fail_at(__FILE__, __LINE__, "one slow path later the cache is within its share");
        fprintf(stderr, "    cache %zu bytes, share %zu\n", s3.tcache_bytes_max,
                s3.tcache_share);
    }
}

static void *churn_and_measure(void *arg) {
    churn_sizes(16, 256, PER_CLASS);
    *(size_t *)arg = check_stats().tcache_bytes_max; /* this thread's cache: main's is empty */
    return NULL;
}

enum { EXITERS = 6 };

/* Threads that exit without a call give their reservations back with their blocks: with a
 * small budget, the last of several threads run one after the other caches as much as the
 * first did, instead of finding the budget spent by threads that are gone. */
static void exited_threads_leave_their_budget_behind(void) {
    size_t budget = (size_t)64 << 10, held[EXITERS];
    REQUIRE(pymt_set_tcache_budget(budget) == 0);
    pymt_thread_flush();
    for (int i = 0; i < EXITERS; i++) {
        pthread_t t;
        REQUIRE(pthread_create(&t, NULL, churn_and_measure, &held[i]) == 0);
        pthread_join(t, NULL);
    }
    pymt_stats s = check_stats();
    REQUIRE(pymt_set_tcache_budget((size_t)8 << 20) == 0);
    CHECK(held[0] >= ((size_t)8 << 10));
    if (held[EXITERS - 1] < held[0] / 2) {
        check_fail_at(__FILE__, __LINE__, "the last thread caches as the first did");
        fprintf(stderr, "    first thread's cache %zu bytes, last thread's %zu\n", held[0],
                held[EXITERS - 1]);
    }
    CHECK(s.tcache_bytes == 0);
}

enum { CROWD = 6 };

/* Threads come one after the other into a budget their shares do not fit in (64 KiB, at
 * least 16 KiB each): the newcomers, short of room, take it from the idle caches over their
 * share, and all the caches together stay within the budget. */
static void idle_caches_make_room_for_threads_that_need_it(void) {
    size_t budget = (size_t)64 << 10;
    REQUIRE(pymt_set_tcache_budget(budget) == 0);
    pymt_thread_flush();
    parked w[CROWD];
    park_start(&w[0], 16, 256, PER_CLASS);
    pymt_stats first = check_stats();
    for (int i = 1; i < CROWD; i++)
        park_start(&w[i], 16, 256, PER_CLASS);
    pymt_stats all = check_stats();
    for (int i = 0; i < CROWD; i++)
        park_end(&w[i]);
    REQUIRE(pymt_set_tcache_budget((size_t)8 << 20) == 0);
    if (getenv("FOOTPRINT_VERBOSE"))
        fprintf(stderr, "first %zu, largest of all %zu, total %zu\n", first.tcache_bytes_max,
                all.tcache_bytes_max, all.tcache_bytes);
    CHECK(all.tcache_bytes <= budget);
    if (all.tcache_bytes_max >= first.tcache_bytes_max) {
        check_fail_at(__FILE__, __LINE__, "the first idle cache gave room to the later threads");
        fprintf(stderr, "    first cache %zu bytes alone, largest with %d threads %zu\n",
                first.tcache_bytes_max, CROWD, all.tcache_bytes_max);
    }
}

enum { CHURNERS = 16, ROUNDS = 12 };

static pthread_barrier_t round_end, round_go;
static _Atomic int churners_busy;

static void *budget_churner(void *arg) {
    unsigned seed = (unsigned)(uintptr_t)arg;
    enum { N = 300 };
    static _Thread_local void *p[N];
    for (int round = 0; round < ROUNDS; round++) {
        for (int k = 0; k < 8; k++) {
            seed = seed * 1103515245u + 12345u;
            size_t size = 16 * (1 + (seed >> 16) % 32);
            for (int i = 0; i < N; i++)
                if ((p[i] = pymt_object_malloc(size)) == NULL)
                    abort();
            for (int i = 0; i < N; i++)
                pymt_object_free(p[i]);
        }
        atomic_fetch_sub(&churners_busy, 1);
        pthread_barrier_wait(&round_end); /* the main thread looks while all are still */
        pthread_barrier_wait(&round_go);
    }
    return NULL;
}

/* Many threads churn with a budget far below the sum of their shares: the bytes in all caches
 * never pass the budget when the threads are still, and while they run never by more than one
 * batch (one magazine, at most 16 KiB) per thread: the stats add up the bins and spares one
 * by one while the owners move blocks between them. */
static void the_caches_together_stay_within_the_budget(void) {
    size_t budget = (size_t)64 << 10, slack = (size_t)CHURNERS * (16 << 10);
    REQUIRE(pymt_set_tcache_budget(budget) == 0);
    pymt_thread_flush();
    REQUIRE(pthread_barrier_init(&round_end, NULL, CHURNERS + 1) == 0);
    REQUIRE(pthread_barrier_init(&round_go, NULL, CHURNERS + 1) == 0);
    pthread_t t[CHURNERS];
    atomic_store(&churners_busy, CHURNERS);
    for (int i = 0; i < CHURNERS; i++)
        REQUIRE(pthread_create(&t[i], NULL, budget_churner, (void *)(uintptr_t)(i + 1)) == 0);
    size_t most_running = 0, most_still = 0, samples = 0;
    for (int round = 0; round < ROUNDS; round++) {
        while (atomic_load(&churners_busy) > 0) {
            pymt_stats s = check_stats();
            samples++;
            if (s.tcache_bytes > most_running)
                most_running = s.tcache_bytes;
        }
        pthread_barrier_wait(&round_end);
        pymt_stats s = check_stats();
        if (s.tcache_bytes > most_still)
            most_still = s.tcache_bytes;
        atomic_store(&churners_busy, CHURNERS);
        pthread_barrier_wait(&round_go);
    }
    for (int i = 0; i < CHURNERS; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&round_end);
    pthread_barrier_destroy(&round_go);
    REQUIRE(pymt_set_tcache_budget((size_t)8 << 20) == 0);
    if (most_still > budget || most_running > budget + slack) {
        check_fail_at(__FILE__, __LINE__, "all caches within the budget");
        fprintf(stderr, "    budget %zu: at most %zu bytes with the threads still, %zu while "
                        "they ran (%zu samples)\n", budget, most_still, most_running, samples);
    }
    if (getenv("FOOTPRINT_VERBOSE"))
        fprintf(stderr, "budget %zu: still %zu, running %zu (%zu samples)\n", budget, most_still,
                most_running, samples);
}

/* The default budget grows with the heap, a budget set does not. 48 MiB of 16 KiB blocks: the
 * default budget is a third of the arenas in use (about 16 MiB); 160 MiB (a third of which is
 * 53 MiB): it reaches its cap, 32 MiB, and a lone thread's share with it; once the heap is
 * gone (freed, trimmed) it is 8 MiB again. PYMT_TCACHE_BYTES=8M, or a budget set at run time,
 * stays where it was set; a value of PYMT_TCACHE_BYTES that is rejected leaves the default. */
static void child_budget_follows_the_heap(void) {
    const char *v = getenv("PYMT_TCACHE_BYTES");
    bool set = v != NULL && strcmp(v, "8M") == 0; /* any other value is rejected: the default */
    const size_t mib = (size_t)1 << 20;
    enum { N = 160 * 64 }; /* 16 KiB blocks: 160 MiB */
    static void *p[N];
    pymt_stats s = check_stats();
    CHECK(s.tcache_budget == 8 * mib);
    for (int i = 0; i < N; i++) {
        p[i] = pymt_object_malloc(16384);
        REQUIRE(p[i] != NULL);
        if (i == 48 * 64) {
            s = check_stats();
            size_t third = (s.arenas_current - s.arenas_reserve) * mib / 3;
            CHECK(third > 12 * mib && third < 32 * mib);
            CHECK_EQ(s.tcache_budget, (set ? 8 * mib : third));
        }
    }
    s = check_stats();
    if (set) {
        CHECK(s.tcache_budget == 8 * mib && s.tcache_share <= 8 * mib);
    } else {
        CHECK(s.tcache_budget == 32 * mib && s.tcache_share == 32 * mib);
        if (s.tcache_budget != 32 * mib)
            fprintf(stderr, "    budget %zu with %zu arenas\n", s.tcache_budget, s.arenas_current);
    }
    for (int i = 0; i < N; i++)
        pymt_object_free(p[i]);
    pymt_thread_flush();
    pymt_trim();
    s = check_stats();
    CHECK(s.tcache_budget == 8 * mib);
    if (!set) { /* a budget set at run time is a bound, whatever the heap */
        CHECK(pymt_set_tcache_budget(8 * mib) == 0);
        for (int i = 0; i < N; i++)
            REQUIRE((p[i] = pymt_object_malloc(16384)) != NULL);
        s = check_stats();
        CHECK(s.tcache_budget == 8 * mib);
        for (int i = 0; i < N; i++)
            pymt_object_free(p[i]);
    }
}

static void the_default_budget_follows_the_heap(void) {
    child_with("child_budget_follows_the_heap", "PYMT_TCACHE_BYTES="); /* the default */
    child_with("child_budget_follows_the_heap", "PYMT_TCACHE_BYTES=8M");
    /* a value rejected (said on stderr) leaves the default, which grows */
    child_with("child_budget_follows_the_heap", "PYMT_TCACHE_BYTES=12Q");
    child_with("child_budget_follows_the_heap", "PYMT_TCACHE_BYTES=1K");
}

/* Free the blocks p[from..n) and allocate and write them again. */
static void free_and_again(void **p, int from, int n, size_t size) {
    for (int i = from; i < n; i++)
        pymt_object_free(p[i]);
    pymt_thread_flush();
    for (int i = from; i < n; i++) {
        REQUIRE((p[i] = pymt_object_malloc(size)) != NULL);
        memset(p[i], 0x5a, size);
    }
}

/* The warm reserve: an arena that empties while the heap is large keeps its pages, and the next
 * arena the heap needs is that one, with no fault. 64 MiB of 4 KiB blocks (about 255 to an
 * arena), every page written; the blocks of the last four arenas freed (one stays with its
 * class, the others retire: an eighth of 60 arenas may stay warm) and allocated and written
 * again, twice (the first time also carves what the last arena had left uncarved): without the
 * warm reserve the retired arenas come back discarded the second time, one fault a page (more
 * than 500 here). Once everything is freed the heap is small and no arena stays warm. */
static void child_warm_arenas(void) {
    enum { PER = 255, N = 64 * PER, LAST = 4 * PER };
    static void *p[N];
    for (int i = 0; i < N; i++) {
        REQUIRE((p[i] = pymt_object_malloc(4096)) != NULL);
        memset(p[i], 0x5a, 4096);
    }
    free_and_again(p, N - LAST, N, 4096);
    long before = check_minor_faults();
    free_and_again(p, N - LAST, N, 4096);
    long faults = check_minor_faults() - before;
    if (faults > 200) {
        check_fail_at(__FILE__, __LINE__, "the arenas that came back were not warm");
        fprintf(stderr, "    %ld minor faults for %d blocks of 4 KiB\n", faults, LAST);
    }
    for (int i = 0; i < N; i++)
        pymt_object_free(p[i]);
    pymt_thread_flush();
    char *text = check_stats_text();
    CHECK(text != NULL && strstr(text, "# ... of them with pages resident  = 0\n") != NULL);
    free(text);
}

static void arenas_that_empty_stay_warm_while_the_heap_is_large(void) {
    if (CHECK_SANITIZED)
        CHECK_SKIP("page faults mean nothing under a sanitizer");
    child_with("child_warm_arenas", NULL);
}

static void stats_print_the_budget(void) {
    char *text = check_stats_text();
    CHECK(text != NULL && strstr(text, "# thread cache budget / share") != NULL);
    CHECK(text != NULL && strstr(text, "# bytes in the depot") != NULL);
    CHECK(text != NULL && strstr(text, "# bytes in thread caches           = ") != NULL);
    CHECK(text != NULL && strstr(text, "# pools purged / taken again       = ") != NULL);
    CHECK(text != NULL && strstr(text, "# medium blocks purged / again     = ") != NULL);
    free(text);
}

static const check_case cases[] = {
    CHECK_CASE(exited_threads_memory_returns_without_trim),
    CHECK_CASE(a_thread_keeps_within_its_share),
    CHECK_CASE(a_class_left_behind_is_swept),
    CHECK_CASE(an_idle_thread_gives_back_when_the_budget_is_lowered),
    CHECK_CASE(idle_caches_make_room_for_threads_that_need_it),
    CHECK_CASE(the_caches_together_stay_within_the_budget),
    CHECK_CASE(exited_threads_leave_their_budget_behind),
    CHECK_CASE(empty_pools_of_live_arenas_are_purged),
    CHECK_CASE(purge_max_bounds_the_free_pools_kept),
    CHECK_CASE(child_purge_bound),
    CHECK_CASE(a_heap_that_swings_stops_purging),
    CHECK_CASE(child_cycles),
    CHECK_CASE(the_default_budget_follows_the_heap),
    CHECK_CASE(child_budget_follows_the_heap),
    CHECK_CASE(arenas_that_empty_stay_warm_while_the_heap_is_large),
    CHECK_CASE(child_warm_arenas),
    CHECK_CASE(stats_print_the_budget),
};
CHECK_MAIN(cases)

/* stress_thread_churn.c: a long stream of short-lived threads, a few alive at a time.
 *
 * Models: a thread-per-request server or a pool that keeps replacing its workers: every thread
 * gets a per-thread cache on its first allocation and dies soon after without calling
 * pymt_thread_flush, so the thread-exit path must hand its cached blocks back and release the
 * cache. If it leaks either, memory grows with the number of threads ever started, not with
 * what is alive.
 *
 * Units: --ops N is the number of short-lived threads started over the run; --threads N is
 * how many are alive at once (thread i is joined just before thread i + N starts, in its lane).
 * Each thread makes 32 blocks (85% object memory of every class, 5% object memory up to 2 KiB,
 * 5% raw memory, 5% objects), checks and frees about half, swaps 8 live ones into a shared
 * array of 2048 slots and frees what it takes out (blocks of threads that are gone, most of
 * them), frees the rest, and returns. Every 100th thread lives longer: between making its
 * blocks and freeing half, it runs 2000 operations on them (allocate, free, realloc, swap
 * through the slots), enough to fill and spill its cache's bins and pass its share of the
 * budget, so bugs that need many operations of one thread can show before the thread exits.
 * Checks: every block's pattern before every free; after all threads: the per-class accounting
 * identity, each class's blocks in use and the large blocks back to the start, no block of
 * either tier left in any thread cache (blocks_cached == 0 in every class after the main
 * thread flushes; a failure names the class), at most one live cache (main's);
 * the resident set (/proc/self/statm, sampled every 16 threads started) never more than the
 * thread caches' budget plus a constant (TC_RSS_CONSTANT, TC_RSS_CONSTANT_DEBUG in debug
 * mode: what they are made of, measured) plus 256 KiB per thread alive over its start;
 * and peak RSS (ru_maxrss) under a bound computed from what can be live at once:
 *   baseline RSS at start
 *   + 4 x (slots + threads alive x 32 blocks) x 2 KiB   (live blocks, with room for
 *                                                        fragmentation and per-thread caches)
 *   + threads alive x 1 MiB                             (stacks, cache metadata)
 *   + 64 MiB slack (+320 MiB in sanitizer builds: ASan keeps up to 256 MiB of freed
 *     system-allocator blocks in its quarantine by default, and both sanitizers' shadow and
 *     per-thread state grow with history, not with pymt; measured peaks were 22-38 MiB)
 * The bound does not grow with --ops: with the defaults it is about 85 MiB over the baseline,
 * so a leak of 16 KiB per exited thread breaks it after about 5,500 threads.
 *
 * Defaults: CI  --threads 4 --ops 20000 threads --seconds 60 (cap). 100,000 threads took
 *           4 s in release on the two-core CI machine when quiet, 10 s when loaded (thread
 *           creation dominates); the stress label runs every scenario six times (plain and five
 *           modes: stress/CMakeLists.txt) and under both sanitizers, which make thread
 *           creation far slower, so CI takes a fifth: 20,000 threads are still over three
 *           times what a per-thread leak of 16 KiB needs to break the RSS bound.
 *           soak --threads 8 --ops 100000 threads --seconds 900
 * Example:  stress_thread_churn --threads 6 --ops 100000 --seed 3 */
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/args.h"
#include "common/block.h"
#include "common/rng.h"
#include "common/run.h"
#include "common/sanitize.h"
#include "common/slots.h"
#include "common/stats.h"
#include "common/thread.h"

#define TC_BLOCKS 32   /* blocks per short-lived thread */
#define TC_SWAPS 8     /* of which handed to the shared slots */
#define TC_LONG_EVERY 100 /* every this many threads, one lives longer: */
#define TC_LONG_OPS 2000  /* this many more operations on its blocks */
#define TC_SLOTS 2048
#define TC_MAX_LARGE 2048
/* The resident set over the start that is not the thread caches': made of the blocks alive at
 * once (the 2048 slots and the threads' own blocks), the stacks of the threads alive and partly
 * used pools and medium arenas. With a medium ceiling of 16 KiB it measured 1.2-1.7 MiB (caches
 * on, off, or hardened; 1.9 MiB under the drop-in malloc; 2.1 MiB with --threads 8 --ops
 * 100000). With the ceiling at 256 KiB, stress_rand_size's 2% of requests at and past the
 * ceiling are 256-512 KiB blocks, a few of them alive at once, in medium arenas of three blocks
 * or in glibc's heaps: 7.9-11.7 MiB measured (caches on or off, under the drop-in too), 9-11
 * MiB at 20,000 threads, 11 at 60,000. 16 MiB is half as much again as the most measured: a
 * leak of 1 KiB per exited thread breaks it within the default 20,000 threads. Debug mode keeps
 * 4096 freed blocks in its quarantine, with their debug words, resident: 21-24 MiB measured,
 * 35-48 MiB under the drop-in malloc (where the C library's own allocations are debug blocks
 * too, and the debug blocks past the ceiling glibc's, whose heaps keep what they free: 47-48
 * MiB with PYMT_MEDIUM=0 as well); 64 MiB there (was 40 with 16-32 KiB blocks). */
#define TC_RSS_CONSTANT ((size_t)16 << 20)
#define TC_RSS_CONSTANT_DEBUG ((size_t)64 << 20)

static const pymt_type tc_type = {"tc_obj", 48, 0};
static const pymt_type tc_vtype = {"tc_var", sizeof(pymt_varobject), 8};

/* One lane per thread alive at once: its records are used only by the lane's current thread
 * (the previous one was joined before the next started). */
typedef struct tc_lane {
    stress_block *rec;               /* TC_BLOCKS records this lane started with */
    stress_block *table[TC_BLOCKS];  /* records in hand (they move through the slots) */
    unsigned id;                     /* owner id of the lane's current thread */
    uint64_t frees, adopted;         /* totals over the lane's threads */
    uint64_t long_lived, reallocs;   /* threads that lived longer, their reallocs */
} tc_lane;

static stress_slots tc_slots;

static void tc_alloc(stress_block *b, stress_rng *r) {
    uint64_t k = stress_rng_below(r, 100);
    if (k < 85)
        stress_alloc(b, STRESS_OBJMEM, 1 + stress_rng_below(r, PYMT_SMALL_REQUEST_THRESHOLD), r);
    else if (k < 90)
        stress_alloc(b, STRESS_OBJMEM, stress_rand_size(r, TC_MAX_LARGE), r);
    else if (k < 95)
        stress_alloc(b, STRESS_MEM, stress_rand_size(r, TC_MAX_LARGE), r);
    else if (k < 98)
        stress_alloc_object(b, &tc_type, 0);
    else
        stress_alloc_object(b, &tc_vtype, (ptrdiff_t)stress_rng_below(r, 80));
}

/* Put the live block of record i into a random shared slot and take over what was there:
 * that record, now this lane's, is freed here if live (a block of another, perhaps exited,
 * thread). */
static void tc_swap(tc_lane *l, int i, stress_rng *r) {
    stress_block *got = stress_slots_swap(&tc_slots, stress_rng_below(r, TC_SLOTS), l->table[i]);
    l->table[i] = got;
    if (got->p) {
        l->adopted++;
        stress_free(got);
        l->frees++;
    }
}

/* The longer life of every TC_LONG_EVERY-th thread: TC_LONG_OPS operations on its blocks. */
static void tc_long_life(tc_lane *l, stress_rng *r) {
    l->long_lived++;
    for (int op = 0; op < TC_LONG_OPS; op++) {
        int i = (int)stress_rng_below(r, TC_BLOCKS);
        stress_block *b = l->table[i];
        uint64_t k = stress_rng_below(r, 100);
        if (!b->p) {
            tc_alloc(b, r);
        } else if (k < 40) {
            stress_free(b);
            l->frees++;
        } else if (k < 75 && b->fam != STRESS_OBJECT) {
            /* mostly up to 2 KiB, across 512; a fifth anywhere (stress_rand_size) */
            stress_realloc(b, stress_rng_pct(r, 80) ? 1 + stress_rng_below(r, TC_MAX_LARGE)
                                                    : stress_rand_size(r, TC_MAX_LARGE));
            l->reallocs++;
        } else {
            tc_swap(l, i, r);
        }
    }
    for (int i = 0; i < TC_BLOCKS; i++) /* the short life's steps expect every record live */
        if (!l->table[i]->p)
            tc_alloc(l->table[i], r);
}

static void *tc_thread(void *arg) {
    tc_lane *l = arg;
    stress_tid = l->id;
    stress_rng r;
    stress_rng_init(&r, stress_cfg.seed, l->id);
    for (int i = 0; i < TC_BLOCKS; i++)
        tc_alloc(l->table[i], &r);
    if (l->id % TC_LONG_EVERY == 0)
        tc_long_life(l, &r);
    for (int i = 0; i < TC_BLOCKS; i++)
        if (stress_rng_pct(&r, 50)) {
            stress_free(l->table[i]);
            l->frees++;
        }
    for (int s = 0; s < TC_SWAPS; s++) {
        int i = (int)stress_rng_below(&r, TC_BLOCKS);
        if (l->table[i]->p)
            tc_swap(l, i, &r);
    }
    for (int i = 0; i < TC_BLOCKS; i++)
        if (l->table[i]->p) {
            stress_free(l->table[i]);
            l->frees++;
        }
    return NULL; /* no pymt_thread_flush: the thread-exit path must do it */
}

/* The resident set now, from /proc/self/statm (its second field, in pages); 0 if unreadable.
 * read() into a stack buffer: no allocation, so the drop-in malloc variant measures the same. */
static size_t tc_rss_bytes(void) {
    char buf[128];
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    char *end;
    (void)strtoull(buf, &end, 10);
    return (size_t)strtoull(end, NULL, 10) * (size_t)sysconf(_SC_PAGESIZE);
}

static size_t tc_maxrss_bytes(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (size_t)ru.ru_maxrss * 1024;
}

int main(int argc, char **argv) {
    static const stress_defaults d = {.threads = 4, .soak_threads = 8, .ops = 20000,
                                      .soak_ops = 100000, .seconds = 60, .soak_seconds = 900};
    stress_parse(argc, argv, "stress_thread_churn", &d);
    unsigned nl = stress_cfg.threads;
    tc_lane *lanes = calloc(nl, sizeof *lanes);
    pthread_t *tids = calloc(nl, sizeof *tids);
    bool *running = calloc(nl, sizeof *running);
    stress_block *recs = calloc((size_t)nl * TC_BLOCKS, sizeof *recs);
    if (!lanes || !tids || !running || !recs)
        stress_fail("out of memory");
    stress_slots_init(&tc_slots, TC_SLOTS);
    for (unsigned j = 0; j < nl; j++) {
        lanes[j].rec = recs + (size_t)j * TC_BLOCKS;
        for (int i = 0; i < TC_BLOCKS; i++)
            lanes[j].table[i] = &lanes[j].rec[i];
    }
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);

    stress_baseline base;
    stress_baseline_take(&base);
    size_t rss0 = tc_maxrss_bytes();
    size_t now0 = tc_rss_bytes(), now_most = now0;
    uint64_t now_most_at = 0;

    uint64_t started = 0;
    for (; started < stress_cfg.ops; started++) {
        if ((started & 63) == 0 && stress_time_up())
            break;
        unsigned j = (unsigned)(started % nl);
        if (running[j])
            stress_thread_join(tids[j]);
        if ((started & 15) == 0) {
            size_t now = tc_rss_bytes();
            if (now > now_most) {
                now_most = now;
                now_most_at = started;
            }
        }
        lanes[j].id = (unsigned)(started + 1);
        int e = pthread_create(&tids[j], &attr, tc_thread, &lanes[j]);
        if (e)
            stress_fail("pthread_create (thread %" PRIu64 "): %s", started + 1, strerror(e));
        running[j] = true;
    }
    for (unsigned j = 0; j < nl; j++)
        if (running[j])
            stress_thread_join(tids[j]);
    size_t drained = stress_slots_drain(&tc_slots);
    pthread_attr_destroy(&attr);

    uint64_t frees = drained, adopted = 0, long_lived = 0, reallocs = 0;
    for (unsigned j = 0; j < nl; j++) {
        frees += lanes[j].frees;
        adopted += lanes[j].adopted;
        long_lived += lanes[j].long_lived;
        reallocs += lanes[j].reallocs;
    }
    size_t peak = tc_maxrss_bytes();
    size_t live_bound = ((size_t)TC_SLOTS + (size_t)nl * TC_BLOCKS) * TC_MAX_LARGE;
    size_t limit = rss0 + 4 * live_bound + (size_t)nl * (1u << 20) + ((size_t)64 << 20) +
                   (STRESS_SANITIZED ? (size_t)320 << 20 : 0);
    if (peak > limit)
        stress_fail("peak RSS %zu KiB over the bound %zu KiB (baseline %zu KiB, live at once at "
                    "most %zu KiB) after %" PRIu64 " threads",
                    peak >> 10, limit >> 10, rss0 >> 10, live_bound >> 10, started);

    pymt_stats cfg;
    stress_get_stats(&cfg);
    size_t rss_excess = now_most - now0;
    /* RSS sampled every 16 threads: within the caches' budget, plus the constant, plus the
     * stacks of the threads alive (sanitizers: their own slack, as for the peak above) */
    bool debug = cfg.mode == PYMT_MODE_PYMALLOC_DEBUG || cfg.mode == PYMT_MODE_MALLOC_DEBUG;
    size_t now_limit = cfg.tcache_budget + (debug ? TC_RSS_CONSTANT_DEBUG : TC_RSS_CONSTANT) +
                       (size_t)nl * (256 << 10) + (STRESS_SANITIZED ? (size_t)320 << 20 : 0);
    if (now0 != 0 && rss_excess > now_limit)
        stress_fail("RSS rose %zu KiB over its start (at thread %" PRIu64 "), more than the "
                    "thread caches' budget %zu KiB plus %zu KiB",
                    rss_excess >> 10, now_most_at, cfg.tcache_budget >> 10,
                    (now_limit - cfg.tcache_budget) >> 10);

    pymt_stats s = stress_end_check(&base);
    for (int c = 0; c < STRESS_CLASS_ROWS; c++)
        if (stress_class_row(&s, c)->blocks_cached != 0) {
            char name[48];
            stress_fail("after every thread exited and main flushed, %zu blocks of %s are still "
                        "in thread caches", stress_class_row(&s, c)->blocks_cached,
                        stress_class_name(&s, c, name, sizeof name));
        }
    if (s.threads_cached > 1)
        stress_fail("after every thread exited, %zu threads still have a cache", s.threads_cached);
    stress_summary(&s,
                   "threads_started=%" PRIu64 " long_lived=%" PRIu64 " reallocs=%" PRIu64
                   " frees=%" PRIu64 " adopted_from_slots=%" PRIu64
                   " drained_by_main=%zu rss_start_kib=%zu rss_peak_kib=%zu rss_bound_kib=%zu"
                   " rss_now_most_over_start_kib=%zu (thread %" PRIu64 ") tcache_budget_kib=%zu",
                   started, long_lived, reallocs, frees, adopted, drained, rss0 >> 10, peak >> 10,
                   limit >> 10, rss_excess >> 10, now_most_at, s.tcache_budget >> 10);
    stress_slots_destroy(&tc_slots);
    free(recs);
    free(running);
    free(tids);
    free(lanes);
    return 0;
}

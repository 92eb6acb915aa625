/* stress_arena_storm.c: bursts of many MiB of small blocks, freed again, while others churn.
 *
 * Models: a program whose memory swings (a batch job building and dropping a large structure,
 * a cache emptied at once) next to threads doing steady small work. Each burst maps dozens of
 * 1 MiB arenas; after it the arenas empty out and must go back to the OS (or into the reserve),
 * even though other threads keep allocating in the meantime and may hold blocks anywhere.
 *
 * Threads: --threads N is split into burst threads (half, at least one) and background threads
 * (the rest). --ops N is the number of rounds. Each round the burst threads together allocate
 * 32 MiB (16 MiB in sanitizer builds, 256 MiB with --soak) of object-memory blocks of every
 * class (about 127,000 blocks for 32 MiB),
 * pattern-filled; then they free them (odd rounds: each thread frees its neighbour's blocks,
 * so the frees are cross-thread), each flushes its cache, and the leader (burst thread 1)
 * reads the stats. Every third round, and the last, the leader also calls pymt_trim().
 * Background threads meanwhile run a steady churn of malloc/realloc/free over 64 blocks each
 * (stress_rand_size up to 1 KiB, and now and then a medium or large size), until the last
 * round is over.
 * Checks (skipped when the mode has no pools, e.g. PYMT_MALLOC=malloc; said in the summary):
 *   - at the peak of a burst, arenas_current is at least the burst's bytes (at block size) in
 *     MiB: the blocks are in arenas (new ones, or ones earlier rounds left mapped);
 *   - in every trim round, after the trim every arena still mapped beyond the reserve holds a
 *     pool with blocks (in use or cached): arenas_current <= arenas_reserve + the pools
 *     assigned to a class and the medium classes' arenas (the background threads' sizes reach
 *     the medium tier), + 1 for an arena a background thread may take meanwhile; and when
 *     the burst's peak had more arenas than that, arenas_reclaimed_total grew during the round.
 *     The background threads' blocks are allocated while bursts are live, from the bursts'
 *     pools, so over many rounds they spread across the bursts' arenas: the earlier checks, that
 *     a quarter of each burst's arenas come back and that every trim round reclaims one, held
 *     for the CI's 6 rounds but failed in long runs (20-200 rounds in: 35-42 of 42-43 arenas
 *     still mapped after a trim, pinned by about 100 pools of background blocks);
 *   - at the end (everything freed, all threads joined, main flushed, pymt_trim), arenas_current
 *     is at most its start value + arenas_reserve + 1 + the pools and medium arenas that still
 *     hold blocks (in debug mode the quarantine keeps some freed blocks allocated underneath);
 *   - the pattern of every block before every free; the per-class accounting identity; each
 *     class's blocks in use (both tiers) and large blocks back to the start.
 *
 * Defaults: CI  --threads 4 --ops 6 rounds --seconds 60 (cap)
 *           soak --threads 8 --ops 1000000 rounds --seconds 600 (so: ten minutes of rounds)
 * Example:  stress_arena_storm --threads 6 --ops 40 --seed 11 */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/args.h"
#include "common/block.h"
#include "common/rng.h"
#include "common/run.h"
#include "common/sanitize.h"
#include "common/stats.h"
#include "common/thread.h"

#define STORM_AVG_BLOCK 264  /* mean of the uniform class sizes, 16..512 */
#define STORM_ARENA_BYTES ((size_t)1 << 20) /* arena size, as pymt.h documents it */
#define BG_TABLE 64
#define BG_MAX_SIZE 1024

typedef struct storm_worker {
    pthread_t thread;
    unsigned id;
    unsigned index;        /* among burst threads, or among background threads */
    bool burst;
    stress_block *blocks;  /* burst: this thread's blocks of the current round */
    size_t nblocks;
    size_t bytes;          /* burst: their bytes at block size (class sizes) */
    uint64_t ops;
} storm_worker;

static storm_worker *storm_w;
static unsigned storm_nburst;
static size_t storm_per_thread;         /* blocks per burst thread per round */
static stress_barrier storm_bar;        /* burst threads only */
static atomic_bool storm_go;            /* leader: run another round (read after a barrier) */
static atomic_bool storm_bg_stop;       /* leader: background threads may stop */
static bool storm_pools;                /* the mode has pools: arena checks apply */

/* Leader's record of the rounds. */
static uint64_t storm_rounds, storm_trims;
static size_t storm_trim_bytes, storm_peak_max, storm_natural_reclaims;

static size_t storm_arenas(size_t *reclaimed, size_t *reserve) {
    pymt_stats s;
    stress_get_stats(&s);
    if (reclaimed)
        *reclaimed = s.arenas_reclaimed_total;
    if (reserve)
        *reserve = s.arenas_reserve;
    return s.arenas_current;
}

/* The pools that hold blocks (in use or cached), each of which may keep its arena mapped, and
 * the medium classes' arenas (a medium class's pools are its arenas); the reserve's arenas in
 * *reserve. */
static size_t storm_pools_assigned(size_t *reserve) {
    pymt_stats s;
    stress_get_stats(&s);
    size_t pools = 0;
    for (int c = 0; c < STRESS_CLASS_ROWS; c++)
        pools += stress_class_row(&s, c)->pools;
    *reserve = s.arenas_reserve;
    return pools;
}

static void storm_burst(storm_worker *w, stress_rng *r) {
    bool leader = w->index == 0;
    size_t before = 0, reclaimed0 = 0, peak = 0, demand = 0;
    for (uint64_t round = 0;; round++) {
        stress_barrier_wait(&storm_bar);
        if (!atomic_load_explicit(&storm_go, memory_order_relaxed))
            break;
        if (leader)
            before = storm_arenas(&reclaimed0, NULL);
        stress_barrier_wait(&storm_bar);

        w->bytes = 0;
        for (size_t i = 0; i < storm_per_thread; i++) {
            size_t cls = (size_t)stress_rng_below(r, PYMT_NUM_SIZE_CLASSES);
            stress_alloc(&w->blocks[i], STRESS_OBJMEM,
                         cls * PYMT_ALIGNMENT + 1 + (size_t)stress_rng_below(r, PYMT_ALIGNMENT), r);
            /* calloc may have rounded the request up by a few bytes: count what was asked */
            w->bytes += (w->blocks[i].size + PYMT_ALIGNMENT - 1) / PYMT_ALIGNMENT * PYMT_ALIGNMENT;
        }
        w->nblocks = storm_per_thread;
        w->ops += storm_per_thread;
        stress_barrier_wait(&storm_bar);
        if (leader) {
            peak = storm_arenas(NULL, NULL);
            if (peak > storm_peak_max)
                storm_peak_max = peak;
            /* The burst's blocks alone fill this many arenas (more with pool headers and
             * partly used pools); arenas left from earlier rounds may serve it. */
            size_t bytes = 0;
            for (unsigned i = 0; i < storm_nburst; i++)
                bytes += storm_w[i].bytes;
            demand = (bytes + STORM_ARENA_BYTES - 1) / STORM_ARENA_BYTES;
            if (storm_pools && peak < demand)
                stress_fail("round %" PRIu64 ": %zu bytes of blocks live in %zu arenas of 1 MiB",
                            round, bytes, peak);
        }
        stress_barrier_wait(&storm_bar);

        /* Odd rounds: free the neighbour's blocks (cross-thread), back to front. */
        storm_worker *victim = (round & 1) ? &storm_w[(w->index + 1) % storm_nburst] : w;
        for (size_t i = victim->nblocks; i-- > 0;)
            stress_free(&victim->blocks[i]);
        w->ops += victim->nblocks;
        pymt_thread_flush();
        stress_barrier_wait(&storm_bar);
        w->nblocks = 0; /* freed by us or, in odd rounds, by the neighbour */

        if (leader) {
            bool last = round + 1 >= stress_cfg.ops || stress_time_up();
            bool trim = round % 3 == 2 || last;
            size_t reclaimed1, after;
            after = storm_arenas(&reclaimed1, NULL);
            if (!trim) {
                storm_natural_reclaims += reclaimed1 - reclaimed0;
            } else {
                storm_trims++;
                storm_trim_bytes += pymt_trim();
                after = storm_arenas(&reclaimed1, NULL);
                if (storm_pools) {
                    size_t reserve, pools = storm_pools_assigned(&reserve);
                    size_t pinned = reserve + pools + 1;
                    if (peak > pinned && reclaimed1 <= reclaimed0)
                        stress_fail("trim round %" PRIu64 ": arenas_reclaimed_total stayed at %zu "
                                    "though the blocks could pin at most %zu of the peak's %zu "
                                    "arenas (%zu now)", round, reclaimed1, pinned, peak, after);
                    if (after > pinned)
                        stress_fail("trim round %" PRIu64 ": arenas_current %zu after trim "
                                    "(peak %zu, %zu before the burst, which filled %zu): more "
                                    "than the %zu in reserve and the %zu pools and medium "
                                    "arenas with blocks",
                                    round, after, peak, before, demand, reserve, pools);
                }
            }
            storm_rounds = round + 1;
            atomic_store_explicit(&storm_go, !last, memory_order_relaxed);
            if (last)
                atomic_store_explicit(&storm_bg_stop, true, memory_order_release);
        }
    }
}

static void storm_background(storm_worker *w, stress_rng *r) {
    stress_block table[BG_TABLE];
    memset(table, 0, sizeof table);
    /* Acquire pairs with the leader's release when it stops the rounds. */
    while (!atomic_load_explicit(&storm_bg_stop, memory_order_acquire)) {
        for (int i = 0; i < 64; i++, w->ops++) {
            stress_block *b = &table[stress_rng_below(r, BG_TABLE)];
            if (!b->p)
                stress_alloc(b, STRESS_OBJMEM, stress_rand_size(r, BG_MAX_SIZE), r);
            else if (stress_rng_pct(r, 30))
                stress_realloc(b, stress_rand_size(r, BG_MAX_SIZE));
            else
                stress_free(b);
        }
    }
    for (int i = 0; i < BG_TABLE; i++)
        if (table[i].p)
            stress_free(&table[i]);
}

static void *storm_main(void *arg) {
    storm_worker *w = arg;
    stress_tid = w->id;
    stress_rng r;
    stress_rng_init(&r, stress_cfg.seed, w->id);
    if (w->burst)
        storm_burst(w, &r);
    else
        storm_background(w, &r);
    return NULL;
}

int main(int argc, char **argv) {
    static const stress_defaults d = {.threads = 4, .soak_threads = 8, .ops = 6,
                                      .soak_ops = 1000000, .seconds = 60, .soak_seconds = 600};
    stress_parse(argc, argv, "stress_arena_storm", &d);
    /* Sanitizer builds: half the burst (still 16 arenas or more), as the shadow memory and the
     * instrumented pattern fill make each MiB several times dearer. */
    size_t burst_bytes = (size_t)(stress_cfg.soak ? 256 : STRESS_SANITIZED ? 16 : 32) << 20;

    stress_baseline base;
    stress_baseline_take(&base);
    pymt_mode mode = pymt_get_mode();
    storm_pools = mode == PYMT_MODE_PYMALLOC || mode == PYMT_MODE_PYMALLOC_DEBUG;
    size_t arenas0 = storm_arenas(NULL, NULL), reclaimed_start;
    storm_arenas(&reclaimed_start, NULL);

    unsigned nt = stress_cfg.threads;
    storm_nburst = nt / 2 ? nt / 2 : 1;
    storm_per_thread = burst_bytes / STORM_AVG_BLOCK / storm_nburst;
    storm_w = calloc(nt, sizeof *storm_w);
    if (!storm_w)
        stress_fail("out of memory");
    stress_barrier_init(&storm_bar, storm_nburst);
    atomic_store_explicit(&storm_go, stress_cfg.ops > 0, memory_order_relaxed);
    atomic_store_explicit(&storm_bg_stop, stress_cfg.ops == 0, memory_order_relaxed);
    for (unsigned i = 0; i < nt; i++) {
        storm_worker *w = &storm_w[i];
        w->id = i + 1;
        w->burst = i < storm_nburst;
        w->index = w->burst ? i : i - storm_nburst;
        if (w->burst) {
            w->blocks = calloc(storm_per_thread, sizeof *w->blocks);
            if (!w->blocks)
                stress_fail("out of memory for %zu records", storm_per_thread);
        }
    }
    for (unsigned i = 0; i < nt; i++)
        stress_thread_create(&storm_w[i].thread, storm_main, &storm_w[i]);
    uint64_t bg_ops = 0, burst_ops = 0;
    for (unsigned i = 0; i < nt; i++) {
        stress_thread_join(storm_w[i].thread);
        if (storm_w[i].burst)
            burst_ops += storm_w[i].ops;
        else
            bg_ops += storm_w[i].ops;
    }

    pymt_stats s = stress_end_check(&base);
    size_t released_at_end = pymt_trim();
    pymt_stats e;
    stress_get_stats(&e);
    size_t reserve = e.arenas_reserve, reclaimed_end = e.arenas_reclaimed_total;
    size_t arenas_end = e.arenas_current;
    /* Pools and medium arenas still holding blocks (debug mode: the quarantine's) may each pin
     * an arena. */
    size_t pinned = 0;
    for (int c = 0; c < STRESS_CLASS_ROWS; c++)
        if (stress_class_row(&e, c)->blocks_in_use)
            pinned += stress_class_row(&e, c)->pools;
    if (storm_pools) {
        if (arenas_end > arenas0 + reserve + pinned + 1)
            stress_fail("at end: %zu arenas mapped (%zu in reserve, %zu pools and medium arenas "
                        "with blocks in use), %zu at start: the bursts' arenas did not come back",
                        arenas_end, reserve, pinned, arenas0);
        if (storm_rounds > 0 && reclaimed_end <= reclaimed_start)
            stress_fail("at end: arenas_reclaimed_total %zu, %zu at start", reclaimed_end,
                        reclaimed_start);
    }
    stress_summary(&s,
                   "rounds=%" PRIu64 " burst_mib=%zu burst_threads=%u background_threads=%u "
                   "burst_ops=%" PRIu64 " background_ops=%" PRIu64 " trims=%" PRIu64
                   " trim_bytes=%zu reclaimed_without_trim=%zu arenas_start=%zu arenas_peak=%zu "
                   "arenas_end=%zu reserve_end=%zu reclaimed_total=%zu released_at_end=%zu%s",
                   storm_rounds, burst_bytes >> 20, storm_nburst, nt - storm_nburst, burst_ops,
                   bg_ops, storm_trims, storm_trim_bytes, storm_natural_reclaims, arenas0,
                   storm_peak_max, arenas_end, reserve, reclaimed_end - reclaimed_start,
                   released_at_end,
                   storm_pools ? "" : " (no pools in this mode: arena checks skipped)");
    stress_barrier_destroy(&storm_bar);
    for (unsigned i = 0; i < nt; i++)
        free(storm_w[i].blocks);
    free(storm_w);
    return 0;
}

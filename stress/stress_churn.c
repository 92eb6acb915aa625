/* stress_churn.c: many threads churning object memory, with blocks crossing threads.
 *
 * Models: a program whose threads all allocate, resize and free objects of every size, and
 * pass some of them to other threads (a work queue, a cache shared by threads), so blocks are
 * freed and reallocated by a thread other than the one that allocated them.
 *
 * Each worker keeps a table of 256 records and, per operation, picks one at random:
 *   empty  -> pymt_object_malloc or _calloc of a random size (stress_rand_size: all 32
 *             classes, many around the 512-byte threshold, some up to 4 KiB, a few of every
 *             medium class up to 256 KiB and past it), pattern-filled;
 *   live   -> 45% check + free, 30% check + pymt_object_realloc to a new random size (growing
 *             and shrinking across 512 and 256 KiB: pool -> medium tier -> system allocator,
 *             and back; with PYMT_MEDIUM=0 the system allocator from 513 bytes), the kept prefix
 *             checked, 25% swap into a random shared slot (atomic exchange): what comes back
 *             is another thread's block (or an empty record), checked at once and then freed
 *             (cross-thread free), reallocated (cross-thread realloc) or kept;
 *   rarely -> pymt_thread_flush (0.08%), pymt_trim (0.02%: arenas released while every
 *             other thread allocates).
 * Checks: the pattern of every block before every free and realloc (owner + serial: a block
 * handed out twice, or written by the allocator, is caught), calloc zeroing, 16-byte alignment,
 * pymt_usable_size >= requested; at the end (all threads joined, the slots drained by the main
 * thread) the per-class accounting identity and each class's blocks in use (both tiers) and
 * the large blocks back to their values at start.
 *
 * Defaults: CI  --threads 8  --ops 200000 (per thread) --seconds 60 (a cap, not a target)
 *           soak --threads 32 --ops 50000000 --seconds 600
 * Example:  stress_churn --threads 16 --ops 1000000 --seed 42 */
#include <inttypes.h>
#include <stdlib.h>

#include "common/args.h"
#include "common/block.h"
#include "common/rng.h"
#include "common/run.h"
#include "common/slots.h"
#include "common/stats.h"
#include "common/thread.h"

#define CHURN_TABLE 256     /* records per thread */
#define CHURN_SLOTS 1024    /* shared hand-off slots */
#define CHURN_MAX_LARGE 4096

typedef struct churn_counts {
    uint64_t allocs, frees, reallocs, swaps, adopted, cross_frees, cross_reallocs, flushes, trims;
} churn_counts;

typedef struct churn_worker {
    pthread_t thread;
    unsigned id;
    stress_block **table; /* CHURN_TABLE record pointers (records move between threads) */
    churn_counts n;
} churn_worker;

static stress_slots churn_slots;
static stress_barrier churn_start;

static void churn_adopted(churn_worker *w, stress_block *b, stress_rng *r) {
    if (!b->p)
        return;
    w->n.adopted++;
    stress_check(b);
    uint64_t k = stress_rng_below(r, 100);
    if (k < 50) {
        stress_free(b);
        w->n.cross_frees++;
    } else if (k < 75) {
        stress_realloc(b, stress_rand_size(r, CHURN_MAX_LARGE));
        w->n.cross_reallocs++;
    } /* else keep it in the table */
}

static void *churn_main(void *arg) {
    churn_worker *w = arg;
    stress_tid = w->id;
    stress_rng r;
    stress_rng_init(&r, stress_cfg.seed, w->id);
    stress_barrier_wait(&churn_start);
    for (uint64_t op = 0; op < stress_cfg.ops; op++) {
        if ((op & 255) == 0 && stress_time_up())
            break;
        stress_block **slotp = &w->table[stress_rng_below(&r, CHURN_TABLE)];
        stress_block *b = *slotp;
        if (!b->p) {
            stress_alloc(b, STRESS_OBJMEM, stress_rand_size(&r, CHURN_MAX_LARGE), &r);
            w->n.allocs++;
            continue;
        }
        uint64_t k = stress_rng_below(&r, 1000);
        if (k < 450) {
            stress_free(b);
            w->n.frees++;
        } else if (k < 750) {
            stress_realloc(b, stress_rand_size(&r, CHURN_MAX_LARGE));
            w->n.reallocs++;
        } else if (k < 999) {
            /* Hand a live block over and take whatever the slot held. */
            stress_block *got = stress_slots_swap(&churn_slots,
                                                  stress_rng_below(&r, CHURN_SLOTS), b);
            *slotp = got;
            w->n.swaps++;
            churn_adopted(w, got, &r);
        } else if (stress_rng_pct(&r, 80)) {
            pymt_thread_flush();
            w->n.flushes++;
        } else {
            /* Rarely: give wholly free arenas back while every other thread allocates. */
            (void)pymt_trim();
            w->n.trims++;
        }
    }
    /* Free what this thread still holds; blocks left in the slots are freed by main. */
    for (size_t i = 0; i < CHURN_TABLE; i++)
        if (w->table[i]->p) {
            stress_free(w->table[i]);
            w->n.frees++;
        }
    return NULL;
}

int main(int argc, char **argv) {
    static const stress_defaults d = {.threads = 8, .soak_threads = 32, .ops = 200000,
                                      .soak_ops = 50000000, .seconds = 60, .soak_seconds = 600};
    stress_parse(argc, argv, "stress_churn", &d);
    stress_baseline base;
    stress_baseline_take(&base);

    unsigned nt = stress_cfg.threads;
    churn_worker *w = calloc(nt, sizeof *w);
    stress_block *records = calloc((size_t)nt * CHURN_TABLE, sizeof *records);
    stress_block **tables = calloc((size_t)nt * CHURN_TABLE, sizeof *tables);
    if (!w || !records || !tables)
        stress_fail("out of memory for %u workers", nt);
    stress_slots_init(&churn_slots, CHURN_SLOTS);
    stress_barrier_init(&churn_start, nt);
    for (unsigned i = 0; i < nt; i++) {
        w[i].id = i + 1;
        w[i].table = tables + (size_t)i * CHURN_TABLE;
        for (size_t j = 0; j < CHURN_TABLE; j++)
            w[i].table[j] = &records[(size_t)i * CHURN_TABLE + j];
    }
    for (unsigned i = 0; i < nt; i++)
        stress_thread_create(&w[i].thread, churn_main, &w[i]);
    churn_counts tot = {0};
    for (unsigned i = 0; i < nt; i++) {
        stress_thread_join(w[i].thread);
        tot.allocs += w[i].n.allocs;
        tot.frees += w[i].n.frees;
        tot.reallocs += w[i].n.reallocs;
        tot.swaps += w[i].n.swaps;
        tot.adopted += w[i].n.adopted;
        tot.cross_frees += w[i].n.cross_frees;
        tot.cross_reallocs += w[i].n.cross_reallocs;
        tot.flushes += w[i].n.flushes;
        tot.trims += w[i].n.trims;
    }
    size_t drained = stress_slots_drain(&churn_slots);
    if (tot.swaps > 1000 && tot.adopted == 0)
        stress_fail("%" PRIu64 " swaps but no block crossed threads", tot.swaps);

    pymt_stats st = stress_end_check(&base);
    stress_summary(&st,
                  "allocs=%" PRIu64 " frees=%" PRIu64 " reallocs=%" PRIu64 " swaps=%" PRIu64
                  " adopted=%" PRIu64 " cross_frees=%" PRIu64 " cross_reallocs=%" PRIu64
                  " flushes=%" PRIu64 " trims=%" PRIu64 " drained_by_main=%zu",
                  tot.allocs, tot.frees + drained, tot.reallocs, tot.swaps, tot.adopted,
                  tot.cross_frees, tot.cross_reallocs, tot.flushes, tot.trims, drained);
    stress_barrier_destroy(&churn_start);
    stress_slots_destroy(&churn_slots);
    free(tables);
    free(records);
    free(w);
    return 0;
}

/* stress_prodcons.c: producers allocate, consumers free, through a bounded lock-free ring.
 *
 * Models: a pipeline (a server's request queue, a parser feeding workers) where every block
 * is allocated by one set of threads and freed by another. This is the case a per-thread cache
 * handles worst: the consumers' caches fill with blocks they never allocate, and the producers'
 * caches run dry, so memory must flow back from consumers to producers through the shared
 * depot and the core, or it piles up.
 *
 * Threads: --threads N is split into ceil(N/2) producers and the rest consumers (at least one
 * of each). Each producer makes --ops blocks: 80% object memory (stress_rand_size: every class,
 * around the threshold, up to 2 KiB, now and then any medium class and past it), 10% raw memory, 10% objects of two fixed-size types; sometimes in
 * bursts of 64. The ring is Vyukov's bounded MPMC queue written with C11 atomics (a sequence
 * number per cell, acquire/release on it; no locks), 1024 cells; a full or empty ring yields.
 * Consumers check each block's pattern (owner = the producer, its serial), resize 20% of the
 * object- and raw-memory blocks first (a realloc by a thread that did not allocate), then free
 * through the block's family. A consumer stops when every producer has finished and the ring
 * is empty.
 * Checks: every block's pattern before free and realloc; blocks consumed == blocks produced;
 * at the end the per-class accounting identity and each class's blocks in use (both tiers)
 * back to the start; with the caches on in the pymalloc mode, at least one batch adopted from
 * the depot per 1,000 blocks (depot_batches_adopted; see main). stress.prodcons.small_cache runs it
 * with the smallest cache budget, so the depot carries most blocks.
 *
 * Defaults: CI  --threads 6 --ops 300000 (per producer) --seconds 60 (cap)
 *           soak --threads 16 --ops 20000000 --seconds 600
 * Example:  stress_prodcons --threads 8 --ops 1000000 --seed 7 */
#include <inttypes.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "common/args.h"
#include "common/block.h"
#include "common/rng.h"
#include "common/run.h"
#include "common/sanitize.h"
#include "common/stats.h"
#include "common/thread.h"

#define RING_CELLS 1024 /* power of two */
#define PC_MAX_LARGE 2048
#define PC_BLOCKS_PER_ADOPTION 1000 /* at most this many blocks per depot batch adopted */

typedef struct ring_cell {
    _Atomic size_t seq; /* written by the producer (pos + 1) and the consumer (pos + cells) */
    stress_block blk;   /* owned by whoever won the cell's position; published by seq */
} ring_cell;

typedef struct ring {
    ring_cell cell[RING_CELLS];
    _Alignas(64) _Atomic size_t enq; /* next position to write: producers */
    _Alignas(64) _Atomic size_t deq; /* next position to read: consumers */
} ring;

static ring pc_ring;

static void ring_init(ring *q) {
    for (size_t i = 0; i < RING_CELLS; i++)
        atomic_init(&q->cell[i].seq, i);
    atomic_init(&q->enq, 0);
    atomic_init(&q->deq, 0);
}

/* False when full. */
static bool ring_push(ring *q, const stress_block *b) {
    size_t pos = atomic_load_explicit(&q->enq, memory_order_relaxed);
    ring_cell *c;
    for (;;) {
        c = &q->cell[pos & (RING_CELLS - 1)];
        /* Acquire pairs with the consumer's release store in ring_pop: the cell is free. */
        size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
        intptr_t dif = (intptr_t)seq - (intptr_t)pos;
        if (dif == 0) {
            STRESS_HB_AFTER(&c->seq);
            if (atomic_compare_exchange_weak_explicit(&q->enq, &pos, pos + 1,
                                                      memory_order_relaxed, memory_order_relaxed))
                break;
        } else if (dif < 0) {
            return false;
        } else {
            pos = atomic_load_explicit(&q->enq, memory_order_relaxed);
        }
    }
    c->blk = *b;
    STRESS_HB_BEFORE(&c->seq);
    /* Release: publishes the record and the block contents; pairs with ring_pop's acquire. */
    atomic_store_explicit(&c->seq, pos + 1, memory_order_release);
    return true;
}

/* False when empty. */
static bool ring_pop(ring *q, stress_block *out) {
    size_t pos = atomic_load_explicit(&q->deq, memory_order_relaxed);
    ring_cell *c;
    for (;;) {
        c = &q->cell[pos & (RING_CELLS - 1)];
        /* Acquire pairs with the release store in ring_push: the record is there. */
        size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
        intptr_t dif = (intptr_t)seq - (intptr_t)(pos + 1);
        if (dif == 0) {
            STRESS_HB_AFTER(&c->seq);
            if (atomic_compare_exchange_weak_explicit(&q->deq, &pos, pos + 1,
                                                      memory_order_relaxed, memory_order_relaxed))
                break;
        } else if (dif < 0) {
            return false;
        } else {
            pos = atomic_load_explicit(&q->deq, memory_order_relaxed);
        }
    }
    *out = c->blk;
    STRESS_HB_BEFORE(&c->seq);
    /* Release: the cell may be reused; pairs with ring_push's acquire. */
    atomic_store_explicit(&c->seq, pos + RING_CELLS, memory_order_release);
    return true;
}

static const pymt_type pc_small_type = {"pc_small", 32, 0};
static const pymt_type pc_big_type = {"pc_big", 136, 0};

typedef struct pc_worker {
    pthread_t thread;
    unsigned id;
    bool producer;
    uint64_t items, reallocs, waits;
} pc_worker;

static unsigned pc_producers;
static _Atomic unsigned pc_producers_done; /* release by each producer after its last push */
static stress_barrier pc_start;

static void pc_make(stress_block *b, stress_rng *r) {
    uint64_t k = stress_rng_below(r, 100);
    if (k < 80)
        stress_alloc(b, STRESS_OBJMEM, stress_rand_size(r, PC_MAX_LARGE), r);
    else if (k < 90)
        stress_alloc(b, STRESS_MEM, stress_rand_size(r, PC_MAX_LARGE), r);
    else
        stress_alloc_object(b, k < 95 ? &pc_small_type : &pc_big_type, 0);
}

static void *pc_producer(pc_worker *w, stress_rng *r) {
    uint64_t made = 0;
    while (made < stress_cfg.ops) {
        if ((made & 255) == 0 && stress_time_up())
            break;
        unsigned burst = stress_rng_pct(r, 5) ? 64 : 1;
        for (unsigned i = 0; i < burst && made < stress_cfg.ops; i++, made++) {
            stress_block b;
            pc_make(&b, r);
            while (!ring_push(&pc_ring, &b)) {
                w->waits++;
                sched_yield();
            }
        }
    }
    w->items = made;
    /* Release: every push above happens before a consumer that sees the final count. */
    STRESS_HB_BEFORE(&pc_producers_done);
    atomic_fetch_add_explicit(&pc_producers_done, 1, memory_order_release);
    return NULL;
}

static void *pc_consumer(pc_worker *w, stress_rng *r) {
    for (;;) {
        stress_block b;
        if (!ring_pop(&pc_ring, &b)) {
            /* Acquire pairs with the producers' release: after it, empty means done. */
            if (atomic_load_explicit(&pc_producers_done, memory_order_acquire) == pc_producers) {
                STRESS_HB_AFTER(&pc_producers_done);
                if (!ring_pop(&pc_ring, &b))
                    break;
            } else {
                w->waits++;
                sched_yield();
                continue;
            }
        }
        w->items++;
        stress_check(&b);
        if (b.fam != STRESS_OBJECT && stress_rng_pct(r, 20)) {
            stress_realloc(&b, stress_rand_size(r, PC_MAX_LARGE));
            w->reallocs++;
        }
        stress_free(&b);
    }
    return NULL;
}

static void *pc_main(void *arg) {
    pc_worker *w = arg;
    stress_tid = w->id;
    stress_rng r;
    stress_rng_init(&r, stress_cfg.seed, w->id);
    stress_barrier_wait(&pc_start);
    return w->producer ? pc_producer(w, &r) : pc_consumer(w, &r);
}

int main(int argc, char **argv) {
    static const stress_defaults d = {.threads = 6, .soak_threads = 16, .ops = 300000,
                                      .soak_ops = 20000000, .seconds = 60, .soak_seconds = 600};
    stress_parse(argc, argv, "stress_prodcons", &d);
    stress_baseline base;
    stress_baseline_take(&base);

    unsigned nt = stress_cfg.threads < 2 ? 2 : stress_cfg.threads;
    pc_producers = (nt + 1) / 2;
    pc_worker *w = calloc(nt, sizeof *w);
    if (!w)
        stress_fail("out of memory");
    ring_init(&pc_ring);
    stress_barrier_init(&pc_start, nt);
    for (unsigned i = 0; i < nt; i++) {
        w[i].id = i + 1;
        w[i].producer = i < pc_producers;
        stress_thread_create(&w[i].thread, pc_main, &w[i]);
    }
    uint64_t produced = 0, consumed = 0, reallocs = 0, pwaits = 0, cwaits = 0;
    for (unsigned i = 0; i < nt; i++) {
        stress_thread_join(w[i].thread);
        if (w[i].producer) {
            produced += w[i].items;
            pwaits += w[i].waits;
        } else {
            consumed += w[i].items;
            cwaits += w[i].waits;
            reallocs += w[i].reallocs;
        }
    }
    if (produced != consumed)
        stress_fail("produced %" PRIu64 " blocks, consumed %" PRIu64, produced, consumed);
    pymt_stats st = stress_end_check(&base);
    /* Consumers' caches overflow and producers' run dry: batches must go through the depot.
     * depot_batches_adopted counts the depot's batches alone (handoffs_adopted also counts
     * arenas reused from the reserve, which met the bound by themselves while the depot handed
     * nothing over). Measured (batches adopted for the blocks made, caches on): release
     * 16,000-21,700 for 900,000 and medium_off 7,700 for 450,000, ThreadSanitizer 3,700-5,500
     * for 200,000 and 1,700 for 100,000, AddressSanitizer 8,400-10,700 for 400,000 and 3,500
     * for 200,000; the bound, a batch per 1,000 blocks, is 17x below the least of those. */
    size_t adopted = st.depot_batches_adopted - base.adopted;
    if (st.mode == PYMT_MODE_PYMALLOC && st.tcache_enabled &&
        adopted < produced / PC_BLOCKS_PER_ADOPTION)
        stress_fail("%zu batches adopted from the depot for %" PRIu64 " blocks (at least one per "
                    "%d expected): blocks freed by the consumers did not reach the producers "
                    "through the depot", adopted, produced, PC_BLOCKS_PER_ADOPTION);
    stress_summary(&st,
                  "producers=%u consumers=%u blocks=%" PRIu64 " consumer_reallocs=%" PRIu64
                  " ring_full_waits=%" PRIu64 " ring_empty_waits=%" PRIu64
                  " depot_batches_adopted=%zu tcache_budget_kib=%zu",
                  pc_producers, nt - pc_producers, produced, reallocs, pwaits, cwaits, adopted,
                  st.tcache_budget >> 10);
    stress_barrier_destroy(&pc_start);
    free(w);
    return 0;
}

/* stress_families.c: the three API families mixed, each block freed by its own family, often
 * by another thread.
 *
 * Models: an interpreter's mix of memory: raw buffers (pymt_mem_*, the PyMem_Malloc family),
 * object memory (pymt_object_malloc/calloc/realloc/free) and typed objects (pymt_object_new /
 * newvar / del, like PyObject_New and PyObject_NewVar) of fixed and variable size, all alive at
 * once, handed between threads, and freed by whichever thread drops them last.
 *
 * Types: fixed-size "head" (16 B, just the object head), "small" (48 B), "medium" (200 B),
 * "edge" (512 B, the largest pool class), "big" (640 B, the first medium class; the system
 * allocator with PYMT_MEDIUM=0); var-sized "tuple" (itemsize 8, basicsize 24), "bytes"
 * (itemsize 1, basicsize 33: an odd size rounded up to 16), "entries" (itemsize 24, basicsize
 * 40), each with 0..60 items so their sizes cross the 512-byte threshold into the medium tier.
 * Each worker keeps 192 records; per operation on a random one: empty -> allocate from a random
 * family (a third each; raw and object memory of stress_rand_size's sizes, every class up to
 * 3 KiB and now and then up to 512 KiB, objects of a random type); live -> 40% check + free
 * through the block's family, 20% check + realloc (raw and object memory; an object is swapped
 * instead), 40% swap into a shared slot and take another thread's block, which is checked and
 * then freed through its own family (60%) or kept.
 * Checks: pattern (after the object head for objects), object head intact (ob_refcnt, ob_type,
 * ob_size), alignment and usable size, before every free and realloc; at the end the
 * accounting identity, each class's blocks in use (both tiers), large blocks, and (debug mode)
 * the live debug blocks of each family back to their start values; every family did
 * cross-thread frees.
 *
 * Defaults: CI  --threads 6 --ops 200000 (per thread) --seconds 60 (cap)
 *           soak --threads 24 --ops 50000000 --seconds 600
 * Example:  stress_families --threads 8 --ops 500000 --seed 9 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>

#include "common/args.h"
#include "common/block.h"
#include "common/rng.h"
#include "common/run.h"
#include "common/slots.h"
#include "common/stats.h"
#include "common/thread.h"

#define FAM_TABLE 192
#define FAM_SLOTS 512
#define FAM_MAX_LARGE 3072

static const pymt_type fam_types[] = {
    {"head", sizeof(pymt_object), 0},
    {"small", 48, 0},
    {"medium", 200, 0},
    {"edge", 512, 0},
    {"big", 640, 0},
    {"tuple", sizeof(pymt_varobject), 8},
    {"bytes", sizeof(pymt_varobject) + 9, 1},
    {"entries", 40, 24},
};
#define FAM_NTYPES (sizeof fam_types / sizeof fam_types[0])

typedef struct fam_counts {
    uint64_t allocs[4], frees[4], cross_frees[4], reallocs;
} fam_counts;

typedef struct fam_worker {
    pthread_t thread;
    unsigned id;
    stress_block **table;
    fam_counts n;
} fam_worker;

static stress_slots fam_slots;
static stress_barrier fam_start;

static void fam_alloc(fam_worker *w, stress_block *b, stress_rng *r) {
    uint64_t k = stress_rng_below(r, 3);
    if (k == 0) {
        stress_alloc(b, STRESS_MEM, stress_rand_size(r, FAM_MAX_LARGE), r);
    } else if (k == 1) {
        stress_alloc(b, STRESS_OBJMEM, stress_rand_size(r, FAM_MAX_LARGE), r);
    } else {
        const pymt_type *t = &fam_types[stress_rng_below(r, FAM_NTYPES)];
        stress_alloc_object(b, t, (ptrdiff_t)stress_rng_below(r, 61));
    }
    w->n.allocs[b->fam]++;
}

static void fam_free(fam_worker *w, stress_block *b) {
    int fam = b->fam;
    bool cross = b->owner != w->id;
    stress_free(b);
    w->n.frees[fam]++;
    if (cross)
        w->n.cross_frees[fam]++;
}

static void *fam_main(void *arg) {
    fam_worker *w = arg;
    stress_tid = w->id;
    stress_rng r;
    stress_rng_init(&r, stress_cfg.seed, w->id);
    stress_barrier_wait(&fam_start);
    for (uint64_t op = 0; op < stress_cfg.ops; op++) {
        if ((op & 255) == 0 && stress_time_up())
            break;
        stress_block **slotp = &w->table[stress_rng_below(&r, FAM_TABLE)];
        stress_block *b = *slotp;
        if (!b->p) {
            fam_alloc(w, b, &r);
            continue;
        }
        uint64_t k = stress_rng_below(&r, 100);
        if (k < 40) {
            fam_free(w, b);
        } else if (k < 60 && b->fam != STRESS_OBJECT) {
            stress_realloc(b, stress_rand_size(&r, FAM_MAX_LARGE));
            w->n.reallocs++;
        } else {
            stress_block *got = stress_slots_swap(&fam_slots, stress_rng_below(&r, FAM_SLOTS), b);
            *slotp = got;
            if (got->p) {
                stress_check(got);
                if (stress_rng_pct(&r, 60))
                    fam_free(w, got);
            }
        }
    }
    for (int i = 0; i < FAM_TABLE; i++)
        if (w->table[i]->p)
            fam_free(w, w->table[i]);
    return NULL;
}

int main(int argc, char **argv) {
    static const stress_defaults d = {.threads = 6, .soak_threads = 24, .ops = 200000,
                                      .soak_ops = 50000000, .seconds = 60, .soak_seconds = 600};
    stress_parse(argc, argv, "stress_families", &d);
    stress_baseline base;
    stress_baseline_take(&base);

    unsigned nt = stress_cfg.threads;
    fam_worker *w = calloc(nt, sizeof *w);
    stress_block *recs = calloc((size_t)nt * FAM_TABLE, sizeof *recs);
    stress_block **tables = calloc((size_t)nt * FAM_TABLE, sizeof *tables);
    if (!w || !recs || !tables)
        stress_fail("out of memory");
    stress_slots_init(&fam_slots, FAM_SLOTS);
    stress_barrier_init(&fam_start, nt);
    for (unsigned i = 0; i < nt; i++) {
        w[i].id = i + 1;
        w[i].table = tables + (size_t)i * FAM_TABLE;
        for (int j = 0; j < FAM_TABLE; j++)
            w[i].table[j] = &recs[(size_t)i * FAM_TABLE + j];
        stress_thread_create(&w[i].thread, fam_main, &w[i]);
    }
    fam_counts tot = {0};
    for (unsigned i = 0; i < nt; i++) {
        stress_thread_join(w[i].thread);
        for (int f = 1; f < 4; f++) {
            tot.allocs[f] += w[i].n.allocs[f];
            tot.frees[f] += w[i].n.frees[f];
            tot.cross_frees[f] += w[i].n.cross_frees[f];
        }
        tot.reallocs += w[i].n.reallocs;
    }
    size_t drained = stress_slots_drain(&fam_slots);
    /* With more than one thread and a real run, every family must have crossed threads. */
    if (nt > 1 && tot.allocs[1] + tot.allocs[2] + tot.allocs[3] > 30000)
        for (int f = 1; f < 4; f++)
            if (tot.cross_frees[f] == 0)
                stress_fail("no cross-thread free of family %s in %" PRIu64 " allocations",
                            stress_family_name(f), tot.allocs[f]);
    pymt_stats s = stress_end_check(&base);
    stress_summary(&s,
                   "mem=%" PRIu64 "/%" PRIu64 "x objmem=%" PRIu64 "/%" PRIu64 "x object=%" PRIu64
                   "/%" PRIu64 "x (allocs/cross-thread frees) reallocs=%" PRIu64
                   " drained_by_main=%zu",
                   tot.allocs[1], tot.cross_frees[1], tot.allocs[2], tot.cross_frees[2],
                   tot.allocs[3], tot.cross_frees[3], tot.reallocs, drained);
    stress_barrier_destroy(&fam_start);
    stress_slots_destroy(&fam_slots);
    free(tables);
    free(recs);
    free(w);
    return 0;
}

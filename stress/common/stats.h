/* stats.h: what pymt's statistics must say at the start and end of a run, and the summary.
 *
 * End of run: stress_baseline_take() before the workers start, stress_end_check() after they
 * are joined and every block is freed: it flushes the main thread's cache, then checks with
 * pymt_get_stats that, for every class of both tiers (the 32 small classes and the medium
 * ones), blocks_total == in_use + cached + depot + free, and that each class's blocks in use,
 * the large blocks and (debug mode) the live debug blocks are back to their values at start;
 * in debug mode it first has pymt_check_heap() check every live and quarantined block, then
 * pushes the quarantine out (see stress_end_check); stress_summary() prints the one summary
 * line. */
#ifndef PYMT_STRESS_STATS_H
#define PYMT_STRESS_STATS_H

#include <stddef.h>

#include "pymt/pymt.h"

/* Rows of both tiers, small first: row r is classes[r], then medium_classes[r - 32]. */
#define STRESS_CLASS_ROWS (PYMT_NUM_SIZE_CLASSES + PYMT_NUM_MEDIUM_CLASSES)

typedef struct stress_baseline {
    size_t in_use[STRESS_CLASS_ROWS]; /* blocks in use per class, both tiers */
    size_t large;                     /* object-family blocks on the system allocator */
    size_t debug[3];                  /* live debug blocks: raw, object memory, objects */
    size_t quarantined;               /* debug mode: blocks in the quarantine */
    size_t adopted;                   /* depot_batches_adopted: batches taken from the depot */
} stress_baseline;

/* Row r of both tiers (r < STRESS_CLASS_ROWS), and a name for messages ("class 3 (64 B)",
 * "medium class 12 (10240 B)") in buf. */
const pymt_class_stats *stress_class_row(const pymt_stats *s, int r);
const char *stress_class_name(const pymt_stats *s, int r, char *buf, size_t len);

/* pymt_get_stats, failing the run if it fails or fills less than the whole struct. */
void stress_get_stats(pymt_stats *s);

/* Per class of both tiers: blocks_total == in_use + cached + depot + free (exact when nothing
 * else runs), and each row's block size is its class's (0 for the medium rows with the tier
 * off). */
void stress_check_accounting(const pymt_stats *s, const char *when);

/* Before the workers start: check the accounting, remember what is in use. */
void stress_baseline_take(stress_baseline *b);

/* After every worker is joined and every block freed: flush the main thread's cache, check the
 * accounting and that everything came back; returns the stats for the caller's own checks. */
pymt_stats stress_end_check(const stress_baseline *b);

/* The one summary line: "<name>: OK seed=... <detail>". */
void stress_summary(const pymt_stats *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif /* PYMT_STRESS_STATS_H */

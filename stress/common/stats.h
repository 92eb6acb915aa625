/* stats.h: what pymt's statistics must say at the start and end of a run, and the summary.
 *
 * End of run: stress_baseline_take() before the workers start, stress_end_check() after they
 * are joined and every block is freed: it flushes the main thread's cache, then checks with
 * pymt_get_stats that per class blocks_total == in_use + cached + depot + free, that the
 * blocks in use, the large blocks and (debug mode) the live debug blocks are back to their
 * values at start (in debug mode after pushing the quarantine out; see stress_end_check);
 * stress_summary() prints the one summary line. */
#ifndef PYMT_STRESS_STATS_H
#define PYMT_STRESS_STATS_H

#include <stddef.h>

#include "pymt/pymt.h"

typedef struct stress_baseline {
    size_t in_use;      /* pool blocks in use, all classes */
    size_t large;       /* object-family blocks on the system allocator */
    size_t debug[3];    /* live debug blocks: raw, object memory, objects */
} stress_baseline;

/* pymt_get_stats, failing the run if it fails or fills less than the whole struct. */
void stress_get_stats(pymt_stats *s);

/* Per class: blocks_total == in_use + cached + depot + free (exact when nothing else runs). */
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

/* stats.c: the start-of-run baseline, the end-of-run check and the summary line (stats.h). */
#include "stats.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "run.h"

void stress_get_stats(pymt_stats *s) {
    memset(s, 0, sizeof *s);
    if (pymt_get_stats(s, sizeof *s) != 0)
        stress_fail("pymt_get_stats failed (errno %d)", errno);
    if (s->struct_size < sizeof *s)
        stress_fail("pymt_get_stats filled %zu bytes of %zu", s->struct_size, sizeof *s);
}

static size_t stress_stats_in_use(const pymt_stats *s) {
    size_t n = 0;
    for (int c = 0; c < PYMT_NUM_SIZE_CLASSES; c++)
        n += s->classes[c].blocks_in_use;
    return n;
}

void stress_check_accounting(const pymt_stats *s, const char *when) {
    for (int c = 0; c < PYMT_NUM_SIZE_CLASSES; c++) {
        const pymt_class_stats *k = &s->classes[c];
        size_t sum = k->blocks_in_use + k->blocks_cached + k->blocks_depot + k->blocks_free;
        if (k->blocks_total != sum)
            stress_fail("%s: class %d (%zu B): blocks_total %zu != in_use %zu + cached %zu + "
                        "depot %zu + free %zu (= %zu)",
                        when, c, k->block_size, k->blocks_total, k->blocks_in_use,
                        k->blocks_cached, k->blocks_depot, k->blocks_free, sum);
        if (k->block_size != (size_t)(c + 1) * PYMT_ALIGNMENT)
            stress_fail("%s: class %d reports block_size %zu", when, c, k->block_size);
    }
}

void stress_baseline_take(stress_baseline *b) {
    pymt_stats s;
    stress_get_stats(&s);
    stress_check_accounting(&s, "at start");
    b->in_use = stress_stats_in_use(&s);
    b->large = s.large_in_use;
    b->debug[0] = s.debug_blocks_raw;
    b->debug[1] = s.debug_blocks_objmem;
    b->debug[2] = s.debug_blocks_object;
}

static const char *stress_mode_name(pymt_mode m) {
    switch (m) {
    case PYMT_MODE_PYMALLOC: return "pymalloc";
    case PYMT_MODE_MALLOC: return "malloc";
    case PYMT_MODE_PYMALLOC_DEBUG: return "pymalloc_debug";
    case PYMT_MODE_MALLOC_DEBUG: return "malloc_debug";
    default: return "?";
    }
}

/* Larger than the debug quarantine (src/debug.c keeps 4096 blocks): see stress_end_check. */
#define STRESS_QUARANTINE_PUSH 8192

pymt_stats stress_end_check(const stress_baseline *b) {
    pymt_thread_flush();
    pymt_stats s;
    stress_get_stats(&s);
    stress_check_accounting(&s, "at end");
    if (s.debug_blocks_raw != b->debug[0] || s.debug_blocks_objmem != b->debug[1] ||
        s.debug_blocks_object != b->debug[2])
        stress_fail("at end: live debug blocks raw/objmem/object %zu/%zu/%zu, at start %zu/%zu/%zu",
                    s.debug_blocks_raw, s.debug_blocks_objmem, s.debug_blocks_object, b->debug[0],
                    b->debug[1], b->debug[2]);
    size_t pushed = 0;
    if (s.mode == PYMT_MODE_PYMALLOC_DEBUG || s.mode == PYMT_MODE_MALLOC_DEBUG) {
        /* Debug mode keeps freed blocks in a quarantine, still allocated underneath (so
         * counted in blocks_in_use and large_in_use), and the API has no call that empties it.
         * Push the workers' blocks out with fresh one-byte blocks: afterwards the quarantine
         * holds only those, all of one class, and every other count must be exact. */
        pushed = STRESS_QUARANTINE_PUSH;
        for (size_t i = 0; i < pushed; i++) {
            void *p = pymt_object_malloc(1);
            if (!p)
                stress_fail("at end: pymt_object_malloc(1) returned NULL");
            pymt_object_free(p);
        }
        pymt_thread_flush();
        stress_get_stats(&s);
        stress_check_accounting(&s, "at end, after pushing out the debug quarantine");
    }
    size_t in_use = stress_stats_in_use(&s);
    if (in_use > b->in_use + pushed || in_use < b->in_use)
        stress_fail("at end: %zu pool blocks in use, %zu at start (all blocks were freed%s)",
                    in_use, b->in_use, pushed ? "; debug quarantine pushed out" : "");
    if (in_use != b->in_use) {
        /* Debug mode: the excess must be the fresh blocks, all in one class. */
        int classes = 0;
        for (int c = 0; c < PYMT_NUM_SIZE_CLASSES; c++)
            classes += s.classes[c].blocks_in_use != 0;
        if (b->in_use == 0 && classes > 1)
            stress_fail("at end: %zu pool blocks in use over %d classes after pushing out the "
                        "debug quarantine with %zu one-byte blocks (expected one class)",
                        in_use, classes, pushed);
    }
    if (s.large_in_use != b->large)
        stress_fail("at end: large_in_use %zu, %zu at start", s.large_in_use, b->large);
    return s;
}

void stress_summary(const pymt_stats *s, const char *fmt, ...) {
    char detail[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    printf("%s: OK seed=%" PRIu64 " threads=%u ops=%" PRIu64 " mode=%s tcache=%d hardened=%d%s "
           "elapsed=%.2fs arenas_highwater=%zu %s\n",
           stress_name, stress_cfg.seed, stress_cfg.threads, stress_cfg.ops,
           stress_mode_name(s->mode), s->tcache_enabled, pymt_hardened_enabled(),
           atomic_load_explicit(&stress_stop_flag, memory_order_relaxed) ? " (stopped by --seconds)"
                                                                         : "",
           stress_elapsed(), s->arenas_highwater, detail);
    fflush(stdout);
}

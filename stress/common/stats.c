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

const pymt_class_stats *stress_class_row(const pymt_stats *s, int r) {
    return r < PYMT_NUM_SIZE_CLASSES ? &s->classes[r]
                                     : &s->medium_classes[r - PYMT_NUM_SIZE_CLASSES];
}

const char *stress_class_name(const pymt_stats *s, int r, char *buf, size_t len) {
    if (r < PYMT_NUM_SIZE_CLASSES)
        snprintf(buf, len, "class %d (%zu B)", r, s->classes[r].block_size);
    else
        snprintf(buf, len, "medium class %d (%zu B)", r - PYMT_NUM_SIZE_CLASSES,
                 s->medium_classes[r - PYMT_NUM_SIZE_CLASSES].block_size);
    return buf;
}

/* The block size row r must report: 16, 32, ..., 512 for the small classes; four medium
 * classes per doubling above 512 (640, 768, 896, 1024, 1280, ..., 262144), 0 with the tier
 * off (pymt.h). */
static size_t stress_class_size(int r) {
    if (r < PYMT_NUM_SIZE_CLASSES)
        return (size_t)(r + 1) * PYMT_ALIGNMENT;
    if (!pymt_medium_enabled())
        return 0;
    int m = r - PYMT_NUM_SIZE_CLASSES;
    size_t base = (size_t)PYMT_SMALL_REQUEST_THRESHOLD << (m / 4);
    return base + (size_t)(m % 4 + 1) * (base / 4);
}

void stress_check_accounting(const pymt_stats *s, const char *when) {
    for (int r = 0; r < STRESS_CLASS_ROWS; r++) {
        const pymt_class_stats *k = stress_class_row(s, r);
        char name[48];
        size_t sum = k->blocks_in_use + k->blocks_cached + k->blocks_depot + k->blocks_free;
        if (k->blocks_total != sum)
            stress_fail("%s: %s: blocks_total %zu != in_use %zu + cached %zu + depot %zu + "
                        "free %zu (= %zu)",
                        when, stress_class_name(s, r, name, sizeof name), k->blocks_total,
                        k->blocks_in_use, k->blocks_cached, k->blocks_depot, k->blocks_free, sum);
        if (k->block_size != stress_class_size(r))
            stress_fail("%s: %s reports block_size %zu, expected %zu", when,
                        stress_class_name(s, r, name, sizeof name), k->block_size,
                        stress_class_size(r));
    }
}

void stress_baseline_take(stress_baseline *b) {
    pymt_stats s;
    stress_get_stats(&s);
    stress_check_accounting(&s, "at start");
    for (int r = 0; r < STRESS_CLASS_ROWS; r++)
        b->in_use[r] = stress_class_row(&s, r)->blocks_in_use;
    b->large = s.large_in_use;
    b->debug[0] = s.debug_blocks_raw;
    b->debug[1] = s.debug_blocks_objmem;
    b->debug[2] = s.debug_blocks_object;
    b->quarantined = s.debug_quarantine_blocks;
    b->adopted = s.depot_batches_adopted;
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
    /* What the quarantine adds to the blocks in use at the end, and may have taken away from
     * those at start (the blocks it held then, of classes unknown, went back since). */
    size_t extra = 0, gone = 0;
    if (s.mode == PYMT_MODE_PYMALLOC_DEBUG || s.mode == PYMT_MODE_MALLOC_DEBUG) {
        /* Every guard, header and DEAD fill, while the workers' freed blocks are still in the
         * quarantine: a write after free shows up here (each reported on stderr). */
        size_t bad = pymt_check_heap();
        if (bad)
            stress_fail("at end: pymt_check_heap found %zu corrupt debug blocks (reports above)",
                        bad);
        /* Debug mode keeps freed blocks in a quarantine, still allocated underneath (so
         * counted in blocks_in_use and large_in_use). Push the workers' blocks out with fresh
         * one-byte blocks: afterwards the quarantine holds only those, all of one class, and
         * every other count must be exact. (pymt_trim would empty it too, but it also drains
         * every thread's cache, which the scenarios' own end checks must see untouched.) */
        for (size_t i = 0; i < STRESS_QUARANTINE_PUSH; i++) {
            void *p = pymt_object_malloc(1);
            if (!p)
                stress_fail("at end: pymt_object_malloc(1) returned NULL");
            pymt_object_free(p);
        }
        pymt_thread_flush();
        stress_get_stats(&s);
        stress_check_accounting(&s, "at end, after pushing out the debug quarantine");
        if (s.mode == PYMT_MODE_PYMALLOC_DEBUG)
            extra = s.debug_quarantine_blocks;
        gone = b->quarantined;
    }
    /* Per class, both tiers: back to the start, exactly outside debug mode. In debug mode the
     * one-byte blocks in the quarantine (extra) are all in one class, the one that gained most,
     * and the blocks quarantined at start (gone, usually none) may have left any class. */
    size_t in_use = 0, base = 0, most = 0;
    int push_row = -1;
    for (int r = 0; r < STRESS_CLASS_ROWS; r++) {
        size_t n = stress_class_row(&s, r)->blocks_in_use;
        in_use += n;
        base += b->in_use[r];
        if (extra && n > b->in_use[r] && n - b->in_use[r] > most)
            most = n - b->in_use[r], push_row = r;
    }
    for (int r = 0; r < STRESS_CLASS_ROWS; r++) {
        size_t n = stress_class_row(&s, r)->blocks_in_use, add = r == push_row ? extra : 0;
        if (n > b->in_use[r] + add || n + gone < b->in_use[r] + add) {
            char name[48];
            stress_fail("at end: %s: %zu blocks in use, %zu at start%s (every block was freed: "
                        "a block lost on its way back, or counted twice)",
                        stress_class_name(&s, r, name, sizeof name), n, b->in_use[r],
                        add ? " plus the one-byte blocks in the debug quarantine" : "");
        }
    }
    if (in_use + gone != base + extra)
        stress_fail("at end: %zu pool blocks in use, %zu at start (%zu of them quarantined), "
                    "%zu one-byte blocks in the debug quarantine now",
                    in_use, base, gone, extra);
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
    printf("%s: OK seed=%" PRIu64 " threads=%u ops=%" PRIu64 " mode=%s tcache=%d medium=%d "
           "hardened=%d%s elapsed=%.2fs arenas_highwater=%zu %s\n",
           stress_name, stress_cfg.seed, stress_cfg.threads, stress_cfg.ops,
           stress_mode_name(s->mode), s->tcache_enabled, pymt_medium_enabled(),
           pymt_hardened_enabled(),
           atomic_load_explicit(&stress_stop_flag, memory_order_relaxed) ? " (stopped by --seconds)"
                                                                         : "",
           stress_elapsed(), s->arenas_highwater, detail);
    fflush(stdout);
}

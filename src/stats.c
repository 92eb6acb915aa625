/* stats.c: pymt_get_stats and pymt_print_stats. Figures come from the pool cores and the thread
 * cache registry under pymt__core_lock (the global lock and every core's), plus the relaxed
 * counters of the lock-free layers, so the per-class identity blocks_total == in_use + cached +
 * depot + free holds exactly whenever no other thread is allocating at that moment. */
#include <errno.h>
#include <string.h>

#include "init.h"
#include "sys.h"

static void stats_collect(pymt_stats *s) {
    memset(s, 0, sizeof *s);
    s->struct_size = sizeof *s;
    pymt__ensure_init();
    s->mode = pymt__opt.mode;
    s->tcache_enabled = pymt__opt.tcache && pymt__opt.pooling;
    pymt__pool_class_counts pc[PYMT__NBINS];
    size_t cached[PYMT__NBINS], depot[PYMT__NBINS], pools_free = 0, locks = 0, busy = 0,
           threads = 0, large = 0, large_kept = 0, medium_locks = 0, medium_busy = 0;
    /* the medium classes first, each under its own lock (never inside a core lock: the lock
     * order of medium.h) */
    pymt__medium_counts(pc + PYMT__NCLASSES, &s->medium_arenas_empty, &medium_locks,
                        &medium_busy, &s->medium_blocks_purged_total,
                        &s->medium_blocks_refaulted_total);
    pymt__core_lock();
    pymt__pool_counts_locked(pc, &pools_free, &locks, &busy);
    pymt__pool_purge_counts_locked(&s->pools_purged_total, &s->pools_refaulted_total);
    pymt__tcache_counts_locked(cached, &threads, &large, &large_kept);
    size_t refills, flushes, pub, ad;
    pymt__tcache_counters_locked(&refills, &flushes, &pub, &ad);
    for (unsigned c = 0; c < PYMT__NBINS; c++)
        depot[c] = pymt__depot_count(c);
    size_t big[1];
    s->tcache_bytes = pymt__tcache_bytes_locked(big, 1);
    s->tcache_bytes_max = big[0];
    pymt__core_unlock();
    s->tcache_budget = s->tcache_enabled ? pymt__tcache_budget_now() : 0;
    s->tcache_share = s->tcache_enabled ? pymt__tcache_share() : 0;

    for (unsigned c = 0; c < PYMT__NBINS; c++) {
        bool medium = pymt__is_medium(c);
        if (medium && !pymt__opt.medium)
            break; /* the medium rows stay zero with the tier off */
        pymt_class_stats *cs = medium ? &s->medium_classes[c - PYMT__NCLASSES] : &s->classes[c];
        size_t size = pymt__class_to_size(c);
        cs->block_size = size;
        cs->pools = pc[c].pools;
        cs->blocks_total = pc[c].blocks;
        cs->blocks_cached = cached[c];
        cs->blocks_depot = depot[c];
        cs->blocks_free = cs->blocks_total - pc[c].out;
        /* out of the pools = with the program + in caches + in the depot */
        size_t held = cached[c] + depot[c];
        cs->blocks_in_use = pc[c].out > held ? pc[c].out - held : 0;
        s->bytes_in_use += cs->blocks_in_use * size;
        s->bytes_cached += held * size;
        s->depot_bytes += depot[c] * size;
        s->bytes_free += cs->blocks_free * size;
        s->bytes_overhead +=
            cs->pools * (medium ? PYMT__ARENA_SIZE : PYMT__POOL_SIZE) - pc[c].blocks * size;
    }
    pymt__arena_counters ac;
    pymt__arena_counters_get(&ac);
    s->arenas_current = ac.current;
    s->arenas_reserve = ac.reserve;
    s->arenas_allocated_total = ac.allocated_total;
    s->arenas_reclaimed_total = ac.reclaimed_total;
    s->arenas_highwater = ac.highwater;
    s->pools_free = pools_free;
    s->bytes_mapped = ac.current * PYMT__ARENA_SIZE;
    /* free pools, whether carved or not, and reserve arenas count as free bytes */
    s->bytes_free += pools_free * PYMT__POOL_SIZE + ac.reserve * PYMT__ARENA_SIZE;
    s->large_in_use = large;
    s->large_cached_bytes = large_kept;
    s->lock_acquisitions = locks + medium_locks;
    s->lock_contended = busy + medium_busy;
    s->pool_cores = pymt__opt.pooling ? pymt__pool_cores() : 0;
    s->tcache_refills = refills;
    s->tcache_flushes = flushes;
    s->handoffs_published = pub + ac.published;
    s->handoffs_adopted = ad + ac.adopted;
    s->depot_batches_published = pub;
    s->depot_batches_adopted = ad;
    s->threads_cached = threads;
    if (pymt__opt.debug) {
        size_t live[3];
        pymt__debug_live_counts(live);
        s->debug_blocks_raw = live[0];
        s->debug_blocks_objmem = live[1];
        s->debug_blocks_object = live[2];
        pymt__debug_quarantine_counts(&s->debug_quarantine_blocks, &s->debug_quarantine_bytes);
    }
}

/* The header before the medium ceiling rose from 16 KiB to 256 KiB had 20 medium rows, then
 * medium_arenas_empty and the two purge counts. A caller built against it passes a struct_size
 * past the rows' start and at most that layout's size (a caller of today's header passes more:
 * sizeof(pymt_stats) is 16 rows larger); it gets its own layout, the first 20 rows and then the
 * three fields, so that no field of it reads a newer class's row. */
enum { OLD_MEDIUM_ROWS = 20 };
#define OLD_ROWS_END (offsetof(pymt_stats, medium_classes) + OLD_MEDIUM_ROWS * sizeof(pymt_class_stats))
#define OLD_STATS_SIZE (OLD_ROWS_END + 3 * sizeof(size_t))
_Static_assert(OLD_STATS_SIZE < sizeof(pymt_stats), "today's callers are told from older ones");

static void old_layout(pymt_stats *s) {
    size_t tail[3] = {s->medium_arenas_empty, s->pools_purged_total, s->pools_refaulted_total};
    memcpy((unsigned char *)s + OLD_ROWS_END, tail, sizeof tail);
}

PYMT_API int pymt_get_stats(pymt_stats *out, size_t struct_size) {
    if (out == NULL || struct_size < offsetof(pymt_stats, classes)) {
        errno = EINVAL;
        return -1;
    }
    pymt_stats s;
    stats_collect(&s);
    if (struct_size > offsetof(pymt_stats, medium_classes) && struct_size <= OLD_STATS_SIZE)
        old_layout(&s);
    memcpy(out, &s, struct_size < sizeof s ? struct_size : sizeof s);
    return 0;
}

static const char *mode_name(pymt_mode m) {
    switch (m) {
    case PYMT_MODE_PYMALLOC: return "pymalloc";
    case PYMT_MODE_MALLOC: return "malloc";
    case PYMT_MODE_PYMALLOC_DEBUG: return "pymalloc_debug";
    case PYMT_MODE_MALLOC_DEBUG: return "malloc_debug";
    }
    return "?";
}

PYMT_API void pymt_print_stats(FILE *f) {
    if (f == NULL)
        f = stderr;
    pymt_stats s;
    stats_collect(&s);
    fprintf(f, "pymt %d.%d.%d, mode %s, thread caches %s%s%s\n", PYMT_VERSION_MAJOR,
            PYMT_VERSION_MINOR, PYMT_VERSION_PATCH, mode_name(s.mode),
            s.tcache_enabled ? "on" : "off",
            pymt__opt.hugepages && pymt__opt.pooling ? ", huge pages advised" : "",
            pymt__opt.harden ? ", hardened" : "");
    fprintf(f, "class   size   pools   blocks in use   cached    depot      free\n");
    for (unsigned c = 0; c < PYMT__NCLASSES; c++) {
        const pymt_class_stats *cs = &s.classes[c];
        if (cs->pools == 0 && cs->blocks_cached == 0 && cs->blocks_depot == 0)
            continue;
        fprintf(f, "%5u %6zu %7zu %15zu %8zu %8zu %9zu\n", c, cs->block_size, cs->pools,
                cs->blocks_in_use, cs->blocks_cached, cs->blocks_depot, cs->blocks_free);
    }
    if (pymt__opt.medium) {
        fprintf(f, "medium  size  arenas   blocks in use   cached    depot      free\n");
        for (unsigned i = 0; i < PYMT__NMEDIUM; i++) {
            const pymt_class_stats *cs = &s.medium_classes[i];
            if (cs->pools == 0 && cs->blocks_cached == 0 && cs->blocks_depot == 0)
                continue;
            fprintf(f, "%5u %6zu %7zu %15zu %8zu %8zu %9zu\n", PYMT__NCLASSES + i,
                    cs->block_size, cs->pools, cs->blocks_in_use, cs->blocks_cached,
                    cs->blocks_depot, cs->blocks_free);
        }
        fprintf(f, "# medium arenas kept empty         = %zu\n", s.medium_arenas_empty);
    }
    fprintf(f, "\n");
    fprintf(f, "# arenas allocated total           = %zu\n", s.arenas_allocated_total);
    fprintf(f, "# arenas reclaimed                 = %zu\n", s.arenas_reclaimed_total);
    fprintf(f, "# arenas highwater mark            = %zu\n", s.arenas_highwater);
    fprintf(f, "# arenas allocated current         = %zu\n", s.arenas_current);
    fprintf(f, "# arenas in reserve                = %zu\n", s.arenas_reserve);
    pymt__arena_counters ac;
    pymt__arena_counters_get(&ac);
    fprintf(f, "# ... of them with pages resident  = %zu\n", ac.warm);
    fprintf(f, "%zu arenas * %zu bytes/arena        = %zu\n", s.arenas_current,
            (size_t)PYMT__ARENA_SIZE, s.bytes_mapped);
    fprintf(f, "# arena range reserved (no memory) = %zu\n", pymt__arena_range_bytes());
    fprintf(f, "\n");
    fprintf(f, "# bytes in allocated blocks        = %zu\n", s.bytes_in_use);
    fprintf(f, "# bytes in cached blocks           = %zu\n", s.bytes_cached);
    fprintf(f, "# bytes in available blocks        = %zu\n", s.bytes_free);
    fprintf(f, "%zu unused pools * %zu bytes       = %zu\n", s.pools_free, (size_t)PYMT__POOL_SIZE,
            s.pools_free * PYMT__POOL_SIZE);
    fprintf(f, "# bytes lost to pool headers/tails = %zu\n", s.bytes_overhead);
    fprintf(f, "# large object-memory blocks       = %zu\n", s.large_in_use);
    fprintf(f, "# bytes in large blocks kept       = %zu\n", s.large_cached_bytes);
    fprintf(f, "# pools purged / taken again       = %zu / %zu\n", s.pools_purged_total,
            s.pools_refaulted_total);
    fprintf(f, "# medium blocks purged / again     = %zu / %zu\n", s.medium_blocks_purged_total,
            s.medium_blocks_refaulted_total);
    if (pymt__opt.glibc_tune > 0)
        fprintf(f, "# glibc's thresholds               = set by pymt (mmap %u MiB, trim %u MiB)\n",
                PYMT__GLIBC_MMAP_MIB, PYMT__GLIBC_TRIM_MIB);
    else
        fprintf(f, "# glibc's thresholds               = glibc's own\n");
    fprintf(f, "\n");
    fprintf(f, "# core lock acquisitions           = %zu (%zu cores)\n", s.lock_acquisitions,
            s.pool_cores);
    fprintf(f, "# contended core lock acquisitions = %zu\n", s.lock_contended);
    if (s.pool_cores > 0) {
        fprintf(f, "# live threads counted per core    =");
        for (unsigned k = 0; k < s.pool_cores; k++)
            fprintf(f, " %u", pymt__pool_core_threads(k));
        fprintf(f, "\n");
    }
    fprintf(f, "# thread cache refills / flushes   = %zu / %zu\n", s.tcache_refills,
            s.tcache_flushes);
    fprintf(f, "# lock-free handoffs pub / adopted = %zu / %zu\n", s.handoffs_published,
            s.handoffs_adopted);
    fprintf(f, "# depot batches pub / adopted      = %zu / %zu\n", s.depot_batches_published,
            s.depot_batches_adopted);
    fprintf(f, "# threads with a cache             = %zu\n", s.threads_cached);
    if (s.tcache_enabled) {
        fprintf(f, "# thread cache budget / share      = %zu / %zu bytes\n", s.tcache_budget,
                s.tcache_share);
        size_t big[8];
        pymt__core_lock();
        (void)pymt__tcache_bytes_locked(big, 8);
        pymt__core_unlock();
        fprintf(f, "# bytes in thread caches           = %zu; largest:", s.tcache_bytes);
        for (int i = 0; i < 8 && big[i] != 0; i++)
            fprintf(f, " %zu", big[i]);
        fprintf(f, "\n");
        fprintf(f, "# bytes in the depot               = %zu\n", s.depot_bytes);
    }
    if (s.mode == PYMT_MODE_PYMALLOC_DEBUG || s.mode == PYMT_MODE_MALLOC_DEBUG)
    {
        fprintf(f, "# live debug blocks raw / objmem / object = %zu / %zu / %zu\n",
                s.debug_blocks_raw, s.debug_blocks_objmem, s.debug_blocks_object);
        fprintf(f, "# debug blocks in quarantine       = %zu (%zu bytes; freed, held to catch "
                   "a use after free: counted in use above)\n",
                s.debug_quarantine_blocks, s.debug_quarantine_bytes);
    }
    fflush(f);
}

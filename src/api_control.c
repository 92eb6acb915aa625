/* api_control.c: the control entry points: the mode in force, pymt_thread_flush, pymt_trim and
 * pymt_check_heap. (pymt_set_tcache and pymt_set_hugepages are in init.c, beside the
 * initialisation they configure; statistics are in stats.c.) */
#include <errno.h>

#include "init.h"

PYMT_API pymt_mode pymt_get_mode(void) {
    pymt__ensure_init();
    return pymt__opt.mode;
}

PYMT_API int pymt_medium_enabled(void) {
    pymt__ensure_init();
    return pymt__opt.medium;
}

PYMT_API int pymt_tcache_enabled(void) {
    pymt__ensure_init();
    return pymt__opt.tcache;
}

PYMT_API int pymt_set_tcache_budget(size_t bytes) {
    if (bytes < ((size_t)64 << 10)) {
        errno = EINVAL;
        return -1;
    }
    pymt__ensure_init();
    pymt__tcache_set_budget(bytes);
    return 0;
}

PYMT_API int pymt_hugepages_enabled(void) {
    pymt__ensure_init();
    return pymt__opt.hugepages && pymt__opt.pooling;
}

PYMT_API int pymt_hardened_enabled(void) {
    pymt__ensure_init();
    return pymt__opt.harden;
}

PYMT_API void pymt_thread_flush(void) {
    pymt__tcache_flush_self();
}

PYMT_API size_t pymt_trim(void) {
    if (!pymt__initialized())
        return 0;
    /* Every step may give memory back, not only the last two: blocks flushed from the caches
     * or drained from the depot empty arenas, which retire, and past a full reserve are
     * unmapped there and then. This thread does all of it, so what it gave back meanwhile is
     * what the trim did, whatever other threads give back at the same time. */
    size_t before = pymt__arena_released_self();
    pymt__debug_quarantine_flush(); /* quarantined blocks would keep their arenas alive */
    if (!pymt__opt.pooling)
        return 0;
    pymt__tcache_flush_self();
    pymt__tcache_trim_others();
    pymt__depot_drain();
    pymt__medium_trim();
    pymt__pool_trim();
    return pymt__arena_released_self() - before;
}

PYMT_API size_t pymt_check_heap(void) {
    pymt__ensure_init();
    return pymt__debug_check_heap();
}

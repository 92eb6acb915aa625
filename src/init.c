/* init.c: one-time initialisation and the fork handlers.
 * Initialisation happens on the first call that needs it (every public entry point and every
 * slow path calls pymt__ensure_init), under a mutex, and never allocates through malloc. It
 * reads the options, sets the lower layers up with them, and wires each family's backend table
 * (backend.h has the table of modes). Calls that re-enter the allocator from inside it on the
 * same thread (pthread_atfork or atexit may allocate in some C libraries, and in the drop-in
 * malloc that allocation is pymt) find the tables still on the system allocator, which serves
 * them; their blocks are freed correctly later because they are not in any arena.
 * fork: prepare takes the init and debug locks, the global and core locks, the medium classes'
 * and the arena layer's (in that order, the order every other path takes them in); the parent
 * releases them; so does the child (its only thread is the one that took them), which keeps
 * only its own thread cache. */
#include "init.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

pymt__options pymt__opt;
const pymt__backend *pymt__table_raw = &pymt__backend_sys;
const pymt__backend *pymt__table_objmem = &pymt__backend_sys;
const pymt__backend *pymt__table_object = &pymt__backend_sys;
const pymt__backend *pymt__table_override = &pymt__backend_sys;
const pymt__backend *pymt__table_override_large = &pymt__backend_sys;
static pymt__backend debug_tables[4]; /* raw, object memory, objects, drop-in; debug modes */

static int tcache_request = -1;   /* pymt_set_tcache before init: -1 none, else 0/1 */
static int hugepages_request = -1; /* pymt_set_hugepages before init: -1 none, else 0/1 */
static _Atomic int init_done;
static _Atomic int atfork_registered;
static _Atomic int override_told; /* the drop-in's debug-mode note was written */
static pthread_mutex_t init_mutex = PTHREAD_MUTEX_INITIALIZER;
static PYMT__TLS bool init_running;

bool pymt__initialized(void) {
    /* pairs with the release store at the end of pymt__init_slow */
    return pymt__load_acquire(&init_done) != 0;
}

/* fork handlers. They are registered when the library is loaded (atfork_register_at_load),
 * before any thread of the program can call pymt, and never while init_mutex is held (a fork
 * running its prepare handlers holds the C library's atfork lock, and prepare takes
 * init_mutex). Holding init_mutex across the fork means no thread is half-way through
 * initialisation when the child starts; the options are read after an acquire load of
 * init_done. Registering them at the first initialisation instead left two windows in which a
 * fork ran without them while another thread held init_mutex, and the child then blocked for
 * ever at its first call: a thread that found them being registered by a first thread went on
 * to initialise before the registration was done, and the C library ignores handlers
 * registered after a fork has started (tests/test_fork_init.c). */
static bool atfork_debug(void) {
    return pymt__initialized() && pymt__opt.debug;
}

static void atfork_prepare(void) {
    pthread_mutex_lock(&init_mutex);
    if (atfork_debug())
        pymt__debug_atfork_prepare();
    /* the lock order: the global lock and the cores', the medium classes', the arena layer's */
    pymt__pool_atfork_prepare();
    pymt__medium_atfork_prepare();
    pymt__arena_atfork_prepare();
}

static void atfork_parent(void) {
    pymt__arena_atfork_parent();
    pymt__medium_atfork_parent();
    pymt__pool_atfork_parent();
    if (atfork_debug())
        pymt__debug_atfork_parent();
    pthread_mutex_unlock(&init_mutex);
}

static void atfork_child(void) {
    pymt__arena_atfork_child();
    pymt__medium_atfork_child();
    pymt__pool_atfork_child();
    pymt__depot_atfork_child();
    pymt__core_lock();
    pymt__tcache_atfork_child_locked();
    pymt__core_unlock();
    if (atfork_debug())
        pymt__debug_atfork_child();
    pthread_mutex_unlock(&init_mutex); /* the forking thread took it in prepare */
}

/* Register the fork handlers once: at load, or (a program that calls pymt from a constructor
 * that runs before this one) at the first initialisation. */
static void atfork_register(void) {
    if (!pymt__exchange_relaxed(&atfork_registered, 1))
        pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

__attribute__((constructor)) static void atfork_register_at_load(void) {
    atfork_register();
}

static void stats_at_exit(void) {
    pymt_print_stats(stderr);
}

/* The backend of each family (the table in backend.h). */
static void wire(const pymt__options *o) {
    if (!o->debug) {
        const pymt__backend *objmem;
        if (!o->pooling)
            objmem = &pymt__backend_sys;
        else if (o->harden)
            objmem = o->tcache ? &pymt__backend_hardened : &pymt__backend_hardened_locked;
        else
            objmem = o->tcache ? &pymt__backend_pools : &pymt__backend_pools_locked;
        pymt__table_raw = &pymt__backend_raw;
        pymt__table_objmem = objmem;
        pymt__table_object = objmem;
        pymt__table_override = objmem;
        pymt__table_override_large = &pymt__backend_sys;
        return;
    }
    /* debug blocks come from the pools without caches, or from the system allocator */
    const pymt__backend *below = o->pooling ? &pymt__backend_pools_locked : &pymt__backend_sys;
    pymt__debug_init(o->debug_backtrace, o->debug_log);
    pymt__debug_backend(&debug_tables[0], PYMT__FAM_RAW, &pymt__backend_sys);
    pymt__debug_backend(&debug_tables[1], PYMT__FAM_OBJMEM, below);
    pymt__debug_backend(&debug_tables[2], PYMT__FAM_OBJECT, below);
    pymt__debug_backend(&debug_tables[3], PYMT__FAM_MALLOC, below);
    pymt__table_raw = &debug_tables[0];
    pymt__table_objmem = &debug_tables[1];
    pymt__table_object = &debug_tables[2];
    /* every size; the drop-in's free() also receives glibc's blocks, which the debug backend
     * of this family hands back to glibc */
    pymt__table_override = &debug_tables[3];
    pymt__table_override_large = &debug_tables[3];
}

void pymt__init_slow(void) {
    if (init_running)
        return; /* re-entered from our own set-up: served with the zeroed options */
    atfork_register();
    pthread_mutex_lock(&init_mutex);
    if (pymt__load_acquire(&init_done)) {
        pthread_mutex_unlock(&init_mutex);
        return;
    }
    init_running = true;
    pymt__options o;
    memset(&o, 0, sizeof o);
    pymt__options_read(&o);
    if (tcache_request >= 0)
        o.tcache = tcache_request != 0;
    if (hugepages_request >= 0)
        o.hugepages = hugepages_request != 0;
    pymt__pool_init(o.cores, o.purge_max);
    if (o.pooling && !pymt__arena_init(o.hugepages, o.arena_reserve, o.purge_max)) {
        pymt__write_err("pymt: cannot reserve the arena range; pooling off\n");
        o.mode = o.debug ? PYMT_MODE_MALLOC_DEBUG : PYMT_MODE_MALLOC;
        o.pooling = false;
    }
    if (o.pooling && o.tcache && !o.debug && !pymt__tcache_init(o.tcache_bytes, o.tcache_grows))
        o.tcache = false;
    if (o.debug || !o.pooling)
        o.tcache = false; /* debug blocks never sit in a cache; nothing to cache without pools */
    /* the pool core's checks and encodings follow this flag, fixed before the first pool
     * block exists (no thread can reach the pools before init_done is published) */
    o.harden = o.harden && o.pooling;
    pymt__harden_init(o.harden);
    /* the hardened magazines and checks know the small classes only */
    o.medium = o.medium && o.pooling && !o.harden;
    pymt__medium_init(o.medium, o.purge_max);
    /* hardened: every big block goes to glibc's free at once, so glibc's own checks (double
     * free, a pointer that is not a chunk) see it, as docs/hardening.md says they do */
    pymt__large_init(o.harden ? 0 : o.large_cache);
    /* the drop-in with pools hands glibc nothing but big blocks; a library shares glibc with
     * the program, and without pools (PYMT_MALLOC=malloc) glibc serves everything as usual */
    bool tune = o.glibc_tune < 0 ? pymt__sys_is_dropin() && o.pooling : o.glibc_tune > 0;
    o.glibc_tune = tune && !o.glibc_thresholds_set && pymt__sys_tune_glibc();
    pymt__opt = o;
    wire(&o);
    if (o.stats_at_exit)
        atexit(stats_at_exit);
    init_running = false;
    pymt__store_release(&init_done, 1);
    pthread_mutex_unlock(&init_mutex);
}

void pymt__init_for_override(void) {
    pymt__sys_use_libc_internals();
    bool first = !pymt__initialized() && !init_running;
    pymt__init_slow();
    if (first && pymt__initialized() && pymt__opt.debug && !pymt__exchange_relaxed(&override_told, 1))
        pymt__write_err("pymt: debug mode in libpymt-malloc.so: malloc, calloc, realloc and free "
                        "are checked (guards, double free, use after free, foreign pointers); "
                        "blocks aligned above 16 bytes (posix_memalign, aligned_alloc, "
                        "memalign, valloc) come from glibc unchecked\n");
}

/* Set *request to on/off unless init has run (then EBUSY). */
static int request_before_init(int *request, int on) {
    pthread_mutex_lock(&init_mutex);
    int busy = pymt__load_acquire(&init_done);
    if (!busy)
        *request = on ? 1 : 0;
    pthread_mutex_unlock(&init_mutex);
    if (busy) {
        errno = EBUSY;
        return -1;
    }
    return 0;
}

PYMT_API int pymt_set_tcache(int enabled) {
    return request_before_init(&tcache_request, enabled);
}

PYMT_API int pymt_set_hugepages(int enabled) {
    return request_before_init(&hugepages_request, enabled);
}


/* init.c: one-time initialisation, fork handlers, and the few process-wide helpers (fatal
 * errors, assertion failures) every layer uses.
 * Initialisation happens on the first call that needs it (a slow path), under a mutex, and
 * never allocates through malloc. Calls that re-enter the allocator from inside it on the same
 * thread (pthread_atfork or atexit may allocate in some C libraries, and in the preload library
 * that allocation is pymt) see the options still zeroed, i.e. pooling off, and are served by the
 * system allocator; their blocks are freed correctly later because they are not in any arena.
 * fork: prepare takes the init, debug and core locks (in that order, the order every other path
 * takes them in); the parent releases them; so does the child (its only thread is the one that
 * took them), which keeps only its own thread cache. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atomic.h"
#include "handoff.h"
#include "pool.h"
#include "tcache.h"

pymt__options pymt__opt;
int pymt__tcache_request = -1;
int pymt__hugepages_request = -1;
static _Atomic int init_done;
static _Atomic int atfork_registered;
static pthread_mutex_t init_mutex = PTHREAD_MUTEX_INITIALIZER;
static PYMT__TLS bool init_running;

bool pymt__initialized(void) {
    /* pairs with the release store at the end of pymt__init_slow */
    return pymt__load_acquire(&init_done) != 0;
}

void pymt__write_err(const char *msg) {
    size_t len = strlen(msg);
    while (len > 0) {
        ssize_t w = write(STDERR_FILENO, msg, len);
        if (w <= 0) {
            if (w < 0 && errno == EINTR)
                continue;
            return;
        }
        msg += w;
        len -= (size_t)w;
    }
}

void pymt__fatal(const char *msg) {
    pymt__write_err(msg);
    abort();
}

void pymt__assert_fail(const char *expr, const char *file, int line) {
    char msg[512];
    snprintf(msg, sizeof msg, "pymt: assertion failed: %s (%s:%d)\n", expr, file, line);
    pymt__fatal(msg);
}

const char *pymt__family_name(int family) {
    switch (family) {
    case PYMT__FAM_RAW: return "raw memory (pymt_mem_*)";
    case PYMT__FAM_OBJMEM: return "object memory (pymt_object_malloc/calloc/realloc/free)";
    case PYMT__FAM_OBJECT: return "objects (pymt_object_new/newvar/del)";
    default: return "unknown family";
    }
}

/* fork handlers. They are registered at the start of the first initialisation, before
 * init_mutex is taken, so init never calls pthread_atfork while holding it (a fork running
 * its prepare handlers holds the C library's atfork lock, and prepare takes init_mutex).
 * Holding init_mutex across the fork means no thread is half-way through initialisation when
 * the child starts; the options are read after an acquire load of init_done. */
static bool atfork_debug(void) {
    return pymt__initialized() && pymt__opt.debug;
}

static void atfork_prepare(void) {
    pthread_mutex_lock(&init_mutex);
    if (atfork_debug())
        pymt__debug_atfork_prepare();
    pymt__pool_atfork_prepare();
}

static void atfork_parent(void) {
    pymt__pool_atfork_parent();
    if (atfork_debug())
        pymt__debug_atfork_parent();
    pthread_mutex_unlock(&init_mutex);
}

static void atfork_child(void) {
    pymt__pool_atfork_child();
    pymt__core_lock();
    pymt__tcache_atfork_child_locked();
    pymt__core_unlock();
    if (atfork_debug())
        pymt__debug_atfork_child();
    pthread_mutex_unlock(&init_mutex); /* the forking thread took it in prepare */
}

static void stats_at_exit(void) {
    pymt_print_stats(stderr);
}

void pymt__init_slow(void) {
    if (init_running)
        return; /* re-entered from our own set-up: served with the zeroed options */
    if (!atomic_exchange_explicit(&atfork_registered, 1, memory_order_relaxed))
        pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
    pthread_mutex_lock(&init_mutex);
    if (pymt__load_acquire(&init_done)) {
        pthread_mutex_unlock(&init_mutex);
        return;
    }
    init_running = true;
    pymt__options o;
    memset(&o, 0, sizeof o);
    pymt__options_read(&o);
    if (pymt__tcache_request >= 0)
        o.tcache = pymt__tcache_request != 0;
    if (pymt__hugepages_request >= 0)
        o.hugepages = pymt__hugepages_request != 0;
    if (o.pooling && !pymt__arena_init()) {
        pymt__write_err("pymt: cannot reserve the arena table; pooling off\n");
        o.mode = o.debug ? PYMT_MODE_MALLOC_DEBUG : PYMT_MODE_MALLOC;
        o.pooling = false;
    }
    if (o.pooling && o.tcache && !pymt__tcache_init())
        o.tcache = false;
    if (o.debug)
        o.tcache = false;
    pymt__opt = o;
    if (o.debug)
        pymt__debug_init();
    if (o.stats_at_exit)
        atexit(stats_at_exit);
    init_running = false;
    pymt__store_release(&init_done, 1);
    pthread_mutex_unlock(&init_mutex);
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
    return request_before_init(&pymt__tcache_request, enabled);
}

PYMT_API int pymt_set_hugepages(int enabled) {
    return request_before_init(&pymt__hugepages_request, enabled);
}

PYMT_API int pymt_hugepages_enabled(void) {
    pymt__ensure_init();
    return pymt__opt.hugepages && pymt__opt.pooling;
}

PYMT_API pymt_mode pymt_get_mode(void) {
    pymt__ensure_init();
    return pymt__opt.mode;
}

PYMT_API int pymt_tcache_enabled(void) {
    pymt__ensure_init();
    return pymt__opt.tcache && pymt__opt.pooling;
}

PYMT_API void pymt_thread_flush(void) {
    pymt__tcache_flush_self();
}

PYMT_API size_t pymt_trim(void) {
    if (!pymt__initialized() || !pymt__opt.pooling)
        return 0;
    if (pymt__opt.debug)
        pymt__debug_quarantine_flush(); /* quarantined blocks would keep their arenas alive */
    pymt__tcache_flush_self();
    pymt__depot_drain();
    return pymt__pool_trim();
}

/* options.c: the PYMT_* environment, read once by init, without allocating. A bad value gets
 * one line on stderr and the default.
 *   PYMT_MALLOC          pymalloc (default) | malloc | debug | pymalloc_debug | malloc_debug
 *                        (the default is pymalloc_debug in a PYMT_DEBUG=ON build)
 *   PYMT_TCACHE          1 (default) | 0: per-thread caches on or off
 *   PYMT_ARENA_RESERVE   wholly free arenas kept mapped for reuse, 0..1024 (default 2)
 *   PYMT_LARGE_CACHE     KiB of freed large object-memory blocks each thread keeps for reuse,
 *                        0..1048576 (default 2048; 0 turns the large-block cache off)
 *   PYMT_HUGEPAGES       0 (default) | 1: arenas mapped in 2 MiB pairs, advised for huge pages
 *   PYMT_HARDEN          0 (default) | 1: the hardened mode (backend.h, docs/hardening.md):
 *                        free-list links encoded and checked, double frees and corrupted pool
 *                        headers stop the program with a report (the default is 1 in a
 *                        PYMT_HARDEN=ON build); applies whenever pooling is on
 *   PYMT_STATS           1: print the statistics to stderr at exit
 *   PYMT_DEBUG_LOG       file for debug reports (default stderr)
 *   PYMT_DEBUG_BACKTRACE 1: record the allocation stack of every debug block */
#include <stdlib.h>
#include <string.h>

#include "options.h"

static void bad_value(const char *name, const char *value, const char *expected) {
    /* one line, no stdio: the environment is read before anything else is set up */
    char msg[512];
    size_t len = 0;
    const char *parts[] = {"pymt: ignoring ", name, "=", value, " (expected ", expected,
                           "); using the default\n"};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        size_t l = strlen(parts[i]);
        if (len + l >= sizeof msg - 1)
            l = sizeof msg - 1 - len;
        memcpy(msg + len, parts[i], l);
        len += l;
    }
    msg[len] = '\0';
    pymt__write_err(msg);
}

static bool read_bool(const char *name, bool def) {
    const char *v = getenv(name);
    if (v == NULL || *v == '\0')
        return def;
    if (strcmp(v, "1") == 0 || strcmp(v, "yes") == 0 || strcmp(v, "on") == 0)
        return true;
    if (strcmp(v, "0") == 0 || strcmp(v, "no") == 0 || strcmp(v, "off") == 0)
        return false;
    bad_value(name, v, "0 or 1");
    return def;
}

static unsigned read_uint(const char *name, unsigned def, unsigned max) {
    const char *v = getenv(name);
    if (v == NULL || *v == '\0')
        return def;
    char *end;
    unsigned long x = strtoul(v, &end, 10);
    if (*end != '\0' || x > max || *v == '-') {
        bad_value(name, v, "a number in range");
        return def;
    }
    return (unsigned)x;
}

void pymt__options_read(pymt__options *o) {
    o->mode = pymt__config_debug ? PYMT_MODE_PYMALLOC_DEBUG : PYMT_MODE_PYMALLOC;
    if (!pymt__config_pooling)
        o->mode = pymt__config_debug ? PYMT_MODE_MALLOC_DEBUG : PYMT_MODE_MALLOC;
    const char *m = getenv("PYMT_MALLOC");
    if (m != NULL && *m != '\0') {
        if (strcmp(m, "pymalloc") == 0)
            o->mode = PYMT_MODE_PYMALLOC;
        else if (strcmp(m, "malloc") == 0)
            o->mode = PYMT_MODE_MALLOC;
        else if (strcmp(m, "debug") == 0 || strcmp(m, "pymalloc_debug") == 0)
            o->mode = PYMT_MODE_PYMALLOC_DEBUG;
        else if (strcmp(m, "malloc_debug") == 0)
            o->mode = PYMT_MODE_MALLOC_DEBUG;
        else
            bad_value("PYMT_MALLOC", m, "pymalloc, malloc, debug, pymalloc_debug or malloc_debug");
    }
    if (!pymt__config_pooling && o->mode == PYMT_MODE_PYMALLOC)
        o->mode = PYMT_MODE_MALLOC; /* built without pooling: nothing to pool with */
    if (!pymt__config_pooling && o->mode == PYMT_MODE_PYMALLOC_DEBUG)
        o->mode = PYMT_MODE_MALLOC_DEBUG;
    o->pooling = o->mode == PYMT_MODE_PYMALLOC || o->mode == PYMT_MODE_PYMALLOC_DEBUG;
    o->debug = o->mode == PYMT_MODE_PYMALLOC_DEBUG || o->mode == PYMT_MODE_MALLOC_DEBUG;
    o->tcache = read_bool("PYMT_TCACHE", true);
    o->arena_reserve = read_uint("PYMT_ARENA_RESERVE", 2, 1024);
    o->large_cache = (size_t)read_uint("PYMT_LARGE_CACHE", 2048, 1u << 20) << 10;
    o->hugepages = read_bool("PYMT_HUGEPAGES", false);
    o->harden = read_bool("PYMT_HARDEN", pymt__config_harden);
    o->stats_at_exit = read_bool("PYMT_STATS", false);
    o->debug_backtrace = read_bool("PYMT_DEBUG_BACKTRACE", false);
    const char *log = getenv("PYMT_DEBUG_LOG");
    o->debug_log = (log != NULL && *log != '\0') ? log : NULL;
}

/* options.c: the PYMT_* environment, read once by init, without allocating. Every variable goes
 * through one of two parsers, so the same spellings work everywhere:
 *   booleans  1, yes, on, true  /  0, no, off, false   (any case)
 *   sizes     a decimal number, optionally followed by K, M or G (KiB, MiB, GiB; any case,
 *             an optional trailing "B" or "iB"); a bare number is in the variable's own unit
 * A bad value gets one line on stderr and the default; so does a PYMT_* variable pymt does not
 * know (a misspelt name would otherwise be ignored silently).
 *   PYMT_MALLOC          pymalloc (default) | malloc | debug | pymalloc_debug | malloc_debug
 *                        (the default is pymalloc_debug in a PYMT_DEBUG=ON build)
 *   PYMT_TCACHE          boolean, default 1: per-thread caches on or off
 *   PYMT_TCACHE_BYTES    size in bytes, 64K..16G, default 8M: what all thread caches together
 *                        may hold; each thread's share is the budget over the live caches
 *   PYMT_ARENA_RESERVE   number 0..1024, default 2: wholly free arenas kept mapped for reuse
 *   PYMT_PURGE_MAX       size in bytes, 2M..1G, default 8M: the most that free pools of arenas
 *                        in use may keep resident (as much as the pools in use, or as the
 *                        purged pools taken again when more, at least 2 MiB; shared by the
 *                        pool cores in use) before the emptiest are purged; and, apart,
 *                        what the free blocks of 16 KiB and up of medium arenas in use may
 *                        (medium.c: the same rule, up to four times this)
 *   PYMT_LARGE_CACHE     size in KiB, 0..1 GiB, default 2048 (2 MiB): freed large
 *                        object-memory blocks each thread keeps for reuse; 0 turns it off
 *                        (off in the hardened mode: glibc checks every free of a big block)
 *   PYMT_HUGEPAGES       boolean, default 0: arenas mapped in 2 MiB pairs, advised for huge pages
 *   PYMT_CORES           number 1..16, default the online CPUs up to 16: independent pool
 *                        cores (each a lock and its own arenas) the threads are spread over;
 *                        1 is a single lock
 *   PYMT_GLIBC_TUNE      boolean, default 1 in the drop-in malloc with pools, 0 otherwise:
 *                        set glibc's mmap and trim thresholds for the big blocks pymt passes
 *                        on (sys.h); never when the environment sets one of glibc's
 *                        thresholds itself
 *   PYMT_HARDEN          boolean, default 0: the hardened mode (backend.h, docs/hardening.md):
 *                        free-list links encoded and checked, double frees and corrupted pool
 *                        headers stop the program with a report (the default is 1 in a
 *                        PYMT_HARDEN=ON build); applies whenever pooling is on
 *   PYMT_MEDIUM          boolean, default 1 (0 in a PYMT_MEDIUM=OFF build): the medium tier,
 *                        513 B..256 KiB of object memory, objects and the drop-in malloc from
 *                        pymt's arenas (medium.h); 0: above 512 bytes the system allocator, as
 *                        pymalloc. Off in the hardened mode and without pooling (init.c)
 *   PYMT_STATS           boolean, default 0: print the statistics to stderr at exit
 *   PYMT_DEBUG_LOG       file for debug reports (default stderr)
 *   PYMT_DEBUG_BACKTRACE boolean, default 0: record the allocation stack of every debug block
 * Names read by pymt's own tools, not the library, are not warned about: PYMT_BENCH_*,
 * PYMT_SOAK_SECONDS, PYMT_PYTHON_REGRTESTS. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* Case-insensitive equality with a lowercase word. */
static bool word_is(const char *v, const char *word) {
    for (; *word; v++, word++) {
        char c = *v >= 'A' && *v <= 'Z' ? (char)(*v - 'A' + 'a') : *v;
        if (c != *word)
            return false;
    }
    return *v == '\0';
}

/* A boolean as 1 or 0; def (which may be -1, "not set") when unset, empty or bad. */
static int read_bool(const char *name, int def) {
    const char *v = getenv(name);
    if (v == NULL || *v == '\0')
        return def;
    if (word_is(v, "1") || word_is(v, "yes") || word_is(v, "on") || word_is(v, "true"))
        return true;
    if (word_is(v, "0") || word_is(v, "no") || word_is(v, "off") || word_is(v, "false"))
        return false;
    bad_value(name, v, "a boolean: 1, yes, on, true, 0, no, off or false");
    return def;
}

/* A size: digits, then an optional K/M/G (with an optional B or iB); a bare number counts in
 * units of unit bytes. The result, in bytes, must not exceed max. False (*out untouched) when
 * the variable is unset, empty or bad (said on stderr). */
static bool read_size_set(const char *name, size_t unit, size_t max, size_t *out) {
    const char *v = getenv(name);
    if (v == NULL || *v == '\0')
        return false;
    size_t x = 0;
    const char *q = v;
    bool ok = *q >= '0' && *q <= '9';
    for (; ok && *q >= '0' && *q <= '9'; q++)
        ok = !__builtin_mul_overflow(x, 10, &x) && !__builtin_add_overflow(x, (size_t)(*q - '0'), &x);
    size_t mult = unit;
    if (ok && *q != '\0') {
        switch (*q | 0x20) {
        case 'k': mult = (size_t)1 << 10; break;
        case 'm': mult = (size_t)1 << 20; break;
        case 'g': mult = (size_t)1 << 30; break;
        default: ok = false;
        }
        q++;
        ok = ok && (*q == '\0' || word_is(q, "b") || word_is(q, "ib"));
    }
    if (!ok || __builtin_mul_overflow(x, mult, &x) || x > max) {
        bad_value(name, v, "a size: a number, optionally followed by K, M or G, within range");
        return false;
    }
    *out = x;
    return true;
}

/* The same, def when the variable is unset, empty or bad. */
static size_t read_size(const char *name, size_t def, size_t unit, size_t max) {
    size_t x = def;
    (void)read_size_set(name, unit, max, &x);
    return x;
}

/* One line for every PYMT_* variable that is neither the library's nor its tools'. The
 * library's own are also PYMT_STRESS_ENV_VARS in stress/CMakeLists.txt, which every stress test
 * unsets but for its variant's: a new setting goes in both lists. */
extern char **environ;
static void warn_unknown(void) {
    static const char *const known[] = {
        "PYMT_MALLOC", "PYMT_TCACHE", "PYMT_TCACHE_BYTES", "PYMT_ARENA_RESERVE", "PYMT_PURGE_MAX", "PYMT_LARGE_CACHE",
        "PYMT_HUGEPAGES", "PYMT_CORES", "PYMT_GLIBC_TUNE", "PYMT_HARDEN", "PYMT_MEDIUM", "PYMT_STATS",
        "PYMT_DEBUG_LOG",
        "PYMT_DEBUG_BACKTRACE",
        "PYMT_SOAK_SECONDS", "PYMT_PYTHON_REGRTESTS"};
    for (char **e = environ; e != NULL && *e != NULL; e++) {
        const char *var = *e;
        if (strncmp(var, "PYMT_", 5) != 0 || strncmp(var, "PYMT_BENCH_", 11) == 0)
            continue;
        size_t len = strcspn(var, "=");
        bool found = false;
        for (size_t i = 0; i < sizeof known / sizeof known[0] && !found; i++)
            found = strlen(known[i]) == len && strncmp(var, known[i], len) == 0;
        if (found)
            continue;
        char name[128];
        if (len >= sizeof name)
            len = sizeof name - 1;
        memcpy(name, var, len);
        name[len] = '\0';
        const char *parts[] = {"pymt: unknown environment variable ", name,
                               " ignored (not a pymt setting: the README's table lists them)\n"};
        for (size_t i = 0; i < 3; i++)
            pymt__write_err(parts[i]);
    }
}

/* Whether the environment sets one of glibc malloc's thresholds (a tunable, or one of the older
 * variables glibc still reads), which then stay the program's. */
static bool glibc_thresholds_set(void) {
    static const char *const vars[] = {"MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_",
                                       "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_"};
    static const char *const tunables[] = {"glibc.malloc.mmap_threshold",
                                           "glibc.malloc.trim_threshold", "glibc.malloc.top_pad",
                                           "glibc.malloc.mmap_max"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i]) != NULL)
            return true;
    const char *t = getenv("GLIBC_TUNABLES");
    for (size_t i = 0; t != NULL && i < sizeof tunables / sizeof tunables[0]; i++)
        if (strstr(t, tunables[i]) != NULL)
            return true;
    return false;
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
    /* a budget set is a bound; the default (also for a value rejected) grows with the heap
     * (tcache_budget.c) */
    o->tcache_grows = !read_size_set("PYMT_TCACHE_BYTES", 1, (size_t)16 << 30, &o->tcache_bytes);
    if (!o->tcache_grows && o->tcache_bytes < ((size_t)64 << 10)) {
        bad_value("PYMT_TCACHE_BYTES", getenv("PYMT_TCACHE_BYTES"), "at least 64K");
        o->tcache_grows = true;
    }
    if (o->tcache_grows)
        o->tcache_bytes = (size_t)8 << 20;
    o->arena_reserve = (unsigned)read_size("PYMT_ARENA_RESERVE", 2, 1, 1024);
    o->purge_max = read_size("PYMT_PURGE_MAX", (size_t)8 << 20, 1, (size_t)1 << 30);
    if (o->purge_max < ((size_t)2 << 20)) {
        bad_value("PYMT_PURGE_MAX", getenv("PYMT_PURGE_MAX"), "at least 2M");
        o->purge_max = (size_t)8 << 20;
    }
    o->large_cache = read_size("PYMT_LARGE_CACHE", (size_t)2 << 20, 1024, (size_t)1 << 30);
    o->hugepages = read_bool("PYMT_HUGEPAGES", false);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    size_t cores_default = cpus < 1 ? 1 : cpus > 16 ? 16 : (size_t)cpus;
    o->cores = (unsigned)read_size("PYMT_CORES", cores_default, 1, 16);
    if (o->cores == 0) {
        bad_value("PYMT_CORES", getenv("PYMT_CORES"), "1 to 16");
        o->cores = (unsigned)cores_default;
    }
    o->glibc_tune = read_bool("PYMT_GLIBC_TUNE", -1);
    o->glibc_thresholds_set = glibc_thresholds_set();
    o->harden = read_bool("PYMT_HARDEN", pymt__config_harden);
    o->medium = read_bool("PYMT_MEDIUM", pymt__config_medium);
    o->stats_at_exit = read_bool("PYMT_STATS", false);
    o->debug_backtrace = read_bool("PYMT_DEBUG_BACKTRACE", false);
    const char *log = getenv("PYMT_DEBUG_LOG");
    o->debug_log = (log != NULL && *log != '\0') ? log : NULL;
    warn_unknown();
}

/* test_modes.c: the start-up choices, each seen from a fresh process.
 *
 * The environment is read once, at first use, so every case here re-executes this binary for
 * one `child_` case with the variables it needs (check_spawn_self). Proves: PYMT_MALLOC=malloc
 * turns pooling off (mode PYMT_MODE_MALLOC, no arena ever mapped, every family still works);
 * each PYMT_MALLOC value selects its mode; an unknown PYMT_MALLOC or PYMT_TCACHE value gives
 * exactly one stderr line and the default; PYMT_TCACHE=0 turns the caches off and everything
 * works; pymt_set_tcache() works before first use and is -1 + EBUSY after it; PYMT_HARDEN=1
 * turns the hardened mode on wherever there are pools (and pymt_print_stats says so), and not
 * with PYMT_MALLOC=malloc. */
#include "check.h"

static char err[1 << 14];

/* Exit status of the mode a child saw: children exit with MODE_BASE + mode. */
#define MODE_BASE 10
#define TCACHE_BASE 20
#define HARDEN_BASE 30

/* The hardened mode when PYMT_HARDEN is unset: the build's (CMake option PYMT_HARDEN). */
#ifdef PYMT_CONFIG_HARDEN
#define HARDEN_DEFAULT 1
#else
#define HARDEN_DEFAULT 0
#endif

static void child_exit_with_mode(void) {
    void *p = pymt_object_malloc(10);
    pymt_object_free(p);
    fflush(stderr);
    _exit(MODE_BASE + (int)pymt_get_mode());
}

static void child_exit_with_tcache(void) {
    void *p = pymt_object_malloc(10);
    pymt_object_free(p);
    fflush(stderr);
    _exit(TCACHE_BASE + (pymt_tcache_enabled() ? 1 : 0));
}

/* Exits with HARDEN_BASE + pymt_hardened_enabled(), after checking that the first line of
 * pymt_print_stats says "hardened" exactly then (a failure exits 1). */
static void child_exit_with_harden(void) {
    void *p = pymt_object_malloc(10);
    pymt_object_free(p);
    int on = pymt_hardened_enabled();
    char *line = check_stats_text();
    REQUIRE(line != NULL);
    char *eol = strchr(line, '\n');
    CHECK(eol != NULL);
    if (eol != NULL)
        eol[1] = '\0'; /* the first line only */
    if ((strstr(line, ", hardened") != NULL) != (on != 0)) {
        check_fail_at(__FILE__, __LINE__, "the stats' first line says hardened when it is on");
        fprintf(stderr, "    hardened %d, first line: %s", on, line);
    }
    free(line);
    fflush(stderr);
    _exit(check_failures ? 1 : HARDEN_BASE + (on ? 1 : 0));
}

/* Exit code of a child run with env; -1 (and a failure) when it did not exit normally. */
static int spawn_code(const char *name, const char *const *env) {
    int st = check_spawn_self(name, env, err, sizeof err);
    if (!WIFEXITED(st)) {
        check_fail_at(__FILE__, __LINE__, "child exits normally");
        check_show_child(name, st, err);
        return -1;
    }
    return WEXITSTATUS(st);
}

static size_t count_lines(const char *s) {
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void each_pymt_malloc_value_selects_its_mode(void) {
    static const struct {
        const char *value;
        pymt_mode mode;
    } table[] = {
        {"PYMT_MALLOC=pymalloc", PYMT_MODE_PYMALLOC},
        {"PYMT_MALLOC=malloc", PYMT_MODE_MALLOC},
        {"PYMT_MALLOC=debug", PYMT_MODE_PYMALLOC_DEBUG},
        {"PYMT_MALLOC=pymalloc_debug", PYMT_MODE_PYMALLOC_DEBUG},
        {"PYMT_MALLOC=malloc_debug", PYMT_MODE_MALLOC_DEBUG},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        const char *env[] = {table[i].value, NULL};
        int code = spawn_code("child_exit_with_mode", env);
        if (code != MODE_BASE + (int)table[i].mode) {
            check_fail_at(__FILE__, __LINE__, "PYMT_MALLOC value selects its mode");
            fprintf(stderr, "    %s: exit %d, want %d\n", table[i].value, code,
                    MODE_BASE + (int)table[i].mode);
        }
        if (err[0]) {
            check_fail_at(__FILE__, __LINE__, "a valid value prints nothing");
            fprintf(stderr, "    %s printed: %s\n", table[i].value, err);
        }
    }
}

static void unknown_pymt_malloc_value_warns_once_and_uses_the_default(void) {
    const char *unset[] = {"PYMT_MALLOC", NULL};
    int want = spawn_code("child_exit_with_mode", unset);
    CHECK(want >= MODE_BASE && want <= MODE_BASE + 3);
    CHECK_EQ(err[0], '\0');
    const char *bogus[] = {"PYMT_MALLOC=tcmalloc_please", NULL};
    int got = spawn_code("child_exit_with_mode", bogus);
    CHECK_EQ(got, want);
    if (count_lines(err) != 1 || strstr(err, "PYMT_MALLOC") == NULL) {
        check_fail_at(__FILE__, __LINE__, "one stderr line naming PYMT_MALLOC");
        fprintf(stderr, "    stderr was: [%s]\n", err);
    }
}

static void unknown_pymt_tcache_value_warns_once_and_uses_the_default(void) {
    const char *unset[] = {"PYMT_MALLOC=pymalloc", "PYMT_TCACHE", NULL};
    int want = spawn_code("child_exit_with_tcache", unset);
    CHECK_EQ(want, TCACHE_BASE + 1); /* caches are on by default in pool mode */
    CHECK_EQ(err[0], '\0');
    const char *bogus[] = {"PYMT_MALLOC=pymalloc", "PYMT_TCACHE=sometimes", NULL};
    int got = spawn_code("child_exit_with_tcache", bogus);
    CHECK_EQ(got, want);
    if (count_lines(err) != 1 || strstr(err, "PYMT_TCACHE") == NULL) {
        check_fail_at(__FILE__, __LINE__, "one stderr line naming PYMT_TCACHE");
        fprintf(stderr, "    stderr was: [%s]\n", err);
    }
}

/* Runs child with each env entry in turn; each must exit with want and print what expect says:
 * NULL for nothing, else exactly one line containing expect. */
static void spawn_each(const char *child, const char *const *vals, int want, const char *expect) {
    for (size_t i = 0; vals[i] != NULL; i++) {
        const char *env[] = {"PYMT_MALLOC=pymalloc", vals[i], NULL};
        int got = spawn_code(child, env);
        bool out_ok = expect == NULL ? err[0] == '\0'
                                     : count_lines(err) == 1 && strstr(err, expect) != NULL;
        if (got != want || !out_ok) {
            check_fail_at(__FILE__, __LINE__, "value parsed as documented");
            fprintf(stderr, "    %s: exit %d (want %d), stderr [%s]\n", vals[i], got, want, err);
        }
    }
}

static void every_boolean_spelling_is_accepted_in_any_case(void) {
    static const char *const on[] = {"PYMT_TCACHE=1", "PYMT_TCACHE=yes", "PYMT_TCACHE=On",
                                     "PYMT_TCACHE=TRUE", NULL};
    static const char *const off[] = {"PYMT_TCACHE=0", "PYMT_TCACHE=no", "PYMT_TCACHE=OFF",
                                      "PYMT_TCACHE=false", NULL};
    static const char *const bad[] = {"PYMT_TCACHE=2", "PYMT_TCACHE=yess", NULL};
    spawn_each("child_exit_with_tcache", on, TCACHE_BASE + 1, NULL);
    spawn_each("child_exit_with_tcache", off, TCACHE_BASE + 0, NULL);
    spawn_each("child_exit_with_tcache", bad, TCACHE_BASE + 1, "PYMT_TCACHE=");
    /* the same parser for every boolean: PYMT_STATS=yes and =2 are treated alike elsewhere */
    static const char *const stats_bad[] = {"PYMT_STATS=2", NULL};
    spawn_each("child_exit_with_tcache", stats_bad, TCACHE_BASE + 1, "PYMT_STATS=2");
}

static void sizes_take_k_m_g_suffixes_and_refuse_the_rest(void) {
    static const char *const good[] = {"PYMT_LARGE_CACHE=4096", "PYMT_LARGE_CACHE=4M",
                                       "PYMT_LARGE_CACHE=4096k", "PYMT_LARGE_CACHE=1GiB",
                                       "PYMT_LARGE_CACHE=0", "PYMT_ARENA_RESERVE=16",
                                       "PYMT_PURGE_MAX=32M", NULL};
    static const char *const bad[] = {"PYMT_LARGE_CACHE=2G", "PYMT_LARGE_CACHE=12Q",
                                      "PYMT_LARGE_CACHE=-1", "PYMT_LARGE_CACHE=M",
                                      "PYMT_LARGE_CACHE=99999999999999999999", NULL};
    spawn_each("child_exit_with_tcache", good, TCACHE_BASE + 1, NULL);
    spawn_each("child_exit_with_tcache", bad, TCACHE_BASE + 1, "PYMT_LARGE_CACHE=");
    static const char *const reserve_bad[] = {"PYMT_ARENA_RESERVE=1025", NULL};
    static const char *const purge_bad[] = {"PYMT_PURGE_MAX=1M", "PYMT_PURGE_MAX=2G", NULL};
    spawn_each("child_exit_with_tcache", purge_bad, TCACHE_BASE + 1, "PYMT_PURGE_MAX=");
    spawn_each("child_exit_with_tcache", reserve_bad, TCACHE_BASE + 1, "PYMT_ARENA_RESERVE=");
}

static void an_unknown_pymt_variable_gets_one_warning(void) {
    static const char *const typo[] = {"PYMT_TCAHCE=0", NULL};
    spawn_each("child_exit_with_tcache", typo, TCACHE_BASE + 1, "PYMT_TCAHCE");
    static const char *const tools[] = {"PYMT_BENCH_WHATEVER=1", "PYMT_SOAK_SECONDS=5", NULL};
    spawn_each("child_exit_with_tcache", tools, TCACHE_BASE + 1, NULL);
}


static void pymt_harden_selects_the_hardened_mode_where_there_are_pools(void) {
    static const struct {
        const char *malloc, *harden;
        int want;
    } table[] = {
        {"PYMT_MALLOC=pymalloc", "PYMT_HARDEN", HARDEN_DEFAULT},
        {"PYMT_MALLOC=pymalloc", "PYMT_HARDEN=1", 1},
        {"PYMT_MALLOC=pymalloc", "PYMT_HARDEN=0", 0},
        {"PYMT_MALLOC=debug", "PYMT_HARDEN=1", 1}, /* the pools below the debug backend */
        {"PYMT_MALLOC=malloc", "PYMT_HARDEN=1", 0}, /* no pools, nothing to harden */
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        const char *env[] = {table[i].malloc, table[i].harden, "PYMT_TCACHE", NULL};
        int code = spawn_code("child_exit_with_harden", env);
        if (code != HARDEN_BASE + table[i].want || err[0] != '\0') {
            check_fail_at(__FILE__, __LINE__, "PYMT_HARDEN selects the hardened mode");
            fprintf(stderr, "    %s %s: exit %d, want %d; stderr [%s]\n", table[i].malloc,
                    table[i].harden, code, HARDEN_BASE + table[i].want, err);
        }
    }
    /* caches off too */
    const char *off[] = {"PYMT_MALLOC=pymalloc", "PYMT_HARDEN=1", "PYMT_TCACHE=0", NULL};
    CHECK_EQ(spawn_code("child_exit_with_harden", off), HARDEN_BASE + 1);
    /* a bad value: one line, and the default */
    const char *bogus[] = {"PYMT_MALLOC=pymalloc", "PYMT_HARDEN=very", NULL};
    CHECK_EQ(spawn_code("child_exit_with_harden", bogus), HARDEN_BASE + HARDEN_DEFAULT);
    if (count_lines(err) != 1 || strstr(err, "PYMT_HARDEN") == NULL) {
        check_fail_at(__FILE__, __LINE__, "one stderr line naming PYMT_HARDEN");
        fprintf(stderr, "    stderr was: [%s]\n", err);
    }
}

/* ---- PYMT_MALLOC=malloc ------------------------------------------------------------------- */

static void child_malloc_mode_works_without_arenas(void) {
    CHECK_EQ(pymt_get_mode(), PYMT_MODE_MALLOC);
    enum { N = 2000 };
    static unsigned char *obj[N], *raw[N];
    for (int i = 0; i < N; i++) {
        size_t n = (size_t)(i * 7) % 1500;
        obj[i] = (i % 3) ? pymt_object_malloc(n) : pymt_object_calloc(1, n);
        raw[i] = pymt_mem_malloc(n);
        REQUIRE(obj[i] != NULL && raw[i] != NULL);
        CHECK(check_aligned(obj[i]) && check_aligned(raw[i]));
        CHECK(pymt_usable_size(obj[i]) >= n);
        memset(obj[i], 0xab, n);
        memset(raw[i], 0xcd, n);
    }
    for (int i = 0; i < N; i++) {
        size_t n = (size_t)(i * 7) % 1500, m = (size_t)(i * 13) % 1500;
        unsigned char *q = pymt_object_realloc(obj[i], m);
        REQUIRE(q != NULL);
        for (size_t b = 0; b < (n < m ? n : m); b++)
            if (q[b] != 0xab) {
                check_fail_at(__FILE__, __LINE__, "realloc keeps the contents");
                break;
            }
        obj[i] = q;
    }
    static const pymt_type t = {"t", sizeof(pymt_varobject), 8};
    pymt_varobject *v = pymt_object_newvar(&t, 100);
    REQUIRE(v != NULL);
    CHECK_EQ(v->ob_size, 100);
    CHECK_EQ(v->ob_base.ob_refcnt, 1);

    pymt_stats s = check_stats();
    CHECK_EQ(s.mode, PYMT_MODE_MALLOC);
    CHECK_EQ(s.arenas_allocated_total, 0);
    CHECK_EQ(s.arenas_current, 0);
    CHECK_EQ(s.bytes_mapped, 0);
    check_totals t0 = check_sum_classes(&s);
    CHECK_EQ(t0.total, 0);
    CHECK_EQ(t0.in_use, 0);

    pymt_object_del(v);
    for (int i = 0; i < N; i++) {
        pymt_object_free(obj[i]);
        pymt_mem_free(raw[i]);
    }
    pymt_thread_flush();
    CHECK_EQ(pymt_trim(), 0);
    s = check_stats();
    CHECK_EQ(s.arenas_allocated_total, 0);
}

static void malloc_mode_turns_pooling_off(void) {
    const char *env[] = {"PYMT_MALLOC=malloc", NULL};
    int st = check_spawn_self("child_malloc_mode_works_without_arenas", env, err, sizeof err);
    CHECK_CHILD_EXIT0("PYMT_MALLOC=malloc child", st, err);
    CHECK_EQ(err[0], '\0');
}

/* ---- per-thread caches --------------------------------------------------------------------- */

static void child_tcache_off_works(void) {
    CHECK_EQ(pymt_tcache_enabled(), 0);
    enum { N = 5000 };
    static void *p[N];
    pymt_stats s0 = check_stats();
    CHECK_EQ(s0.tcache_enabled, 0);
    for (int i = 0; i < N; i++) {
        p[i] = pymt_object_malloc((size_t)(i % 512) + 1);
        REQUIRE(p[i] != NULL);
        memset(p[i], 1, (size_t)(i % 512) + 1);
    }
    for (int i = 0; i < N; i++)
        pymt_object_free(p[i]);
    pymt_stats s1 = check_stats();
    CHECK_STATS_ADD_UP(&s1);
    CHECK_EQ(check_sum_classes(&s1).cached, 0);
    CHECK_EQ(s1.tcache_refills, s0.tcache_refills);
    CHECK_EQ(s1.threads_cached, 0);
    /* without caches every allocation and free reaches the core */
    CHECK(s1.lock_acquisitions - s0.lock_acquisitions >= N);
}

static void tcache_env_zero_turns_caches_off(void) {
    const char *env[] = {"PYMT_MALLOC=pymalloc", "PYMT_TCACHE=0", NULL};
    int st = check_spawn_self("child_tcache_off_works", env, err, sizeof err);
    CHECK_CHILD_EXIT0("PYMT_TCACHE=0 child", st, err);
    const char *on[] = {"PYMT_MALLOC=pymalloc", "PYMT_TCACHE=1", NULL};
    CHECK_EQ(spawn_code("child_exit_with_tcache", on), TCACHE_BASE + 1);
}

static void child_set_tcache_before_first_use(void) {
    errno = 0;
    CHECK_EQ(pymt_set_tcache(0), 0);
    void *p = pymt_object_malloc(48);
    REQUIRE(p != NULL);
    CHECK_EQ(pymt_tcache_enabled(), 0);
    errno = 0;
    CHECK_EQ(pymt_set_tcache(1), -1);
    CHECK_EQ(errno, EBUSY);
    CHECK_EQ(pymt_tcache_enabled(), 0);
    pymt_object_free(p);
    pymt_stats s = check_stats();
    CHECK_EQ(s.tcache_enabled, 0);
    CHECK_EQ(check_sum_classes(&s).cached, 0);
}

static void set_tcache_works_before_first_use(void) {
    const char *env[] = {"PYMT_MALLOC=pymalloc", "PYMT_TCACHE", NULL};
    int st = check_spawn_self("child_set_tcache_before_first_use", env, err, sizeof err);
    CHECK_CHILD_EXIT0("pymt_set_tcache(0) child", st, err);
}

static void set_tcache_after_use_is_ebusy(void) {
    void *p = pymt_object_malloc(16);
    REQUIRE(p != NULL);
    int was = pymt_tcache_enabled();
    for (int on = 0; on <= 1; on++) {
        errno = 0;
        CHECK_EQ(pymt_set_tcache(on), -1);
        CHECK_EQ(errno, EBUSY);
        CHECK_EQ(pymt_tcache_enabled(), was);
    }
    pymt_object_free(p);
}

static const check_case cases[] = {
    CHECK_CASE(each_pymt_malloc_value_selects_its_mode),
    CHECK_CASE(unknown_pymt_malloc_value_warns_once_and_uses_the_default),
    CHECK_CASE(unknown_pymt_tcache_value_warns_once_and_uses_the_default),
    CHECK_CASE(every_boolean_spelling_is_accepted_in_any_case),
    CHECK_CASE(sizes_take_k_m_g_suffixes_and_refuse_the_rest),
    CHECK_CASE(an_unknown_pymt_variable_gets_one_warning),
    CHECK_CASE(malloc_mode_turns_pooling_off),
    CHECK_CASE(tcache_env_zero_turns_caches_off),
    CHECK_CASE(set_tcache_works_before_first_use),
    CHECK_CASE(set_tcache_after_use_is_ebusy),
    CHECK_CASE(pymt_harden_selects_the_hardened_mode_where_there_are_pools),
    CHECK_CASE(child_exit_with_harden),
    CHECK_CASE(child_exit_with_mode),
    CHECK_CASE(child_exit_with_tcache),
    CHECK_CASE(child_malloc_mode_works_without_arenas),
    CHECK_CASE(child_tcache_off_works),
    CHECK_CASE(child_set_tcache_before_first_use),
};
CHECK_MAIN(cases)

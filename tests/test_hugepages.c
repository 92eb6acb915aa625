/* test_hugepages.c: the huge-page arena mode (PYMT_HUGEPAGES=1, pymt_set_hugepages).
 *
 * Proves, with PYMT_MALLOC=pymalloc PYMT_HUGEPAGES=1 (set by CMake):
 *   - the mode is reported on, and arenas come in pairs: a new arena starts on a 2 MiB
 *     boundary, the next one is the 1 MiB after it, and both are mapped before the second is
 *     used;
 *   - when the kernel's THP setting is not "never", the mapping holding a pair is marked
 *     eligible for huge pages in /proc/self/smaps (MADV_HUGEPAGE took effect);
 *   - pymt_trim unmaps the unused second arena of a pair too;
 *   - pymt_print_stats says so on its first line (and does not when the mode is off);
 * and, each in a fresh process without the variable: the mode is off by default,
 * pymt_set_hugepages(1) turns it on before first use and is -1 + EBUSY after it, and it stays
 * off with pooling off (PYMT_MALLOC=malloc). */
#include "check.h"


#define MIB ((size_t)1 << 20)

static char err[1 << 14];

static uintptr_t arena_of(const void *p) {
    return (uintptr_t)p & ~(uintptr_t)(MIB - 1);
}

/* The kernel's THP mode is "never" (or unknown). */
static bool thp_never(void) {
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    if (f == NULL)
        return true;
    char line[128] = "";
    bool never = fgets(line, sizeof line, f) == NULL || strstr(line, "[never]") != NULL;
    fclose(f);
    return never;
}

/* The THPeligible value of the mapping that holds a, or -1. */
static int thp_eligible(uintptr_t a) {
    FILE *f = fopen("/proc/self/smaps", "r");
    if (f == NULL)
        return -1;
    char line[512];
    bool inside = false;
    int v = -1;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
            inside = a >= lo && a < hi;
            continue;
        }
        if (inside && sscanf(line, "THPeligible: %d", &v) == 1)
            break;
    }
    fclose(f);
    return v;
}

/* Blocks of 512 bytes until one lands outside arena a; that block is returned, the others
 * are freed. */
static void *first_block_outside(uintptr_t a) {
    enum { N = 4096 };
    static void *held[N];
    void *out = NULL;
    size_t n = 0;
    while (n < N) {
        void *p = pymt_object_malloc(512);
        if (p == NULL)
            break;
        if (arena_of(p) != a) {
            out = p;
            break;
        }
        held[n++] = p;
    }
    for (size_t i = 0; i < n; i++)
        pymt_object_free(held[i]);
    return out;
}

/* The first line of pymt_print_stats mentions huge pages. */
static bool stats_mention_huge_pages(void) {
    char *text = check_stats_text();
    char *eol = text != NULL ? strchr(text, '\n') : NULL;
    if (eol != NULL)
        *eol = '\0'; /* the first line only */
    bool said = text != NULL && strstr(text, "huge pages") != NULL;
    free(text);
    return said;
}

static void arenas_come_in_aligned_pairs(void) {
    REQUIRE(check_plain_pools());
    CHECK_EQ(pymt_hugepages_enabled(), 1);
    CHECK(stats_mention_huge_pages());
    pymt_thread_flush();
    (void)pymt_trim(); /* nothing left over: the next arena starts a pair */
    void *p = pymt_object_malloc(512);
    REQUIRE(p != NULL);
    uintptr_t a = arena_of(p);
    CHECK_EQ(a % (2 * MIB), 0);
    CHECK(check_readable(a + MIB)); /* the pair's second arena is mapped already */
    if (!thp_never())
        CHECK_EQ(thp_eligible(a), 1);
    void *q = first_block_outside(a);
    REQUIRE(q != NULL);
    CHECK_EQ(arena_of(q), a + MIB);
    pymt_object_free(q);
    pymt_object_free(p);
    pymt_stats s = check_stats();
    CHECK_STATS_ADD_UP(&s);
}

static void trim_unmaps_the_unused_half(void) {
    REQUIRE(check_plain_pools());
    pymt_thread_flush();
    (void)pymt_trim();
    void *p = pymt_object_malloc(64);
    REQUIRE(p != NULL);
    uintptr_t a = arena_of(p);
    REQUIRE(a % (2 * MIB) == 0);
    CHECK(check_readable(a + MIB));
    pymt_object_free(p);
    pymt_thread_flush();
    CHECK(pymt_trim() >= 2 * MIB); /* the arena and its unused half */
    errno = 0;
    CHECK(!check_readable(a + MIB));
    CHECK_EQ(errno, ENOMEM);
}

static void child_reports_off(void) {
    void *p = pymt_object_malloc(32);
    REQUIRE(p != NULL);
    CHECK_EQ(pymt_hugepages_enabled(), 0);
    CHECK(!stats_mention_huge_pages());
    pymt_object_free(p);
}

static void child_set_before_first_use(void) {
    CHECK_EQ(pymt_set_hugepages(1), 0);
    void *p = pymt_object_malloc(32);
    REQUIRE(p != NULL);
    CHECK_EQ(pymt_hugepages_enabled(), 1);
    CHECK_EQ(arena_of(p) % (2 * MIB), 0);
    errno = 0;
    CHECK_EQ(pymt_set_hugepages(0), -1);
    CHECK_EQ(errno, EBUSY);
    CHECK_EQ(pymt_hugepages_enabled(), 1);
    pymt_object_free(p);
}

static void default_and_api(void) {
    const char *off[] = {"PYMT_MALLOC=pymalloc", "PYMT_HUGEPAGES", NULL};
    int st = check_spawn_self("child_reports_off", off, err, sizeof err);
    CHECK_CHILD_EXIT0("default child", st, err);
    st = check_spawn_self("child_set_before_first_use", off, err, sizeof err);
    CHECK_CHILD_EXIT0("pymt_set_hugepages(1) child", st, err);
    const char *malloc_mode[] = {"PYMT_MALLOC=malloc", "PYMT_HUGEPAGES=1", NULL};
    st = check_spawn_self("child_reports_off", malloc_mode, err, sizeof err);
    CHECK_CHILD_EXIT0("PYMT_MALLOC=malloc child", st, err);
}

static const check_case cases[] = {
    CHECK_CASE(arenas_come_in_aligned_pairs),
    CHECK_CASE(trim_unmaps_the_unused_half),
    CHECK_CASE(default_and_api),
    CHECK_CASE(child_reports_off),
    CHECK_CASE(child_set_before_first_use),
};
CHECK_MAIN(cases)

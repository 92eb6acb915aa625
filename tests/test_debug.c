/* test_debug.c: debug mode (PYMT_MALLOC=debug or malloc_debug, set by ctest's ENVIRONMENT).
 *
 * Every misuse runs in a fresh child process (check_spawn_self) and the parent checks that the
 * child died of SIGABRT and that its report names the kind of error and both families: family
 * mismatches in each direction (free, realloc, pymt_object_del), underrun and overrun on free and
 * on realloc, a byte written into a 0-byte block of either family, double free, pointers never
 * handed out (also when the faulty call is the process's first call into pymt), use after free
 * (DEAD fill changed when the block leaves the quarantine). The report hook, PYMT_DEBUG_LOG,
 * PYMT_DEBUG_BACKTRACE and pymt_check_heap are checked the same way, then a clean 8-thread run
 * with cross-thread frees of all three families must report nothing. */
#include "check.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>

#define CLEAN 0xCD
#define DEAD 0xDD
#define FORBIDDEN 0xFD

static const pymt_type point_type = {"test.point", sizeof(pymt_object) + 16, 0};

/* Read a byte of memory the program has freed (it sits in the quarantine, still mapped), out of
 * the compiler's sight. */
static unsigned char peek(const void *p, size_t i) {
    volatile uintptr_t a = (uintptr_t)p;
    return ((volatile const unsigned char *)a)[i];
}
static void poke(void *p, ptrdiff_t i, unsigned char v) {
    volatile uintptr_t a = (uintptr_t)p;
    ((volatile unsigned char *)a)[i] = v;
}

static bool in_debug_mode(void) {
    pymt_mode m = pymt_get_mode();
    return m == PYMT_MODE_PYMALLOC_DEBUG || m == PYMT_MODE_MALLOC_DEBUG;
}

/* ---- the report hook, for the cases that run in this process -------------------------------- */

static _Atomic int hook_calls;
static char hook_text[4096];

static void record_hook(const char *report, size_t len, void *ctx) {
    (void)ctx;
    if (atomic_fetch_add_explicit(&hook_calls, 1, memory_order_relaxed) == 0) {
        size_t n = len < sizeof hook_text - 1 ? len : sizeof hook_text - 1;
        memcpy(hook_text, report, n);
        hook_text[n] = '\0';
    }
}
static void hook_on(void) {
    atomic_store_explicit(&hook_calls, 0, memory_order_relaxed);
    hook_text[0] = '\0';
    pymt_set_report_hook(record_hook, NULL);
}

/* ---- death tests --------------------------------------------------------------------------- */

#define TEXT_CAP 65536

/* Run child case `name` with env; require SIGABRT and every string of want[] in its stderr. */
static void expect_abort(const char *name, const char *const *env, const char *const *want) {
    static char err[TEXT_CAP];
    int st = check_spawn_self(name, env, err, sizeof err);
    bool ok = WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT;
    for (; ok && *want; want++)
        if (!strstr(err, *want)) {
            fprintf(stderr, "    missing from the report: \"%s\"\n", *want);
            ok = false;
        }
    if (!ok) {
        check_fail_at(__FILE__, __LINE__, name);
        check_show_child(name, st, err);
    }
}
#define EXPECT_ABORT(name, ...)                                                              \
    do {                                                                                     \
        const char *const want_[] = {__VA_ARGS__, NULL};                                     \
        expect_abort(#name, NULL, want_);                                                    \
    } while (0)

static void child_raw_freed_as_object(void) {
    void *p = pymt_mem_malloc(40);
    pymt_object_free(p);
}
static void child_object_freed_as_raw(void) {
    void *p = pymt_object_malloc(40);
    pymt_mem_free(p);
}
static void child_object_del_of_raw(void) {
    void *p = pymt_mem_malloc(32);
    pymt_object_del(p);
}
static void child_raw_free_of_object(void) {
    pymt_object *o = pymt_object_new(&point_type);
    pymt_mem_free(o);
}
static void child_raw_realloc_of_objmem(void) {
    void *p = pymt_object_calloc(3, 8);
    void *q = pymt_mem_realloc(p, 100);
    (void)q;
}
static void child_underrun_on_free(void) {
    unsigned char *p = pymt_object_malloc(24);
    poke(p, -1, 0);
    pymt_object_free(p);
}
static void child_overrun_on_free(void) {
    unsigned char *p = pymt_mem_malloc(24);
    poke(p, 24, 'x');
    pymt_mem_free(p);
}
static void child_underrun_on_realloc(void) {
    unsigned char *p = pymt_mem_malloc(100);
    poke(p, -3, 0);
    void *q = pymt_mem_realloc(p, 200);
    (void)q;
}
static void child_overrun_on_realloc(void) {
    unsigned char *p = pymt_object_malloc(24);
    poke(p, 24 + 7, 0);
    void *q = pymt_object_realloc(p, 100);
    (void)q;
}
static void child_header_smashed(void) {
    unsigned char *p = pymt_object_malloc(64);
    for (int i = 1; i <= 40; i++)
        poke(p, -i, 0x41);
    pymt_object_free(p);
}
static void child_double_free(void) {
    void *p = pymt_object_malloc(16);
    pymt_object_free(p);
    pymt_object_free(p);
}
static void child_double_del_after_free(void) {
    pymt_object *o = pymt_object_new(&point_type);
    pymt_object_del(o);
    pymt_mem_free(o);
}
/* A block that realloc moved is freed by realloc: the report names it. */
static void child_free_after_realloc(void) {
    void *p = pymt_object_malloc(40);
    void *q = pymt_object_realloc(p, 80);
    (void)q;
    pymt_object_free(p);
}
static void child_realloc_after_realloc(void) {
    void *p = pymt_mem_malloc(10);
    void *q = pymt_mem_realloc(p, 20);
    (void)q;
    q = pymt_mem_realloc(p, 30);
}
static void child_never_allocated(void) {
    static _Alignas(16) unsigned char not_ours[256];
    pymt_object_free(not_ours + 64);
}
static void child_interior_pointer(void) {
    unsigned char *p = pymt_mem_malloc(256);
    pymt_mem_free(p + 32);
}
static void child_use_after_free(void) {
    unsigned char *p = pymt_object_malloc(48);
    pymt_object_free(p);
    poke(p, 5, 0x42);
    /* Churn until the block leaves the quarantine (bounded by blocks and bytes). */
    for (int i = 0; i < 100000; i++)
        pymt_object_free(pymt_object_malloc(32));
    fprintf(stderr, "use after free was not detected\n");
}

static void family_mismatch_is_reported_in_each_direction(void) {
    REQUIRE(in_debug_mode());
    EXPECT_ABORT(child_raw_freed_as_object, "family mismatch",
                 "allocated by raw memory (pymt_mem_malloc)",
                 "freed by object memory (pymt_object_free)", "40 bytes requested");
    EXPECT_ABORT(child_object_freed_as_raw, "family mismatch",
                 "allocated by object memory (pymt_object_malloc)",
                 "freed by raw memory (pymt_mem_free)");
    EXPECT_ABORT(child_object_del_of_raw, "family mismatch",
                 "allocated by raw memory (pymt_mem_malloc)", "freed by objects (pymt_object_del)");
    EXPECT_ABORT(child_raw_free_of_object, "family mismatch",
                 "allocated by objects (pymt_object_new/newvar)", "freed by raw memory (pymt_mem_free)");
    EXPECT_ABORT(child_raw_realloc_of_objmem, "family mismatch",
                 "allocated by object memory (pymt_object_calloc)",
                 "reallocated by raw memory (pymt_mem_realloc)");
}

static void guard_damage_is_reported_on_free_and_realloc(void) {
    REQUIRE(in_debug_mode());
    EXPECT_ABORT(child_underrun_on_free, "buffer underrun", "found by pymt_object_free",
                 "leading guard (16 bytes before p): CHANGED",
                 "found    fd fd fd fd fd fd fd fd fd fd fd fd fd fd fd 00",
                 "allocated by object memory (pymt_object_malloc)", "24 bytes requested",
                 "payload (first 16 bytes): cd cd");
    EXPECT_ABORT(child_overrun_on_free, "buffer overrun", "found by pymt_mem_free",
                 "trailing guard (16 bytes at p+24): CHANGED", "found    78 fd fd",
                 "allocated by raw memory (pymt_mem_malloc)");
    EXPECT_ABORT(child_underrun_on_realloc, "buffer underrun", "found by pymt_mem_realloc",
                 "allocated by raw memory (pymt_mem_malloc)");
    EXPECT_ABORT(child_overrun_on_realloc, "buffer overrun", "found by pymt_object_realloc",
                 "found    fd fd fd fd fd fd fd 00 fd");
    EXPECT_ABORT(child_header_smashed, "header corrupted", "found by pymt_object_free");
}

/* A 0-byte block has no payload: its trailing guard starts at p, so one byte written there is
 * an overrun, in object memory as in raw memory. */
static void child_overrun_of_object_malloc_zero(void) {
    unsigned char *p = pymt_object_malloc(0);
    poke(p, 0, 'x');
    pymt_object_free(p);
}
static void child_overrun_of_object_calloc_zero(void) {
    unsigned char *p = pymt_object_calloc(0, 1);
    poke(p, 0, 'x');
    pymt_object_free(p);
}
static void child_overrun_of_object_realloc_zero(void) {
    unsigned char *p = pymt_object_realloc(pymt_object_malloc(24), 0);
    poke(p, 0, 'x');
    pymt_object_free(p);
}
static void child_overrun_of_mem_malloc_zero(void) {
    unsigned char *p = pymt_mem_malloc(0);
    poke(p, 0, 'x');
    pymt_mem_free(p);
}

static void zero_byte_blocks_have_no_usable_bytes(void) {
    REQUIRE(in_debug_mode());
    void *p[] = {pymt_object_malloc(0), pymt_object_calloc(0, 1), pymt_object_calloc(1, 0),
                 pymt_object_realloc(pymt_object_malloc(24), 0), pymt_object_realloc(NULL, 0),
                 pymt_mem_malloc(0), pymt_mem_calloc(0, 1), pymt_mem_realloc(NULL, 0)};
    enum { N = sizeof p / sizeof p[0] };
    for (size_t i = 0; i < N; i++) {
        if (p[i] == NULL || pymt_usable_size(p[i]) != 0) {
            check_fail_at(__FILE__, __LINE__, "a 0-byte block is live with 0 usable bytes");
            fprintf(stderr, "    block %zu: %p, usable %zu\n", i, p[i], pymt_usable_size(p[i]));
        }
    }
    for (size_t i = 0; i < N; i++) {
        if (i < 5)
            pymt_object_free(p[i]);
        else
            pymt_mem_free(p[i]);
    }
    CHECK_EQ(pymt_check_heap(), 0);
}

static void writing_into_a_zero_byte_block_is_an_overrun(void) {
    REQUIRE(in_debug_mode());
    EXPECT_ABORT(child_overrun_of_object_malloc_zero, "buffer overrun", "found by pymt_object_free",
                 "trailing guard (16 bytes at p+0): CHANGED", "found    78 fd fd",
                 "allocated by object memory (pymt_object_malloc)", "0 bytes requested");
    EXPECT_ABORT(child_overrun_of_object_calloc_zero, "buffer overrun", "found by pymt_object_free",
                 "trailing guard (16 bytes at p+0): CHANGED",
                 "allocated by object memory (pymt_object_calloc)", "0 bytes requested");
    EXPECT_ABORT(child_overrun_of_object_realloc_zero, "buffer overrun",
                 "found by pymt_object_free", "trailing guard (16 bytes at p+0): CHANGED",
                 "allocated by object memory (pymt_object_realloc)", "0 bytes requested");
    EXPECT_ABORT(child_overrun_of_mem_malloc_zero, "buffer overrun", "found by pymt_mem_free",
                 "trailing guard (16 bytes at p+0): CHANGED",
                 "allocated by raw memory (pymt_mem_malloc)", "0 bytes requested");
}

static void double_free_and_foreign_pointers_are_reported(void) {
    REQUIRE(in_debug_mode());
    EXPECT_ABORT(child_double_free, "double free",
                 "already freed by object memory (pymt_object_free)",
                 "now passed to object memory (pymt_object_free)", "payload (first 16 bytes): dd dd");
    EXPECT_ABORT(child_double_del_after_free, "double free",
                 "already freed by objects (pymt_object_del)",
                 "now passed to raw memory (pymt_mem_free)");
    EXPECT_ABORT(child_free_after_realloc, "double free",
                 "already freed by object memory (pymt_object_realloc)",
                 "now passed to object memory (pymt_object_free)");
    EXPECT_ABORT(child_realloc_after_realloc, "realloc of a freed block",
                 "already freed by raw memory (pymt_mem_realloc)",
                 "now passed to raw memory (pymt_mem_realloc)");
    EXPECT_ABORT(child_never_allocated, "never handed out by pymt",
                 "passed to object memory (pymt_object_free)");
    EXPECT_ABORT(child_interior_pointer, "never handed out by pymt",
                 "passed to raw memory (pymt_mem_free)");
}

static void use_after_free_is_found_when_the_block_leaves_quarantine(void) {
    REQUIRE(in_debug_mode());
    EXPECT_ABORT(child_use_after_free, "use after free: written after being freed",
                 "first changed byte at offset 5", "found when it left the quarantine",
                 "allocated by object memory (pymt_object_malloc), freed by object memory",
                 "48 bytes requested", "payload (first 16 bytes): dd dd dd dd dd 42 dd");
}

/* ---- the first call of a process ----------------------------------------------------------- */

/* In these children the call under test is the process's first call into pymt: it must see
 * the mode that initialisation sets, as every later call does. */
static void child_first_call_mem_free_of_a_stack_address(void) {
    _Alignas(16) unsigned char on_stack[64];
    pymt_mem_free(on_stack + 16);
}
static void child_first_call_mem_free_of_a_system_block(void) {
    void *g = malloc(40); /* the C library's, not pymt's */
    pymt_mem_free(g);
}
static void child_first_call_object_del_of_a_system_block(void) {
    void *g = malloc(40);
    pymt_object_del(g);
}
static void child_first_call_object_free_of_a_stack_address(void) {
    _Alignas(16) unsigned char on_stack[64];
    pymt_object_free(on_stack + 16);
}
static void child_first_call_mem_realloc_of_a_system_block(void) {
    void *g = malloc(40);
    void *q = pymt_mem_realloc(g, 100);
    (void)q;
}
static void child_first_call_object_realloc_of_a_stack_address(void) {
    _Alignas(16) unsigned char on_stack[64];
    void *q = pymt_object_realloc(on_stack + 16, 100);
    (void)q;
}
static void child_first_call_usable_size_of_a_system_block(void) {
    void *g = calloc(1, 40);
    size_t first = pymt_usable_size(g); /* debug mode: not a live pymt block, so 0 */
    size_t again = pymt_usable_size(g);
    CHECK_EQ(first, 0);
    CHECK_EQ(first, again);
    free(g);
}

static void the_first_call_of_a_process_sees_debug_mode(void) {
    REQUIRE(in_debug_mode());
    EXPECT_ABORT(child_first_call_mem_free_of_a_stack_address, "never handed out by pymt",
                 "passed to raw memory (pymt_mem_free)");
    EXPECT_ABORT(child_first_call_mem_free_of_a_system_block, "never handed out by pymt",
                 "passed to raw memory (pymt_mem_free)");
    EXPECT_ABORT(child_first_call_object_del_of_a_system_block, "never handed out by pymt",
                 "passed to objects (pymt_object_del)");
    EXPECT_ABORT(child_first_call_object_free_of_a_stack_address, "never handed out by pymt",
                 "passed to object memory (pymt_object_free)");
    EXPECT_ABORT(child_first_call_mem_realloc_of_a_system_block, "never handed out by pymt",
                 "passed to raw memory (pymt_mem_realloc)");
    EXPECT_ABORT(child_first_call_object_realloc_of_a_stack_address, "never handed out by pymt",
                 "passed to object memory (pymt_object_realloc)");
    static char err[TEXT_CAP];
    int st = check_spawn_self("child_first_call_usable_size_of_a_system_block", NULL, err,
                              sizeof err);
    CHECK_CHILD_EXIT0("child_first_call_usable_size_of_a_system_block", st, err);
}

/* PYMT_DEBUG_LOG: the report goes to the file (opened at init), not to stderr. */
static void debug_log_receives_the_report(void) {
    REQUIRE(in_debug_mode());
    char path[] = "/tmp/pymt_debug_log_XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    close(fd);
    char envvar[sizeof path + 32];
    snprintf(envvar, sizeof envvar, "PYMT_DEBUG_LOG=%s", path);
    const char *env[] = {envvar, NULL};
    static char err[TEXT_CAP];
    int st = check_spawn_self("child_object_freed_as_raw", env, err, sizeof err);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
    CHECK(strstr(err, "family mismatch") == NULL);
    static char log[TEXT_CAP];
    fd = open(path, O_RDONLY);
    REQUIRE(fd >= 0);
    ssize_t n = read(fd, log, sizeof log - 1);
    close(fd);
    unlink(path);
    log[n > 0 ? n : 0] = '\0';
    CHECK(strstr(log, "family mismatch") != NULL);
    CHECK(strstr(log, "freed by raw memory (pymt_mem_free)") != NULL);
}

/* Exported (the test links with -rdynamic) so backtrace_symbols_fd can name it. */
__attribute__((noinline)) void *pymt_test_alloc_site(size_t n) {
    void *p = pymt_object_malloc(n);
    __asm__ volatile("" ::: "memory"); /* not a tail call: keep this frame */
    return p;
}
static void child_overrun_with_backtrace(void) {
    unsigned char *p = pymt_test_alloc_site(40);
    poke(p, 40, 0);
    pymt_object_free(p);
}

static void backtrace_option_adds_the_allocation_stack(void) {
    REQUIRE(in_debug_mode());
    const char *env[] = {"PYMT_DEBUG_BACKTRACE=1", NULL};
    const char *want[] = {"buffer overrun", "allocation stack:", "addr2line -f -C -e ",
                          "pymt_test_alloc_site", NULL};
    expect_abort("child_overrun_with_backtrace", env, want);
    const char *off[] = {"PYMT_DEBUG_BACKTRACE", NULL};
    static char err[TEXT_CAP];
    int st = check_spawn_self("child_overrun_with_backtrace", off, err, sizeof err);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
    CHECK(strstr(err, "buffer overrun") != NULL);
    CHECK(strstr(err, "allocation stack") == NULL);
}

/* ---- the report hook ----------------------------------------------------------------------- */

static void report_hook_takes_the_report_and_the_operation_is_abandoned(void) {
    REQUIRE(in_debug_mode());
    hook_on();
    unsigned char *p = pymt_mem_malloc(32);
    REQUIRE(p != NULL);
    memset(p, 7, 32);
    pymt_object_free(p); /* wrong family: reported, not freed */
    CHECK_EQ(atomic_load(&hook_calls), 1);
    CHECK(strstr(hook_text, "family mismatch") != NULL);
    CHECK(strstr(hook_text, "freed by object memory (pymt_object_free)") != NULL);
    CHECK_EQ(pymt_usable_size(p), 32);
    CHECK_EQ(p[31], 7);
    errno = 0;
    CHECK(pymt_object_realloc(p, 64) == NULL); /* wrong family again: NULL, p untouched */
    CHECK_EQ(atomic_load(&hook_calls), 2);
    CHECK_EQ(pymt_usable_size(p), 32);
    pymt_mem_free(p); /* the right family works */
    CHECK_EQ(atomic_load(&hook_calls), 2);
    pymt_mem_free(p); /* now a double free: reported, ignored */
    CHECK_EQ(atomic_load(&hook_calls), 3);
    pymt_set_report_hook(NULL, NULL);
    CHECK_EQ(pymt_check_heap(), 0);
}

/* ---- pymt_check_heap ----------------------------------------------------------------------- */

static void check_heap_counts_corrupt_blocks_and_reports_each(void) {
    REQUIRE(in_debug_mode());
    hook_on();
    CHECK_EQ(pymt_check_heap(), 0);
    unsigned char *a = pymt_object_malloc(40);
    unsigned char *b = pymt_mem_malloc(700);
    pymt_object *o = pymt_object_new(&point_type);
    REQUIRE(a && b && o);
    CHECK_EQ(pymt_check_heap(), 0);
    poke(a, 40, 1);
    CHECK_EQ(pymt_check_heap(), 1);
    CHECK_EQ(atomic_load(&hook_calls), 1);
    CHECK(strstr(hook_text, "buffer overrun") != NULL);
    CHECK(strstr(hook_text, "found by pymt_check_heap") != NULL);
    CHECK(strstr(hook_text, "allocated by object memory (pymt_object_malloc)") != NULL);
    poke(b, -16, 0);
    hook_on();
    CHECK_EQ(pymt_check_heap(), 2);
    CHECK_EQ(atomic_load(&hook_calls), 2);
    poke(a, 40, FORBIDDEN);
    poke(b, -16, FORBIDDEN);
    CHECK_EQ(pymt_check_heap(), 0);
    /* A write into a freed block is found in the quarantine. */
    pymt_object_del(o);
    poke(o, 20, 0);
    hook_on();
    CHECK_EQ(pymt_check_heap(), 1);
    CHECK(strstr(hook_text, "use after free: written after being freed") != NULL);
    CHECK(strstr(hook_text, "allocated by objects (pymt_object_new/newvar), freed by objects") != NULL);
    poke(o, 20, DEAD); /* repair, so it leaves the quarantine cleanly later */
    CHECK_EQ(pymt_check_heap(), 0);
    pymt_object_free(a);
    pymt_mem_free(b);
    pymt_set_report_hook(NULL, NULL);
}

static void child_check_heap_without_hook(void) {
    unsigned char *a = pymt_object_malloc(40);
    poke(a, 41, 0);
    size_t bad = pymt_check_heap();
    poke(a, 41, FORBIDDEN);
    pymt_object_free(a);
    if (bad != 1)
        fprintf(stderr, "check_heap returned %zu\n", bad);
    exit(bad == 1 ? 0 : 1);
}

/* An overrun of more than the 16 trailing guard bytes reaches the head of the next block of
 * its pool, whose first word is its registry link. pymt_check_heap reports both blocks and
 * returns; the block whose link changed is reported again when the trim empties the
 * quarantine it went to (fatal: it cannot be taken out of the registry). Nothing follows the
 * changed link. */
static void child_overrun_into_the_next_head(void) {
    enum { N = 64, STEP = 48 + 32 + 16 }; /* head, payload, trailer: neighbours in a pool */
    static unsigned char *blk[N];
    unsigned char *a = NULL, *b = NULL;
    for (int i = 0; i < N; i++)
        blk[i] = pymt_object_malloc(32);
    for (int i = 0; i < N && !a; i++)
        for (int j = 0; j < N; j++)
            if (blk[j] == blk[i] + STEP) {
                a = blk[i];
                b = blk[j];
                break;
            }
    if (!a) {
        fprintf(stderr, "no two neighbours among %d blocks\n", N);
        exit(1);
    }
    for (int i = 32; i < 32 + 24; i++) /* the trailer, then the next head's link */
        poke(a, i, 0x41);
    size_t bad = pymt_check_heap();
    fprintf(stderr, "check_heap returned %zu\n", bad);
    pymt_object_free(b);
    (void)pymt_trim();
    fprintf(stderr, "the trim returned\n");
}

static void an_overrun_into_the_next_head_is_reported_not_followed(void) {
    REQUIRE(in_debug_mode());
    if (pymt_get_mode() != PYMT_MODE_PYMALLOC_DEBUG)
        CHECK_SKIP("neighbouring heads are a pool's");
    EXPECT_ABORT(child_overrun_into_the_next_head, "buffer overrun", "check_heap returned 2",
                 "registry link changed", "found by pymt_check_heap", "found by pymt_trim",
                 "32 bytes requested");
}

static void check_heap_without_hook_reports_and_returns(void) {
    REQUIRE(in_debug_mode());
    static char err[TEXT_CAP];
    int st = check_spawn_self("child_check_heap_without_hook", NULL, err, sizeof err);
    CHECK_CHILD_EXIT0("child_check_heap_without_hook", st, err);
    CHECK(strstr(err, "buffer overrun") != NULL);
}

/* ---- contents, sizes, fills ---------------------------------------------------------------- */

static void fresh_memory_is_clean_calloc_is_zero_freed_memory_is_dead(void) {
    REQUIRE(in_debug_mode());
    static const size_t sizes[] = {0, 1, 15, 16, 17, 100, 447, 448, 449, 512, 513, 4000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        unsigned char *r = pymt_mem_malloc(n), *m = pymt_object_malloc(n);
        unsigned char *z = pymt_object_calloc(1, n), *zr = pymt_mem_calloc(n, 1);
        REQUIRE(r && m && z && zr);
        CHECK(check_aligned(r) && check_aligned(m) && check_aligned(z) && check_aligned(zr));
        CHECK_EQ(pymt_usable_size(r), n);
        /* the debug layer sees the request itself, 0 included, so its trailer starts right
         * after the bytes the program asked for (a write into a 0-byte block is an overrun) */
        CHECK_EQ(pymt_usable_size(m), n);
        for (size_t k = 0; k < n; k++)
            if (r[k] != CLEAN || m[k] != CLEAN || z[k] != 0 || zr[k] != 0) {
                check_fail_at(__FILE__, __LINE__, "fresh fill");
                break;
            }
        pymt_mem_free(r);
        pymt_object_free(m);
        pymt_object_free(z);
        pymt_mem_free(zr);
        for (size_t k = 0; k < n; k++)
            if (peek(r, k) != DEAD || peek(m, k) != DEAD || peek(z, k) != DEAD) {
                check_fail_at(__FILE__, __LINE__, "freed memory is DEAD");
                break;
            }
    }
}

static void realloc_keeps_contents_and_fills_growth_clean(void) {
    REQUIRE(in_debug_mode());
    unsigned char *p = pymt_object_malloc(10);
    REQUIRE(p);
    for (int i = 0; i < 10; i++)
        p[i] = (unsigned char)i;
    unsigned char *q = pymt_object_realloc(p, 600);
    REQUIRE(q);
    CHECK(q != p); /* debug realloc always moves, so the old block is checked in quarantine */
    for (int i = 0; i < 10; i++)
        CHECK_EQ(q[i], i);
    CHECK_EQ(q[10], CLEAN);
    CHECK_EQ(q[599], CLEAN);
    CHECK_EQ(pymt_usable_size(q), 600);
    unsigned char *r = pymt_object_realloc(q, 4);
    REQUIRE(r);
    CHECK_EQ(r[3], 3);
    CHECK_EQ(pymt_usable_size(r), 4);
    pymt_object_free(r);
    unsigned char *s = pymt_mem_realloc(NULL, 20);
    REQUIRE(s);
    CHECK_EQ(s[19], CLEAN);
    pymt_mem_free(s);
    CHECK_EQ(pymt_check_heap(), 0);
}

static void live_debug_blocks_are_counted_per_family(void) {
    REQUIRE(in_debug_mode());
    pymt_stats before = check_stats();
    void *r[3], *m[2];
    for (int i = 0; i < 3; i++)
        r[i] = pymt_mem_malloc(8);
    for (int i = 0; i < 2; i++)
        m[i] = pymt_object_malloc(800 * (size_t)i);
    pymt_object *o = pymt_object_new(&point_type);
    pymt_stats during = check_stats();
    CHECK_EQ(during.debug_blocks_raw - before.debug_blocks_raw, 3);
    CHECK_EQ(during.debug_blocks_objmem - before.debug_blocks_objmem, 2);
    CHECK_EQ(during.debug_blocks_object - before.debug_blocks_object, 1);
    for (int i = 0; i < 3; i++)
        pymt_mem_free(r[i]);
    for (int i = 0; i < 2; i++)
        pymt_object_free(m[i]);
    pymt_object_del(o);
    pymt_stats after = check_stats();
    CHECK_EQ(after.debug_blocks_raw, before.debug_blocks_raw);
    CHECK_EQ(after.debug_blocks_objmem, before.debug_blocks_objmem);
    CHECK_EQ(after.debug_blocks_object, before.debug_blocks_object);
}

static void quarantined_blocks_are_counted_apart_from_live_ones(void) {
    REQUIRE(in_debug_mode());
    (void)pymt_trim(); /* empties the quarantine */
    pymt_stats before = check_stats();
    CHECK_EQ(before.debug_quarantine_blocks, 0);
    CHECK_EQ(before.debug_quarantine_bytes, 0);
    void *m[10];
    for (int i = 0; i < 10; i++)
        m[i] = pymt_object_malloc(100);
    for (int i = 0; i < 10; i++)
        pymt_object_free(m[i]);
    pymt_stats after = check_stats();
    CHECK_EQ(after.debug_blocks_objmem, before.debug_blocks_objmem);
    CHECK_EQ(after.debug_quarantine_blocks, 10);
    CHECK(after.debug_quarantine_bytes >= 10 * 100);
    char *text = check_stats_text();
    CHECK(text != NULL && strstr(text, "debug blocks in quarantine       = 10 (") != NULL);
    free(text);
    (void)pymt_trim();
    CHECK_EQ(check_stats().debug_quarantine_blocks, 0);
}

/* The quarantine keeps to 4 MiB whatever the sizes: a ring nearly full of small blocks, then
 * big ones freed one by one, each pushing out as many of the oldest as the bytes need. */
static void quarantine_keeps_its_byte_bound_when_blocks_grow(void) {
    REQUIRE(in_debug_mode());
    (void)pymt_trim();
    enum { SMALL = 4000, BIG = 64 << 10 };
    static void *small[SMALL];
    for (int i = 0; i < SMALL; i++)
        REQUIRE((small[i] = pymt_object_malloc(16)) != NULL);
    for (int i = 0; i < SMALL; i++)
        pymt_object_free(small[i]);
    size_t most = 0;
    for (int i = 0; i < 200; i++) {
        void *p = pymt_object_malloc(BIG);
        REQUIRE(p != NULL);
        pymt_object_free(p);
        size_t bytes = check_stats().debug_quarantine_bytes;
        if (bytes > most)
            most = bytes;
    }
    /* the bound, and at most the one block that passed it, decorations included */
    CHECK(most <= ((size_t)4 << 20) + BIG + 4096);
    if (most > ((size_t)4 << 20) + BIG + 4096)
        fprintf(stderr, "    quarantine held %zu bytes\n", most);
    (void)pymt_trim();
}

/* ---- threads ------------------------------------------------------------------------------- */

#define THREADS 8
#define OPS 20000
#define SLOTS 256

/* Blocks handed between threads: pointer | family (blocks are 16-byte aligned). */
static _Atomic uintptr_t slots[SLOTS];
static pthread_barrier_t start_line;

static void free_tagged(uintptr_t t) {
    unsigned char *p = (unsigned char *)(t & ~(uintptr_t)15);
    int fam = (int)(t & 15);
    /* The first bytes carry the allocating thread's pattern: check it crossed intact. */
    unsigned char tag = p[0];
    if (p[1] != (unsigned char)(tag ^ 0x5a))
        atomic_fetch_add_explicit(&hook_calls, 1000, memory_order_relaxed);
    if (fam == 0)
        pymt_mem_free(p);
    else if (fam == 1)
        pymt_object_free(p);
    else
        pymt_object_del(p);
}

static void *thread_body(void *arg) {
    uint64_t x = (uint64_t)(uintptr_t)arg * 0x9E3779B97F4A7C15ull + 1;
    pthread_barrier_wait(&start_line);
    for (int i = 0; i < OPS; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int fam = (int)(x % 3);
        size_t n = 2 + (size_t)(x >> 8) % 700;
        unsigned char *p;
        if (fam == 0)
            p = pymt_mem_malloc(n);
        else if (fam == 1)
            p = (x >> 20) & 1 ? pymt_object_calloc(1, n) : pymt_object_malloc(n);
        else
            p = (unsigned char *)pymt_object_new(&point_type);
        if (!p)
            continue;
        unsigned char tag = (unsigned char)(x >> 32);
        p[0] = tag;
        p[1] = (unsigned char)(tag ^ 0x5a);
        if ((x >> 40) % 4 == 0 && fam == 1) {
            unsigned char *q = pymt_object_realloc(p, n * 2);
            if (q)
                p = q;
        }
        uintptr_t old = atomic_exchange_explicit(&slots[(x >> 24) % SLOTS],
                                                 (uintptr_t)p | (uintptr_t)fam,
                                                 memory_order_acq_rel);
        if (old)
            free_tagged(old);
    }
    return NULL;
}

static void threads_with_cross_thread_frees_report_nothing(void) {
    REQUIRE(in_debug_mode());
    hook_on();
    pymt_stats before = check_stats();
    pthread_t t[THREADS];
    pthread_barrier_init(&start_line, NULL, THREADS);
    for (int i = 0; i < THREADS; i++)
        REQUIRE(pthread_create(&t[i], NULL, thread_body, (void *)(uintptr_t)(i + 1)) == 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&start_line);
    CHECK_EQ(pymt_check_heap(), 0);
    for (int i = 0; i < SLOTS; i++) {
        uintptr_t old = atomic_exchange_explicit(&slots[i], 0, memory_order_acq_rel);
        if (old)
            free_tagged(old);
    }
    CHECK_EQ(atomic_load(&hook_calls), 0);
    if (atomic_load(&hook_calls))
        fprintf(stderr, "    first report:\n%s", hook_text);
    CHECK_EQ(pymt_check_heap(), 0);
    pymt_stats after = check_stats();
    CHECK_EQ(after.debug_blocks_raw, before.debug_blocks_raw);
    CHECK_EQ(after.debug_blocks_objmem, before.debug_blocks_objmem);
    CHECK_EQ(after.debug_blocks_object, before.debug_blocks_object);
    pymt_set_report_hook(NULL, NULL);
}

static void runs_in_a_debug_mode(void) {
    CHECK(in_debug_mode());
    CHECK(!pymt_tcache_enabled());
}

static const check_case cases[] = {
    CHECK_CASE(runs_in_a_debug_mode),
    CHECK_CASE(fresh_memory_is_clean_calloc_is_zero_freed_memory_is_dead),
    CHECK_CASE(realloc_keeps_contents_and_fills_growth_clean),
    CHECK_CASE(live_debug_blocks_are_counted_per_family),
    CHECK_CASE(quarantine_keeps_its_byte_bound_when_blocks_grow),
    CHECK_CASE(report_hook_takes_the_report_and_the_operation_is_abandoned),
    CHECK_CASE(check_heap_counts_corrupt_blocks_and_reports_each),
    CHECK_CASE(check_heap_without_hook_reports_and_returns),
    CHECK_CASE(an_overrun_into_the_next_head_is_reported_not_followed),
    CHECK_CASE(family_mismatch_is_reported_in_each_direction),
    CHECK_CASE(guard_damage_is_reported_on_free_and_realloc),
    CHECK_CASE(zero_byte_blocks_have_no_usable_bytes),
    CHECK_CASE(writing_into_a_zero_byte_block_is_an_overrun),
    CHECK_CASE(double_free_and_foreign_pointers_are_reported),
    CHECK_CASE(use_after_free_is_found_when_the_block_leaves_quarantine),
    CHECK_CASE(the_first_call_of_a_process_sees_debug_mode),
    CHECK_CASE(debug_log_receives_the_report),
    CHECK_CASE(backtrace_option_adds_the_allocation_stack),
    CHECK_CASE(quarantined_blocks_are_counted_apart_from_live_ones),
    CHECK_CASE(threads_with_cross_thread_frees_report_nothing),
    CHECK_CASE(child_raw_freed_as_object),
    CHECK_CASE(child_object_freed_as_raw),
    CHECK_CASE(child_object_del_of_raw),
    CHECK_CASE(child_raw_free_of_object),
    CHECK_CASE(child_raw_realloc_of_objmem),
    CHECK_CASE(child_underrun_on_free),
    CHECK_CASE(child_overrun_on_free),
    CHECK_CASE(child_underrun_on_realloc),
    CHECK_CASE(child_overrun_on_realloc),
    CHECK_CASE(child_header_smashed),
    CHECK_CASE(child_free_after_realloc),
    CHECK_CASE(child_realloc_after_realloc),
    CHECK_CASE(child_overrun_into_the_next_head),
    CHECK_CASE(child_double_free),
    CHECK_CASE(child_double_del_after_free),
    CHECK_CASE(child_never_allocated),
    CHECK_CASE(child_overrun_of_object_malloc_zero),
    CHECK_CASE(child_overrun_of_object_calloc_zero),
    CHECK_CASE(child_overrun_of_object_realloc_zero),
    CHECK_CASE(child_overrun_of_mem_malloc_zero),
    CHECK_CASE(child_interior_pointer),
    CHECK_CASE(child_use_after_free),
    CHECK_CASE(child_first_call_mem_free_of_a_stack_address),
    CHECK_CASE(child_first_call_mem_free_of_a_system_block),
    CHECK_CASE(child_first_call_object_del_of_a_system_block),
    CHECK_CASE(child_first_call_object_free_of_a_stack_address),
    CHECK_CASE(child_first_call_mem_realloc_of_a_system_block),
    CHECK_CASE(child_first_call_object_realloc_of_a_stack_address),
    CHECK_CASE(child_first_call_usable_size_of_a_system_block),
    CHECK_CASE(child_check_heap_without_hook),
    CHECK_CASE(child_overrun_with_backtrace),
};
CHECK_MAIN(cases)

/* test_compat.c: code written with the Python 2.3 memory names (compat_ext.c, which includes
 * only pymt/pymemcompat.h) runs on pymt: every family lands where it should, a clean run reports
 * nothing in debug mode, and its one deliberate family mismatch is caught in a child. The
 * refusal to share a file with Python.h is checked at compile time by ctest (debug.cmake). */
#include "check.h"

#include <stdatomic.h>

#include "compat_ext.h"

static _Atomic int reports;
static void count_report(const char *text, size_t len, void *ctx) {
    (void)ctx;
    atomic_fetch_add_explicit(&reports, 1, memory_order_relaxed);
    fprintf(stderr, "    unexpected report:\n%.*s", (int)len, text);
}

static bool in_debug_mode(void) {
    pymt_mode m = pymt_get_mode();
    return m == PYMT_MODE_PYMALLOC_DEBUG || m == PYMT_MODE_MALLOC_DEBUG;
}

static void python_names_run_clean(void) {
    pymt_set_report_hook(count_report, NULL);
    CHECK_EQ(compat_ext_run(), 0);
    CHECK_EQ(atomic_load(&reports), 0);
    CHECK_EQ(pymt_check_heap(), 0);
    pymt_set_report_hook(NULL, NULL);
}

static void python_names_map_to_the_matching_family(void) {
    if (!in_debug_mode())
        CHECK_SKIP("the per-family counts exist in debug mode only");
    pymt_stats before = check_stats();
    void *b = compat_ext_buffer(), *r = compat_ext_record(), *o = compat_ext_object();
    REQUIRE(b && r && o);
    pymt_stats during = check_stats();
    CHECK_EQ(during.debug_blocks_raw - before.debug_blocks_raw, 1);
    CHECK_EQ(during.debug_blocks_objmem - before.debug_blocks_objmem, 1);
    CHECK_EQ(during.debug_blocks_object - before.debug_blocks_object, 1);
    compat_ext_buffer_free(b);
    compat_ext_record_free(r);
    compat_ext_object_free(o);
    pymt_stats after = check_stats();
    CHECK_EQ(after.debug_blocks_raw, before.debug_blocks_raw);
    CHECK_EQ(after.debug_blocks_objmem, before.debug_blocks_objmem);
    CHECK_EQ(after.debug_blocks_object, before.debug_blocks_object);
}

static void child_mismatch(void) {
    compat_ext_mismatch();
}

static void pymem_block_freed_by_pyobject_del_aborts(void) {
    if (!in_debug_mode())
        CHECK_SKIP("mismatches are reported in debug mode");
    static char err[16384];
    int st = check_spawn_self("child_mismatch", NULL, err, sizeof err);
    bool ok = WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT &&
              strstr(err, "family mismatch") &&
              strstr(err, "allocated by raw memory (pymt_mem_malloc)") &&
              strstr(err, "freed by objects (pymt_object_del)");
    CHECK(ok);
    if (!ok)
        check_show_child("child_mismatch", st, err);
}

static const check_case cases[] = {
    CHECK_CASE(python_names_run_clean),
    CHECK_CASE(python_names_map_to_the_matching_family),
    CHECK_CASE(pymem_block_freed_by_pyobject_del_aborts),
    CHECK_CASE(child_mismatch),
};
CHECK_MAIN(cases)

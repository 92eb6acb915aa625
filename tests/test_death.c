/* test_death.c: a mismatched free that the release build can see is reported, then aborts.
 *
 * Handing a pool block (object memory) to the raw family's pymt_mem_free cannot be made
 * safe: the system allocator would corrupt its heap. pymt recognises the pool address and
 * aborts with a report. Each case runs the fault in a forked child and checks SIGABRT and
 * that the report names the block's family (object memory) and the call (pymt_mem_free,
 * pymt_mem_realloc).
 * Runs with PYMT_MALLOC=pymalloc (set by CMake): pooling on, debug checks off. */
#include "check.h"

static char err[1 << 14];

static void mem_free_of_pool_block(void *arg) {
    (void)arg;
    void *p = pymt_object_malloc(32);
    if (!p)
        _exit(3);
    pymt_mem_free(p);
    _exit(0); /* not reached when the report works */
}

static void mem_free_of_pool_block_from_another_class(void *arg) {
    (void)arg;
    void *keep = pymt_object_malloc(100);
    void *p = pymt_object_malloc(PYMT_SMALL_REQUEST_THRESHOLD);
    if (!p || !keep)
        _exit(3);
    pymt_mem_free(p);
    _exit(0);
}

static void mem_realloc_of_pool_block(void *arg) {
    (void)arg;
    void *p = pymt_object_malloc(64);
    if (!p)
        _exit(3);
    void *q = pymt_mem_realloc(p, 1000);
    (void)q;
    _exit(0);
}

static void check_report(int st, const char *what, const char *call) {
    if (!(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT)) {
        check_fail_at(__FILE__, __LINE__, "the child dies of SIGABRT");
        check_show_child(what, st, err);
        return;
    }
    if (!strstr(err, "object memory") || !strstr(err, call)) {
        check_fail_at(__FILE__, __LINE__, "the report names object memory and the call");
        fprintf(stderr, "    report was: [%s]\n", err);
    }
}

static void mem_free_of_an_object_block_aborts_with_a_report(void) {
    REQUIRE(check_plain_pools());
    int st = check_fork(mem_free_of_pool_block, NULL, err, sizeof err);
    check_report(st, "pymt_mem_free(pymt_object_malloc(32))", "pymt_mem_free");
    st = check_fork(mem_free_of_pool_block_from_another_class, NULL, err, sizeof err);
    check_report(st, "pymt_mem_free(pymt_object_malloc(512))", "pymt_mem_free");
}

static void mem_realloc_of_an_object_block_aborts_with_a_report(void) {
    REQUIRE(check_plain_pools());
    int st = check_fork(mem_realloc_of_pool_block, NULL, err, sizeof err);
    check_report(st, "pymt_mem_realloc(pymt_object_malloc(64), 1000)", "pymt_mem_realloc");
}

static void matched_frees_do_not_abort(void *arg) {
    (void)arg;
    void *a = pymt_object_malloc(32), *b = pymt_mem_malloc(32), *c = pymt_object_malloc(5000);
    pymt_object_free(a);
    pymt_mem_free(b);
    pymt_object_free(c);
}

static void matching_frees_report_nothing(void) {
    int st = check_fork(matched_frees_do_not_abort, NULL, err, sizeof err);
    CHECK_CHILD_EXIT0("matched frees", st, err);
    CHECK_EQ(err[0], '\0');
}

static const check_case cases[] = {
    CHECK_CASE(mem_free_of_an_object_block_aborts_with_a_report),
    CHECK_CASE(mem_realloc_of_an_object_block_aborts_with_a_report),
    CHECK_CASE(matching_frees_report_nothing),
};
CHECK_MAIN(cases)

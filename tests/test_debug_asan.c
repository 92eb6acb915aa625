/* test_debug_asan.c: AddressSanitizer sees pool blocks as heap blocks (asan build only). Each
 * fault runs in a fresh child; ASan's own report must name it. Pool blocks are poisoned by
 * track.h, not by ASan's allocator, so ASan calls these faults "use-after-poison" (it cannot
 * tell a freed pool block from a never-used one). */
#include "check.h"

static void expect_asan(const char *child) {
    static char err[65536];
    int st = check_spawn_self(child, NULL, err, sizeof err);
    bool ok = !(WIFEXITED(st) && WEXITSTATUS(st) == 0) && strstr(err, "AddressSanitizer") &&
              (strstr(err, "use-after-poison") || strstr(err, "heap-use-after-free") ||
               strstr(err, "heap-buffer-overflow"));
    CHECK(ok);
    if (!ok)
        check_show_child(child, st, err);
}

static unsigned char hidden_read(const unsigned char *p, size_t i) {
    volatile uintptr_t a = (uintptr_t)p; /* out of the compiler's sight */
    return ((const unsigned char *)a)[i];
}
static void hidden_write(unsigned char *p, size_t i, unsigned char v) {
    volatile uintptr_t a = (uintptr_t)p;
    ((unsigned char *)a)[i] = v;
}

static void child_read_after_free(void) {
    unsigned char *p = pymt_object_malloc(32);
    REQUIRE(p != NULL);
    REQUIRE(pymt_usable_size(p) == 32); /* a pool block, not a system one */
    pymt_object_free(p);
    fprintf(stderr, "read %u\n", hidden_read(p, 8));
}

static void child_write_past_request(void) {
    unsigned char *p = pymt_object_malloc(20); /* a 32-byte block: bytes 20..31 stay poisoned */
    REQUIRE(p != NULL);
    hidden_write(p, 20, 1);
}

/* A block grown by realloc into a larger class than the request (pymt__realloc_target): 113
 * bytes in a 144-byte block, and bytes 113..143 stay poisoned. Run twice: through the thread
 * cache (class 144's bin holds a block) and through the backend (its bin empty). */
static void child_write_past_a_grown_request(void) {
    if (getenv("GROWN_FROM_CACHE") != NULL)
        pymt_object_free(pymt_object_malloc(140)); /* class 144's bin: a bound and a block */
    unsigned char *p = pymt_object_malloc(100); /* class 112 */
    REQUIRE(p != NULL);
    p = pymt_object_realloc(p, 113);
    REQUIRE(p != NULL);
    hidden_write(p, 120, 1);
}

/* Write into the neighbouring pool block, which is free. */
static void child_overflow_into_next_block(void) {
    enum { K = 64 };
    unsigned char *b[K];
    for (int i = 0; i < K; i++)
        REQUIRE((b[i] = pymt_object_malloc(48)) != NULL);
    for (int i = 0; i < K; i++)
        for (int j = 0; j < K; j++)
            if (b[j] == b[i] + 48) {
                pymt_object_free(b[j]);
                hidden_write(b[i], 48 + 4, 1);
                return;
            }
    fprintf(stderr, "no two adjacent blocks among %d\n", K);
}

/* A large object-memory block (above the pools, in the size range a thread cache may keep for
 * reuse) is really freed in an ASan build, so a read after its free is reported. */
static void child_large_read_after_free(void) {
    unsigned char *p = pymt_object_malloc(40 << 10);
    REQUIRE(p != NULL);
    p[8] = 1;
    pymt_object_free(p);
    fprintf(stderr, "read %u\n", hidden_read(p, 8));
}

static void pool_read_after_free_is_reported(void) {
    if (!check_plain_pools())
        CHECK_SKIP("needs PYMT_MALLOC=pymalloc");
    expect_asan("child_read_after_free");
}
static void write_past_the_request_is_reported(void) {
    if (!check_plain_pools())
        CHECK_SKIP("needs PYMT_MALLOC=pymalloc");
    expect_asan("child_write_past_request");
}
static void write_past_a_grown_request_is_reported(void) {
    if (!check_plain_pools())
        CHECK_SKIP("needs PYMT_MALLOC=pymalloc");
    expect_asan("child_write_past_a_grown_request");
    setenv("GROWN_FROM_CACHE", "1", 1);
    expect_asan("child_write_past_a_grown_request");
    unsetenv("GROWN_FROM_CACHE");
}
static void overflow_into_a_free_neighbour_is_reported(void) {
    if (!check_plain_pools())
        CHECK_SKIP("needs PYMT_MALLOC=pymalloc");
    expect_asan("child_overflow_into_next_block");
}
static void large_read_after_free_is_reported(void) {
    if (!check_plain_pools())
        CHECK_SKIP("needs PYMT_MALLOC=pymalloc");
    expect_asan("child_large_read_after_free");
}

static const check_case cases[] = {
    CHECK_CASE(pool_read_after_free_is_reported),
    CHECK_CASE(write_past_the_request_is_reported),
    CHECK_CASE(write_past_a_grown_request_is_reported),
    CHECK_CASE(overflow_into_a_free_neighbour_is_reported),
    CHECK_CASE(large_read_after_free_is_reported),
    CHECK_CASE(child_read_after_free),
    CHECK_CASE(child_large_read_after_free),
    CHECK_CASE(child_write_past_request),
    CHECK_CASE(child_write_past_a_grown_request),
    CHECK_CASE(child_overflow_into_next_block),
};
CHECK_MAIN(cases)

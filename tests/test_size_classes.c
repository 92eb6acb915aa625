/* test_size_classes.c: the request -> size class -> block size table, checked row by row.
 *
 * Object-memory requests of 1..512 bytes are served from 32 classes of 16-byte steps; 0 is
 * served as 1; 513 and up go to the system allocator. Each row below is checked for every
 * request in its range, through pymt_usable_size (the block size) and pymt_get_stats (the
 * class whose blocks_in_use moves). Runs with PYMT_MALLOC=pymalloc (set by CMake): debug
 * mode would report requested sizes instead of block sizes. */
#include "check.h"

/* requests lo..hi -> block size -> class */
static const struct {
    size_t lo, hi, block;
    int cls;
} rows[] = {
    {1, 16, 16, 0},       {17, 32, 32, 1},      {33, 48, 48, 2},      {49, 64, 64, 3},
    {65, 80, 80, 4},      {81, 96, 96, 5},      {97, 112, 112, 6},    {113, 128, 128, 7},
    {129, 144, 144, 8},   {145, 160, 160, 9},   {161, 176, 176, 10},  {177, 192, 192, 11},
    {193, 208, 208, 12},  {209, 224, 224, 13},  {225, 240, 240, 14},  {241, 256, 256, 15},
    {257, 272, 272, 16},  {273, 288, 288, 17},  {289, 304, 304, 18},  {305, 320, 320, 19},
    {321, 336, 336, 20},  {337, 352, 352, 21},  {353, 368, 368, 22},  {369, 384, 384, 23},
    {385, 400, 400, 24},  {401, 416, 416, 25},  {417, 432, 432, 26},  {433, 448, 448, 27},
    {449, 464, 464, 28},  {465, 480, 480, 29},  {481, 496, 496, 30},  {497, 512, 512, 31},
};
#define NROWS (sizeof rows / sizeof rows[0])

static void table_covers_every_request_once(void) {
    CHECK_EQ(NROWS, PYMT_NUM_SIZE_CLASSES);
    CHECK_EQ(rows[0].lo, 1);
    CHECK_EQ(rows[NROWS - 1].hi, PYMT_SMALL_REQUEST_THRESHOLD);
    for (size_t r = 0; r < NROWS; r++) {
        CHECK(rows[r].lo <= rows[r].hi);
        CHECK_EQ(rows[r].cls, r);
        CHECK_EQ(rows[r].block, rows[r].hi);
        if (r > 0)
            CHECK_EQ(rows[r].lo, rows[r - 1].hi + 1);
    }
}

static void stats_report_the_table_block_sizes(void) {
    REQUIRE(check_plain_pools());
    pymt_stats s = check_stats();
    for (size_t r = 0; r < NROWS; r++)
        CHECK_EQ(s.classes[rows[r].cls].block_size, rows[r].block);
}

/* Allocate n bytes with alloc, check the block size and that exactly class cls gained one
 * block in use, free. */
static void check_request(size_t n, size_t block, int cls, bool use_calloc) {
    pymt_stats before = check_stats();
    unsigned char *p = use_calloc ? pymt_object_calloc(1, n) : pymt_object_malloc(n);
    REQUIRE(p != NULL);
    pymt_stats during = check_stats();
    if (pymt_usable_size(p) != block || !check_aligned(p)) {
        check_fail_at(__FILE__, __LINE__, "request gets its class block, 16-aligned");
        fprintf(stderr, "    request %zu: usable %zu (want %zu), address %p\n", n,
                pymt_usable_size(p), block, (void *)p);
    }
    for (int c = 0; c < PYMT_NUM_SIZE_CLASSES; c++) {
        size_t want = before.classes[c].blocks_in_use + (c == cls ? 1 : 0);
        if (during.classes[c].blocks_in_use != want) {
            check_fail_at(__FILE__, __LINE__, "only the request's class gains a block in use");
            fprintf(stderr, "    request %zu: class %d in use %zu -> %zu\n", n, c,
                    before.classes[c].blocks_in_use, during.classes[c].blocks_in_use);
        }
    }
    p[0] = 1;
    p[block - 1] = 2; /* pymt_usable_size (called above) makes all of the block usable */
    pymt_object_free(p);
    pymt_stats after = check_stats();
    CHECK_EQ(after.classes[cls].blocks_in_use, before.classes[cls].blocks_in_use);
}

static void every_request_gets_its_row_block_size(void) {
    REQUIRE(check_plain_pools());
    for (size_t r = 0; r < NROWS; r++) {
        for (size_t n = rows[r].lo; n <= rows[r].hi; n++) {
            int before = check_failures;
            check_request(n, rows[r].block, rows[r].cls, false);
            if (check_failures != before)
                return; /* one row's report is enough */
        }
    }
}

static void calloc_uses_the_same_rows(void) {
    REQUIRE(check_plain_pools());
    for (size_t r = 0; r < NROWS; r++) {
        check_request(rows[r].lo, rows[r].block, rows[r].cls, true);
        check_request(rows[r].hi, rows[r].block, rows[r].cls, true);
    }
}

static void zero_bytes_is_served_as_one(void) {
    REQUIRE(check_plain_pools());
    check_request(0, rows[0].block, rows[0].cls, false);
    check_request(0, rows[0].block, rows[0].cls, true);
}

static void above_threshold_goes_to_the_system_allocator(void) {
    REQUIRE(check_plain_pools());
    size_t max = check_pool_max();
    size_t sizes[] = {max + 1, max + 16, 4 * max, 1 << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        pymt_stats before = check_stats();
        void *p = pymt_object_malloc(sizes[i]);
        REQUIRE(p != NULL);
        pymt_stats during = check_stats();
        CHECK(pymt_usable_size(p) >= sizes[i]);
        CHECK(check_aligned(p));
        CHECK_EQ(during.large_in_use, before.large_in_use + 1);
        check_totals tb = check_sum_classes(&before), td = check_sum_classes(&during);
        CHECK_EQ(td.in_use, tb.in_use);
        memset(p, 0x5a, sizes[i]);
        pymt_object_free(p);
        pymt_stats after = check_stats();
        CHECK_EQ(after.large_in_use, before.large_in_use);
    }
}

static const check_case cases[] = {
    CHECK_CASE(table_covers_every_request_once),
    CHECK_CASE(stats_report_the_table_block_sizes),
    CHECK_CASE(every_request_gets_its_row_block_size),
    CHECK_CASE(calloc_uses_the_same_rows),
    CHECK_CASE(zero_bytes_is_served_as_one),
    CHECK_CASE(above_threshold_goes_to_the_system_allocator),
};
CHECK_MAIN(cases)

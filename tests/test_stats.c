/* test_stats.c: pymt_get_stats and pymt_print_stats agree with what the test did.
 *
 * Proves: for every class blocks_total == in_use + cached + depot + free when quiescent;
 * blocks_in_use moves by exactly the blocks the test holds and comes back after it frees;
 * the byte totals follow the block counts; a smaller struct_size writes only that prefix and
 * a larger one only sizeof(pymt_stats); NULL or a too small struct_size is -1 + EINVAL;
 * pymt_print_stats writes a row per size class; depot_batches_* count the batches that cross
 * threads through the depot, and no arena. Runs with PYMT_MALLOC=pymalloc (set by CMake) so the
 * per-class figures are pool blocks. */
#include "check.h"

#include <pthread.h>
#include <stddef.h>

static void blocks_add_up_in_every_class(void) {
    enum { N = 40 };
    void *held[PYMT_NUM_SIZE_CLASSES][N];
    pymt_stats s = check_stats();
    CHECK_STATS_ADD_UP(&s);
    for (int c = 0; c < PYMT_NUM_SIZE_CLASSES; c++)
        for (int i = 0; i < N; i++) {
            held[c][i] = pymt_object_malloc((size_t)(c + 1) * 16 - (size_t)(i % 16));
            REQUIRE(held[c][i] != NULL);
        }
    s = check_stats();
    CHECK_STATS_ADD_UP(&s);
    /* free every other block: free and cached blocks now sit beside held ones */
    for (int c = 0; c < PYMT_NUM_SIZE_CLASSES; c++)
        for (int i = 0; i < N; i += 2)
            pymt_object_free(held[c][i]);
    s = check_stats();
    CHECK_STATS_ADD_UP(&s);
    for (int c = 0; c < PYMT_NUM_SIZE_CLASSES; c++)
        for (int i = 1; i < N; i += 2)
            pymt_object_free(held[c][i]);
    s = check_stats();
    CHECK_STATS_ADD_UP(&s);
    pymt_thread_flush();
    s = check_stats();
    CHECK_STATS_ADD_UP(&s);
}

static void blocks_in_use_move_by_exactly_what_the_test_holds(void) {
    REQUIRE(check_plain_pools());
    enum { MAXN = 300 };
    static void *held[PYMT_NUM_SIZE_CLASSES][MAXN];
    pymt_stats before = check_stats();
    size_t want_bytes = 0;
    for (int c = 0; c < PYMT_NUM_SIZE_CLASSES; c++) {
        int n = 50 + 8 * c; /* a different count per class, some beyond one pool */
        for (int i = 0; i < n; i++) {
            held[c][i] = pymt_object_malloc((size_t)(c + 1) * 16);
            REQUIRE(held[c][i] != NULL);
        }
        want_bytes += (size_t)n * (size_t)(c + 1) * 16;
    }
    pymt_stats during = check_stats();
    for (int c = 0; c < PYMT_NUM_SIZE_CLASSES; c++) {
        size_t n = 50 + 8 * (size_t)c;
        if (during.classes[c].blocks_in_use != before.classes[c].blocks_in_use + n) {
            check_fail_at(__FILE__, __LINE__, "in_use grows by what was allocated");
            fprintf(stderr, "    class %d: %zu -> %zu, allocated %zu\n", c,
                    before.classes[c].blocks_in_use, during.classes[c].blocks_in_use, n);
        }
        CHECK(during.classes[c].pools >= 1);
        CHECK(during.classes[c].blocks_total >= during.classes[c].blocks_in_use);
    }
    CHECK_EQ(during.bytes_in_use, before.bytes_in_use + want_bytes);
    CHECK_STATS_ADD_UP(&during);
    for (int c = 0; c < PYMT_NUM_SIZE_CLASSES; c++)
        for (int i = 0; i < 50 + 8 * c; i++)
            pymt_object_free(held[c][i]);
    pymt_stats after = check_stats();
    for (int c = 0; c < PYMT_NUM_SIZE_CLASSES; c++)
        CHECK_EQ(after.classes[c].blocks_in_use, before.classes[c].blocks_in_use);
    CHECK_EQ(after.bytes_in_use, before.bytes_in_use);
    CHECK_STATS_ADD_UP(&after);
}

static void byte_totals_follow_the_block_counts(void) {
    REQUIRE(check_plain_pools());
    void *keep[200];
    for (int i = 0; i < 200; i++)
        keep[i] = pymt_object_malloc((size_t)(i % 32 + 1) * 16);
    for (int i = 0; i < 200; i += 3)
        pymt_object_free(keep[i]);
    pymt_stats s = check_stats();
    size_t in_use = 0, cached = 0;
    for (int c = 0; c < PYMT_NUM_SIZE_CLASSES; c++)
        CHECK_EQ(s.classes[c].block_size, (size_t)(c + 1) * 16);
    for (int c = 0; c < CHECK_ALL_CLASSES; c++) {
        const pymt_class_stats *k = check_class_at(&s, c);
        in_use += k->blocks_in_use * k->block_size;
        cached += (k->blocks_cached + k->blocks_depot) * k->block_size;
    }
    CHECK_EQ(s.bytes_in_use, in_use);
    CHECK_EQ(s.bytes_cached, cached);
    CHECK(s.bytes_mapped > 0);
    CHECK(s.bytes_in_use + s.bytes_cached <= s.bytes_mapped);
    CHECK(s.arenas_current >= 1);
    CHECK(s.arenas_highwater >= s.arenas_current);
    CHECK(s.arenas_reserve <= s.arenas_current);
    CHECK_EQ(s.arenas_allocated_total - s.arenas_reclaimed_total, s.arenas_current);
    for (int i = 0; i < 200; i++)
        if (i % 3)
            pymt_object_free(keep[i]);
}

static void large_in_use_counts_object_blocks_on_the_system_allocator(void) {
    REQUIRE(check_plain_pools());
    void *big[10];
    pymt_stats before = check_stats();
    for (int i = 0; i < 10; i++)
        big[i] = pymt_object_malloc(check_pool_max() + 1 + (size_t)i * 1000);
    void *raw = pymt_mem_malloc(5000); /* raw memory is not object memory */
    pymt_stats during = check_stats();
    CHECK_EQ(during.large_in_use, before.large_in_use + 10);
    for (int i = 0; i < 10; i++)
        pymt_object_free(big[i]);
    pymt_mem_free(raw);
    pymt_stats after = check_stats();
    CHECK_EQ(after.large_in_use, before.large_in_use);
}

static void mode_and_tcache_fields_match_the_queries(void) {
    pymt_stats s = check_stats();
    CHECK_EQ(s.mode, pymt_get_mode());
    CHECK_EQ(!!s.tcache_enabled, !!pymt_tcache_enabled());
    CHECK_EQ(s.struct_size, sizeof(pymt_stats));
    CHECK_EQ(s.debug_blocks_raw, 0);
    CHECK_EQ(s.debug_blocks_objmem, 0);
    CHECK_EQ(s.debug_blocks_object, 0);
}

static void smaller_struct_size_writes_only_that_prefix(void) {
    size_t sizes[] = {offsetof(pymt_stats, classes), offsetof(pymt_stats, classes[1]),
                      offsetof(pymt_stats, classes[7]) + 3, offsetof(pymt_stats, arenas_current),
                      offsetof(pymt_stats, lock_acquisitions), sizeof(pymt_stats) - 1};
    static unsigned char buf[sizeof(pymt_stats) + 64];
    pymt_stats full = check_stats();
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        memset(buf, 0xa5, sizeof buf);
        int rc = pymt_get_stats((pymt_stats *)(void *)buf, sizes[i]);
        CHECK_EQ(rc, 0);
        size_t first_touched = sizeof buf;
        for (size_t b = sizes[i]; b < sizeof buf; b++)
            if (buf[b] != 0xa5) {
                first_touched = b;
                break;
            }
        if (first_touched != sizeof buf) {
            check_fail_at(__FILE__, __LINE__, "nothing past struct_size is written");
            fprintf(stderr, "    struct_size %zu: byte %zu written\n", sizes[i], first_touched);
        }
        /* the prefix holds the real head */
        pymt_stats got;
        memcpy(&got, buf, sizeof got);
        CHECK_EQ(got.mode, full.mode);
        CHECK_EQ(!!got.tcache_enabled, !!full.tcache_enabled);
        if (sizes[i] >= offsetof(pymt_stats, classes[1]))
            CHECK_EQ(got.classes[0].block_size, full.classes[0].block_size);
    }
}

/* The layout of the header before the medium ceiling rose from 16 KiB to 256 KiB: 20 medium
 * rows, then the three fields that followed them. A caller built against it passes its size and
 * must find its own fields where it expects them, not the rows of the newer classes. */
typedef struct {
    unsigned char head[offsetof(pymt_stats, medium_classes)];
    pymt_class_stats medium_classes[20];
    size_t medium_arenas_empty, pools_purged_total, pools_refaulted_total;
} stats_of_20_medium_rows;

static void a_caller_built_with_20_medium_rows_gets_its_layout(void) {
    static unsigned char buf[sizeof(pymt_stats)];
    memset(buf, 0xa5, sizeof buf);
    pymt_stats full = check_stats();
    CHECK_EQ(pymt_get_stats((pymt_stats *)(void *)buf, sizeof(stats_of_20_medium_rows)), 0);
    stats_of_20_medium_rows old;
    memcpy(&old, buf, sizeof old);
    CHECK_EQ(old.medium_classes[19].block_size, full.medium_classes[19].block_size);
    CHECK_EQ(old.medium_arenas_empty, full.medium_arenas_empty);
    CHECK_EQ(old.pools_purged_total, full.pools_purged_total);
    CHECK_EQ(old.pools_refaulted_total, full.pools_refaulted_total);
    for (size_t b = sizeof old; b < sizeof buf; b++)
        if (buf[b] != 0xa5) {
            check_fail_at(__FILE__, __LINE__, "nothing past the old struct_size is written");
            break;
        }
}

static void larger_struct_size_writes_only_the_known_struct(void) {
    static unsigned char buf[sizeof(pymt_stats) + 64];
    memset(buf, 0xa5, sizeof buf);
    CHECK_EQ(pymt_get_stats((pymt_stats *)(void *)buf, sizeof buf), 0);
    for (size_t b = sizeof(pymt_stats); b < sizeof buf; b++)
        if (buf[b] != 0xa5) {
            check_fail_at(__FILE__, __LINE__, "nothing past sizeof(pymt_stats) is written");
            break;
        }
    pymt_stats got;
    memcpy(&got, buf, sizeof got);
    CHECK_EQ(got.struct_size, sizeof(pymt_stats));
}

static void null_or_too_small_struct_size_is_einval(void) {
    pymt_stats s;
    memset(&s, 0xa5, sizeof s);
    errno = 0;
    CHECK_EQ(pymt_get_stats(NULL, sizeof s), -1);
    CHECK_EQ(errno, EINVAL);
    /* the head is everything before the per-class table */
    size_t tiny[] = {0, 1, sizeof(size_t) - 1, offsetof(pymt_stats, classes) - 1};
    for (size_t i = 0; i < sizeof tiny / sizeof tiny[0]; i++) {
        errno = 0;
        CHECK_EQ(pymt_get_stats(&s, tiny[i]), -1);
        CHECK_EQ(errno, EINVAL);
    }
    const unsigned char *b = (const unsigned char *)&s;
    for (size_t i = 0; i < sizeof s; i++)
        if (b[i] != 0xa5) {
            check_fail_at(__FILE__, __LINE__, "a refused call writes nothing");
            break;
        }
}

/* Numbers of one line, in order; returns how many (at most max). */
static size_t line_numbers(const char *line, size_t len, size_t *out, size_t max) {
    size_t n = 0;
    const char *p = line;
    while (p < line + len && n < max) {
        if (*p >= '0' && *p <= '9') {
            char *after;
            out[n++] = (size_t)strtoull(p, &after, 10);
            p = after;
        } else {
            p++;
        }
    }
    return n;
}

/* True when text has a table row for class k: a line whose first or second number is the
 * block size, followed (in order, maybe with other columns between) by the pools, blocks in
 * use, cached, depot and free figures of k. Only the order of the columns is assumed. */
static bool has_class_row(const char *text, const pymt_class_stats *k) {
    const size_t want[] = {k->pools, k->blocks_in_use, k->blocks_cached, k->blocks_depot,
                           k->blocks_free};
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        size_t nums[16];
        size_t n = line_numbers(line, len, nums, 16);
        for (size_t at = 0; at < 2 && at < n; at++) {
            if (nums[at] != k->block_size)
                continue;
            size_t w = 0;
            for (size_t i = at + 1; i < n && w < 5; i++)
                if (nums[i] == want[w])
                    w++;
            if (w == 5)
                return true;
        }
        line = end ? end + 1 : line + len;
    }
    return false;
}

/* One block of every class held, so every class has a pool and a row. */
static void *held_per_class[PYMT_NUM_SIZE_CLASSES];

static void hold_one_per_class(void) {
    for (int c = 0; c < PYMT_NUM_SIZE_CLASSES; c++)
        held_per_class[c] = pymt_object_malloc((size_t)(c + 1) * 16);
}

static void release_held(void) {
    for (int c = 0; c < PYMT_NUM_SIZE_CLASSES; c++)
        pymt_object_free(held_per_class[c]);
}

static void check_rows(const char *text) {
    pymt_stats s = check_stats();
    for (int c = 0; c < PYMT_NUM_SIZE_CLASSES; c++) {
        if (!has_class_row(text, &s.classes[c])) {
            check_fail_at(__FILE__, __LINE__, "a table row with the figures of every class");
            fprintf(stderr, "    no row for class %d (block size %zu) in:\n%s\n", c,
                    s.classes[c].block_size, text);
            return;
        }
    }
}

static void print_stats_writes_a_row_per_class(void) {
    REQUIRE(check_plain_pools());
    hold_one_per_class();
    FILE *f = tmpfile();
    REQUIRE(f != NULL);
    pymt_print_stats(f);
    fflush(f);
    CHECK(ftell(f) > 0);
    static char text[1 << 16];
    rewind(f);
    size_t got = fread(text, 1, sizeof text - 1, f);
    text[got] = '\0';
    fclose(f);
    check_rows(text);
    release_held();
}

static void print_to_stderr(void *arg) {
    (void)arg;
    pymt_print_stats(NULL);
}

static void print_stats_null_means_stderr(void) {
    REQUIRE(check_plain_pools());
    hold_one_per_class();
    static char err[1 << 16];
    int st = check_fork(print_to_stderr, NULL, err, sizeof err);
    CHECK_CHILD_EXIT0("pymt_print_stats(NULL)", st, "");
    check_rows(err);
    release_held();
}

enum { CROSS_BLOCKS = 4096 };
static void *cross_blocks[CROSS_BLOCKS];
static pthread_barrier_t cross_bar;

static void *free_cross_blocks(void *arg) {
    (void)arg;
    for (int i = 0; i < CROSS_BLOCKS; i++)
        pymt_object_free(cross_blocks[i]);
    pthread_barrier_wait(&cross_bar);
    /* stay until the other thread has allocated again: a thread whose exit halves the live
     * caches gives the depot back to the pools */
    pthread_barrier_wait(&cross_bar);
    return NULL;
}

/* A thread frees 4096 blocks this one allocated: its full magazines go to the depot, and this
 * thread, allocating as many again, adopts batches from it. The depot's counts move, and by no
 * more than handoffs_*, which also count arenas; without thread caches there is no depot and
 * they stay 0. */
static void depot_batches_count_the_batches_that_cross_threads(void) {
    pymt_stats a = check_stats();
    for (int i = 0; i < CROSS_BLOCKS; i++)
        CHECK((cross_blocks[i] = pymt_object_malloc(32)) != NULL);
    CHECK_EQ(pthread_barrier_init(&cross_bar, NULL, 2), 0);
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, free_cross_blocks, NULL), 0);
    pthread_barrier_wait(&cross_bar);
    for (int i = 0; i < CROSS_BLOCKS; i++)
        CHECK((cross_blocks[i] = pymt_object_malloc(32)) != NULL);
    pymt_stats b = check_stats();
    pthread_barrier_wait(&cross_bar);
    CHECK_EQ(pthread_join(t, NULL), 0);
    CHECK_EQ(pthread_barrier_destroy(&cross_bar), 0);
    size_t pub = b.depot_batches_published - a.depot_batches_published;
    size_t ad = b.depot_batches_adopted - a.depot_batches_adopted;
    if (!pymt_tcache_enabled()) {
        CHECK_EQ(b.depot_batches_published, 0);
        CHECK_EQ(b.depot_batches_adopted, 0);
    } else {
        CHECK(pub >= 1);
        CHECK(ad >= 1);
        CHECK(ad <= pub);
        CHECK(pub <= b.handoffs_published - a.handoffs_published);
        CHECK(ad <= b.handoffs_adopted - a.handoffs_adopted);
    }
    for (int i = 0; i < CROSS_BLOCKS; i++)
        pymt_object_free(cross_blocks[i]);
}

static const check_case cases[] = {
    CHECK_CASE(blocks_add_up_in_every_class),
    CHECK_CASE(blocks_in_use_move_by_exactly_what_the_test_holds),
    CHECK_CASE(byte_totals_follow_the_block_counts),
    CHECK_CASE(large_in_use_counts_object_blocks_on_the_system_allocator),
    CHECK_CASE(mode_and_tcache_fields_match_the_queries),
    CHECK_CASE(smaller_struct_size_writes_only_that_prefix),
    CHECK_CASE(a_caller_built_with_20_medium_rows_gets_its_layout),
    CHECK_CASE(larger_struct_size_writes_only_the_known_struct),
    CHECK_CASE(null_or_too_small_struct_size_is_einval),
    CHECK_CASE(print_stats_writes_a_row_per_class),
    CHECK_CASE(print_stats_null_means_stderr),
    CHECK_CASE(depot_batches_count_the_batches_that_cross_threads),
};
CHECK_MAIN(cases)

/* test_api.c: the contract of the three allocation families, in whatever mode the environment
 * picks (CMake registers `api` plus `api.tcache_off` with PYMT_TCACHE=0, `api.malloc` with
 * PYMT_MALLOC=malloc, `api.pymalloc` with PYMT_MALLOC=pymalloc and `api.debug` with
 * PYMT_MALLOC=debug). Checks that need the exact pool geometry run only when pymt_get_mode()
 * is PYMT_MODE_PYMALLOC.
 *
 * Proves: 16-byte alignment of every block; the boundaries 0, 1, 511, 512, 513; malloc(0) and
 * calloc of zero elements, or of zero bytes each by any count (SIZE_MAX too), unique and
 * non-NULL; free(NULL) a no-op; realloc(NULL, n) allocates and realloc(p, 0) gives a valid
 * block; contents kept by realloc in every direction (within the pools, across the 512-byte
 * threshold both ways, raw memory); calloc zeroing, also of reused blocks; NULL + ENOMEM for
 * overflowing calloc, requests above PTRDIFF_MAX, newvar with a negative or overflowing n; the
 * object heads set by new/newvar and their sizes. */
#include "check.h"

typedef struct family {
    const char *name;
    void *(*malloc_)(size_t);
    void *(*calloc_)(size_t, size_t);
    void *(*realloc_)(void *, size_t);
    void (*free_)(void *);
} family;

static const family families[] = {
    {"object memory", pymt_object_malloc, pymt_object_calloc, pymt_object_realloc,
     pymt_object_free},
    {"raw memory", pymt_mem_malloc, pymt_mem_calloc, pymt_mem_realloc, pymt_mem_free},
};
#define NFAM (sizeof families / sizeof families[0])

static unsigned char pattern_byte(unsigned seed, size_t i) {
    return (unsigned char)(seed * 131u + i * 7u + (i >> 8) + 1u);
}

static void fill(void *p, size_t n, unsigned seed) {
    unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        b[i] = pattern_byte(seed, i);
}

/* Index of the first byte of p[0..n) that differs from the pattern, or n. */
static size_t first_bad(const void *p, size_t n, unsigned seed) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != pattern_byte(seed, i))
            return i;
    return n;
}

static size_t first_nonzero(const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != 0)
            return i;
    return n;
}

/* ---- zero, NULL, boundaries, alignment ------------------------------------------------------ */

static void malloc_zero_is_unique_and_non_null(void) {
    for (size_t f = 0; f < NFAM; f++) {
        const family *fam = &families[f];
        void *a = fam->malloc_(0), *b = fam->malloc_(0);
        void *c = fam->calloc_(0, 8), *d = fam->calloc_(8, 0), *e = fam->calloc_(0, 0);
        void *all[] = {a, b, c, d, e};
        for (size_t i = 0; i < 5; i++) {
            CHECK(all[i] != NULL);
            CHECK(check_aligned(all[i]));
            for (size_t j = 0; j < i; j++)
                CHECK(all[i] != all[j]);
        }
        if (!check_failures)
            for (size_t i = 0; i < 5; i++)
                fam->free_(all[i]);
    }
}

static void free_null_is_a_noop(void) {
    pymt_stats before = check_stats();
    pymt_object_free(NULL);
    pymt_mem_free(NULL);
    pymt_object_del(NULL);
    CHECK_EQ(pymt_usable_size(NULL), 0);
    pymt_stats after = check_stats();
    CHECK_EQ(check_sum_classes(&after).in_use, check_sum_classes(&before).in_use);
    CHECK_EQ(after.large_in_use, before.large_in_use);
    /* and the allocator still works */
    void *p = pymt_object_malloc(24);
    CHECK(p != NULL);
    pymt_object_free(p);
}

static void every_block_is_16_aligned(void) {
    enum { N = 64 };
    size_t sizes[] = {0, 1, 2, 7, 8, 9, 15, 16, 17, 24, 31, 33, 48, 100, 255, 256, 257, 500,
                      511, 512, 513, 520, 1000, 4095, 4096, 65536, 300000};
    for (size_t f = 0; f < NFAM; f++) {
        const family *fam = &families[f];
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            void *p[N];
            for (int i = 0; i < N; i++) {
                p[i] = (i & 1) ? fam->calloc_(1, sizes[s]) : fam->malloc_(sizes[s]);
                REQUIRE(p[i] != NULL);
                if (!check_aligned(p[i])) {
                    check_fail_at(__FILE__, __LINE__, "block is 16-aligned");
                    fprintf(stderr, "    %s, %zu bytes: %p\n", fam->name, sizes[s], p[i]);
                }
            }
            for (int i = 0; i < N; i++) {
                void *q = fam->realloc_(p[i], sizes[s] + 40);
                REQUIRE(q != NULL);
                CHECK(check_aligned(q));
                fam->free_(q);
            }
        }
    }
    static const pymt_type t = {"aligned", sizeof(pymt_varobject) + 8, 8};
    for (ptrdiff_t n = 0; n < 80; n++) {
        pymt_varobject *v = pymt_object_newvar(&t, n);
        REQUIRE(v != NULL);
        CHECK(check_aligned(v));
        pymt_object_del(v);
        pymt_object *o = pymt_object_new(&t);
        REQUIRE(o != NULL);
        CHECK(check_aligned(o));
        pymt_object_del(o);
    }
}

static void boundary_sizes_are_usable_in_full(void) {
    size_t sizes[] = {0, 1, 511, 512, 513};
    for (size_t f = 0; f < NFAM; f++) {
        const family *fam = &families[f];
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            size_t n = sizes[s];
            unsigned char *p = fam->malloc_(n);
            REQUIRE(p != NULL);
            size_t usable = pymt_usable_size(p);
            CHECK(usable >= n);
            if (f == 0 && check_plain_pools()) {
                /* object memory in pool mode: the class size up to the pools' ceiling */
                if (n <= check_pool_max())
                    CHECK_EQ(usable, check_class_size(n));
            }
            fill(p, usable, (unsigned)n);
            CHECK_EQ(first_bad(p, usable, (unsigned)n), usable);
            fam->free_(p);
        }
    }
}

/* ---- realloc ------------------------------------------------------------------------------- */

static void realloc_null_allocates(void) {
    for (size_t f = 0; f < NFAM; f++) {
        size_t sizes[] = {0, 1, 100, 512, 513, 5000};
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            unsigned char *p = families[f].realloc_(NULL, sizes[s]);
            REQUIRE(p != NULL);
            CHECK(check_aligned(p));
            CHECK(pymt_usable_size(p) >= sizes[s]);
            fill(p, sizes[s], 3);
            families[f].free_(p);
        }
    }
}

static void realloc_to_zero_gives_a_valid_block(void) {
    size_t sizes[] = {1, 64, 512, 513, 5000};
    for (size_t f = 0; f < NFAM; f++) {
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            void *p = families[f].malloc_(sizes[s]);
            REQUIRE(p != NULL);
            fill(p, sizes[s], 4);
            void *q = families[f].realloc_(p, 0);
            REQUIRE(q != NULL);
            CHECK(check_aligned(q));
            /* a live block: it can grow again and be freed */
            unsigned char *r = families[f].realloc_(q, 40);
            REQUIRE(r != NULL);
            fill(r, 40, 5);
            CHECK_EQ(first_bad(r, 40, 5), 40);
            families[f].free_(r);
        }
    }
}

/* Walk one block through sizes[0..n): fill it at each size, realloc to the next and check
 * that min(old, new) bytes survived. */
static void walk_realloc(const family *fam, const size_t *sizes, size_t n, const char *path) {
    unsigned char *p = fam->malloc_(sizes[0]);
    REQUIRE(p != NULL);
    fill(p, sizes[0], 0);
    for (size_t i = 1; i < n; i++) {
        unsigned char *q = fam->realloc_(p, sizes[i]);
        if (q == NULL) {
            check_fail_at(__FILE__, __LINE__, "realloc succeeds");
            fam->free_(p);
            return;
        }
        size_t keep = sizes[i] < sizes[i - 1] ? sizes[i] : sizes[i - 1];
        size_t bad = first_bad(q, keep, (unsigned)(i - 1));
        if (bad != keep) {
            check_fail_at(__FILE__, __LINE__, "realloc keeps the contents");
            fprintf(stderr, "    %s, %s: %zu -> %zu bytes, byte %zu changed\n", fam->name,
                    path, sizes[i - 1], sizes[i], bad);
        }
        CHECK(check_aligned(q));
        CHECK(pymt_usable_size(q) >= sizes[i]);
        fill(q, sizes[i], (unsigned)i);
        p = q;
    }
    fam->free_(p);
}

static void realloc_keeps_contents_growing_within_pools(void) {
    size_t sizes[] = {1, 8, 16, 17, 32, 33, 64, 100, 128, 200, 256, 300, 384, 400, 511, 512};
    for (size_t f = 0; f < NFAM; f++)
        walk_realloc(&families[f], sizes, sizeof sizes / sizeof sizes[0], "growing in pools");
}

static void realloc_keeps_contents_shrinking_within_pools(void) {
    size_t sizes[] = {512, 511, 500, 400, 385, 384, 300, 200, 129, 128, 64, 48, 33, 17, 16, 1};
    for (size_t f = 0; f < NFAM; f++)
        walk_realloc(&families[f], sizes, sizeof sizes / sizeof sizes[0], "shrinking in pools");
}

static void realloc_keeps_contents_from_pool_to_system(void) {
    size_t a[] = {1, 512, 513}, b[] = {100, 4000}, c[] = {480, 1000, 70000, 1 << 20};
    for (size_t f = 0; f < NFAM; f++) {
        walk_realloc(&families[f], a, 3, "pool to system");
        walk_realloc(&families[f], b, 2, "pool to system");
        walk_realloc(&families[f], c, 4, "pool to system");
    }
}

static void realloc_keeps_contents_from_system_to_pool(void) {
    size_t a[] = {513, 512}, b[] = {4000, 100}, c[] = {1 << 20, 70000, 1000, 520, 16, 1};
    for (size_t f = 0; f < NFAM; f++) {
        walk_realloc(&families[f], a, 2, "system to pool");
        walk_realloc(&families[f], b, 2, "system to pool");
        walk_realloc(&families[f], c, 6, "system to pool");
    }
}

static void realloc_moves_between_pools_and_system_as_size_crosses(void) {
    if (!check_plain_pools())
        CHECK_SKIP("pool geometry needs PYMT_MALLOC=pymalloc");
    pymt_stats s0 = check_stats();
    void *p = pymt_object_malloc(200);
    REQUIRE(p != NULL);
    p = pymt_object_realloc(p, check_pool_max() + 1000);
    REQUIRE(p != NULL);
    pymt_stats s1 = check_stats();
    CHECK_EQ(s1.large_in_use, s0.large_in_use + 1);
    CHECK_EQ(check_sum_classes(&s1).in_use, check_sum_classes(&s0).in_use);
    p = pymt_object_realloc(p, 48);
    REQUIRE(p != NULL);
    pymt_stats s2 = check_stats();
    CHECK_EQ(s2.large_in_use, s0.large_in_use);
    CHECK_EQ(s2.classes[2].blocks_in_use, s0.classes[2].blocks_in_use + 1);
    CHECK_EQ(pymt_usable_size(p), 48);
    pymt_object_free(p);
}

static void realloc_stays_in_place_within_a_class(void) {
    if (!check_plain_pools())
        CHECK_SKIP("pool geometry needs PYMT_MALLOC=pymalloc");
    unsigned char *p = pymt_object_malloc(500);
    REQUIRE(p != NULL);
    fill(p, 500, 9);
    /* grows within the 512 class, then shrinks by less than a quarter: same block */
    CHECK(pymt_object_realloc(p, 512) == p);
    CHECK(pymt_object_realloc(p, 400) == p);
    CHECK_EQ(first_bad(p, 400, 9), 400);
    /* shrinking by more than a quarter moves it to a smaller class */
    unsigned char *q = pymt_object_realloc(p, 100);
    REQUIRE(q != NULL);
    CHECK_EQ(pymt_usable_size(q), 112);
    CHECK_EQ(first_bad(q, 100, 9), 100);
    pymt_object_free(q);
}

/* A block that grows past its class asks for a quarter more than the class (small) or half
 * more (medium), within its tier, unless the request would then be too small to keep its place
 * in its new class (pymt__realloc_target): 100 bytes (class 112) grown to 113 land in 144, not
 * 128; 480 grown to 500 stay within 512; a shrink and a growth by more than that get what they
 * ask for. Medium: 640 grown to 641 or 700 lands in 1024 (960 asked), and grown a byte at a
 * time it stays there, in place; 640 grown to 1000 asks for 1000 (also 1024), and to 1300 for
 * 1300 (1536). */
static void growing_realloc_asks_for_more(void) {
    if (!check_plain_pools())
        CHECK_SKIP("pool geometry needs PYMT_MALLOC=pymalloc");
    static const struct { size_t from, to, usable; } cases[] = {
        {100, 113, 144}, {480, 500, 512}, {100, 300, 304}, {400, 100, 112}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        unsigned char *p = pymt_object_malloc(cases[i].from);
        REQUIRE(p != NULL);
        fill(p, cases[i].from, 5);
        unsigned char *q = pymt_object_realloc(p, cases[i].to);
        REQUIRE(q != NULL);
        CHECK_EQ(pymt_usable_size(q), cases[i].usable);
        size_t kept = cases[i].from < cases[i].to ? cases[i].from : cases[i].to;
        CHECK_EQ(first_bad(q, kept, 5), kept);
        pymt_object_free(q);
    }
    if (pymt_medium_enabled()) {
        unsigned char *p = pymt_object_malloc(640);
        REQUIRE(p != NULL);
        unsigned char *q = pymt_object_realloc(p, 700);
        REQUIRE(q != NULL);
        CHECK_EQ(pymt_usable_size(q), 1024);
        for (size_t n = 701; n <= 1024; n++) {
            unsigned char *r = pymt_object_realloc(q, n);
            REQUIRE(r != NULL);
            CHECK(r == q);
            q = r; /* a moved block: q is freed */
        }
        pymt_object_free(q);
        static const struct { size_t to, usable; } med[] = {{641, 1024}, {1000, 1024}, {1300, 1536}};
        for (size_t i = 0; i < sizeof med / sizeof med[0]; i++) {
            p = pymt_object_malloc(640);
            REQUIRE(p != NULL);
            fill(p, 640, 6);
            q = pymt_object_realloc(p, med[i].to);
            REQUIRE(q != NULL);
            CHECK_EQ(pymt_usable_size(q), med[i].usable);
            CHECK_EQ(first_bad(q, 640, 6), 640);
            pymt_object_free(q);
        }
    } else {
        /* above the small tier nothing is raised: 500 -> 600 goes to the system allocator
         * as asked */
        unsigned char *p = pymt_object_malloc(500);
        REQUIRE(p != NULL);
        unsigned char *q = pymt_object_realloc(p, 600);
        REQUIRE(q != NULL);
        CHECK(pymt_usable_size(q) >= 600 && pymt_usable_size(q) < 640);
        pymt_object_free(q);
    }
}

static void realloc_failure_leaves_the_block_untouched(void) {
    size_t sizes[] = {40, 512, 2000};
    for (size_t f = 0; f < NFAM; f++) {
        for (size_t s = 0; s < 3; s++) {
            unsigned char *p = families[f].malloc_(sizes[s]);
            REQUIRE(p != NULL);
            fill(p, sizes[s], 11);
            errno = 0;
            void *q = families[f].realloc_(p, (size_t)PTRDIFF_MAX + 1);
            CHECK(q == NULL);
            CHECK_EQ(errno, ENOMEM);
            errno = 0;
            q = families[f].realloc_(p, SIZE_MAX);
            CHECK(q == NULL);
            CHECK_EQ(errno, ENOMEM);
            CHECK_EQ(first_bad(p, sizes[s], 11), sizes[s]);
            families[f].free_(p);
        }
    }
}

/* ---- calloc -------------------------------------------------------------------------------- */

static void calloc_zeroes_every_size(void) {
    for (size_t f = 0; f < NFAM; f++) {
        for (size_t n = 1; n <= 1100; n += (n < 600 ? 1 : 37)) {
            unsigned char *p = families[f].calloc_(n, 1);
            REQUIRE(p != NULL);
            CHECK_EQ(first_nonzero(p, n), n);
            families[f].free_(p);
        }
        unsigned char *p = families[f].calloc_(1000, 130); /* 130000 bytes, system side */
        REQUIRE(p != NULL);
        CHECK_EQ(first_nonzero(p, 130000), 130000);
        families[f].free_(p);
    }
}

static void calloc_zeroes_reused_blocks(void) {
    enum { N = 64 };
    for (size_t f = 0; f < NFAM; f++) {
        size_t reused = 0;
        for (size_t n = 16; n <= 1024; n += 16) {
            unsigned char *dirty[N], *clean[N];
            for (int i = 0; i < N; i++) {
                dirty[i] = families[f].malloc_(n);
                REQUIRE(dirty[i] != NULL);
                memset(dirty[i], 0xff, n);
            }
            for (int i = 0; i < N; i++)
                families[f].free_(dirty[i]);
            for (int i = 0; i < N; i++) {
                clean[i] = families[f].calloc_(1, n);
                REQUIRE(clean[i] != NULL);
                if (first_nonzero(clean[i], n) != n) {
                    check_fail_at(__FILE__, __LINE__, "calloc zeroes a reused block");
                    fprintf(stderr, "    %s, %zu bytes: byte %zu is %#x\n", families[f].name, n,
                            first_nonzero(clean[i], n), clean[i][first_nonzero(clean[i], n)]);
                }
                for (int j = 0; j < N; j++)
                    reused += clean[i] == dirty[j];
            }
            for (int i = 0; i < N; i++)
                families[f].free_(clean[i]);
        }
        /* in pool mode the object family must have handed dirty blocks back out */
        if (f == 0 && check_plain_pools())
            CHECK(reused > 0);
    }
}

static void calloc_overflow_is_enomem(void) {
    size_t half = SIZE_MAX / 2 + 1;
    size_t pairs[][2] = {{half, 2}, {2, half}, {SIZE_MAX, SIZE_MAX}, {SIZE_MAX / 3 + 1, 3},
                         {(size_t)1 << 33, (size_t)1 << 31}};
    for (size_t f = 0; f < NFAM; f++) {
        for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
            errno = 0;
            void *p = families[f].calloc_(pairs[i][0], pairs[i][1]);
            if (p != NULL || errno != ENOMEM) {
                check_fail_at(__FILE__, __LINE__, "overflowing calloc gives NULL + ENOMEM");
                fprintf(stderr, "    %s calloc(%zu, %zu): %p, errno %d\n", families[f].name,
                        pairs[i][0], pairs[i][1], p, errno);
                families[f].free_(p);
            }
        }
    }
}

/* The product is 0 whatever the other factor: no overflow, and the block of a 0-byte request
 * (unique, non-NULL, freeable). */
static void calloc_of_zero_by_a_huge_size_is_a_unique_block(void) {
    static volatile size_t huge = SIZE_MAX, half = (size_t)1 << 63;
    size_t pairs[][2] = {{0, huge}, {huge, 0}, {0, half}, {half, 0}};
    enum { NPAIRS = sizeof pairs / sizeof pairs[0] };
    for (size_t f = 0; f < NFAM; f++) {
        void *p[NPAIRS];
        for (size_t i = 0; i < NPAIRS; i++) {
            errno = 0;
            p[i] = families[f].calloc_(pairs[i][0], pairs[i][1]);
            if (p[i] == NULL || !check_aligned(p[i])) {
                check_fail_at(__FILE__, __LINE__, "calloc of 0 elements or of 0 bytes each "
                                                  "gives an aligned block");
                fprintf(stderr, "    %s calloc(%zu, %zu): %p, errno %d\n", families[f].name,
                        pairs[i][0], pairs[i][1], p[i], errno);
            }
            for (size_t j = 0; j < i; j++)
                CHECK(p[i] == NULL || p[i] != p[j]);
        }
        for (size_t i = 0; i < NPAIRS; i++)
            families[f].free_(p[i]);
    }
}

static void requests_above_ptrdiff_max_are_enomem(void) {
    size_t sizes[] = {(size_t)PTRDIFF_MAX + 1, SIZE_MAX - 15, SIZE_MAX};
    for (size_t f = 0; f < NFAM; f++) {
        for (size_t i = 0; i < 3; i++) {
            errno = 0;
            void *p = families[f].malloc_(sizes[i]);
            CHECK(p == NULL);
            CHECK_EQ(errno, ENOMEM);
            errno = 0;
            p = families[f].calloc_(1, sizes[i]);
            CHECK(p == NULL);
            CHECK_EQ(errno, ENOMEM);
            errno = 0;
            p = families[f].realloc_(NULL, sizes[i]);
            CHECK(p == NULL);
            CHECK_EQ(errno, ENOMEM);
        }
    }
    /* the allocator is intact afterwards */
    void *p = pymt_object_malloc(64), *q = pymt_mem_malloc(64);
    CHECK(p != NULL && q != NULL);
    pymt_object_free(p);
    pymt_mem_free(q);
}

/* ---- objects ------------------------------------------------------------------------------- */

typedef struct point {
    pymt_object ob_base;
    double x, y;
} point;

typedef struct tuple {
    pymt_varobject ob_base;
    void *items[1];
} tuple;

static const pymt_type point_type = {"point", sizeof(point), 0};
static const pymt_type tuple_type = {"tuple", offsetof(tuple, items), sizeof(void *)};

static void object_new_sets_refcount_and_type(void) {
    pymt_object *o = pymt_object_new(&point_type);
    REQUIRE(o != NULL);
    CHECK_EQ(o->ob_refcnt, 1);
    CHECK(o->ob_type == &point_type);
    CHECK(check_aligned(o));
    CHECK(pymt_usable_size(o) >= sizeof(point));
    if (check_plain_pools())
        CHECK_EQ(pymt_usable_size(o), check_class_size(sizeof(point)));
    ((point *)o)->x = 1.5;
    ((point *)o)->y = -2.5;
    pymt_object_del(o);
}

static void object_new_rejects_bad_types(void) {
    static const pymt_type too_small = {"too_small", sizeof(pymt_object) - 1, 0};
    errno = 0;
    CHECK(pymt_object_new(NULL) == NULL);
    CHECK_EQ(errno, EINVAL);
    errno = 0;
    CHECK(pymt_object_new(&too_small) == NULL);
    CHECK_EQ(errno, EINVAL);
}

static void check_newvar(const pymt_type *t, ptrdiff_t n) {
    pymt_varobject *v = pymt_object_newvar(t, n);
    REQUIRE(v != NULL);
    size_t want = (t->tp_basicsize + (size_t)n * t->tp_itemsize + 15) / 16 * 16;
    CHECK_EQ(v->ob_base.ob_refcnt, 1);
    CHECK(v->ob_base.ob_type == t);
    CHECK_EQ(v->ob_size, n);
    CHECK(check_aligned(v));
    size_t usable = pymt_usable_size(v);
    pymt_mode mode = pymt_get_mode();
    if (mode == PYMT_MODE_PYMALLOC && want <= check_pool_max())
        want = check_class_size(want); /* a medium block is its class's size */
    bool exact = (mode == PYMT_MODE_PYMALLOC && want <= check_pool_max()) ||
                 mode == PYMT_MODE_PYMALLOC_DEBUG || mode == PYMT_MODE_MALLOC_DEBUG;
    if (exact ? usable != want : usable < want) {
        check_fail_at(__FILE__, __LINE__, "newvar allocates basicsize + n * itemsize, rounded");
        fprintf(stderr, "    %s, n %td: usable %zu, want %s%zu\n", t->tp_name, n, usable,
                exact ? "" : ">= ", want);
    }
    memset((char *)v + sizeof(pymt_varobject), 0x77, want - sizeof(pymt_varobject));
    pymt_object_del(v);
}

static void newvar_sets_size_and_allocates_rounded_size(void) {
    static const pymt_type odd = {"odd", sizeof(pymt_varobject) + 1, 3};
    static const pymt_type bytes = {"bytes", sizeof(pymt_varobject), 1};
    for (ptrdiff_t n = 0; n <= 70; n++) {
        check_newvar(&tuple_type, n);
        check_newvar(&odd, n);
    }
    for (ptrdiff_t n = 0; n <= 600; n++)
        check_newvar(&bytes, n);
    check_newvar(&tuple_type, 1000);
}

static void newvar_rejects_negative_and_overflowing_n(void) {
    static const pymt_type huge_items = {"huge_items", sizeof(pymt_varobject),
                                         SIZE_MAX / 4 + 1};
    static const pymt_type bytes = {"bytes", sizeof(pymt_varobject), 1};
    struct {
        const pymt_type *t;
        ptrdiff_t n;
    } bad[] = {
        {&tuple_type, -1},        {&tuple_type, PTRDIFF_MIN}, {&bytes, -1000},
        {&huge_items, 4},         {&huge_items, 5},           {&tuple_type, PTRDIFF_MAX},
        {&tuple_type, PTRDIFF_MAX / 8 + 1},                   {&bytes, PTRDIFF_MAX},
        {&bytes, PTRDIFF_MAX - (ptrdiff_t)sizeof(pymt_varobject) + 1},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        errno = 0;
        pymt_varobject *v = pymt_object_newvar(bad[i].t, bad[i].n);
        if (v != NULL || errno != ENOMEM) {
            check_fail_at(__FILE__, __LINE__, "bad newvar gives NULL + ENOMEM");
            fprintf(stderr, "    %s, n %td: %p, errno %d\n", bad[i].t->tp_name, bad[i].n,
                    (void *)v, errno);
            pymt_object_del(v);
        }
    }
    /* n == 0 with a huge itemsize is fine: only the head */
    pymt_varobject *v = pymt_object_newvar(&huge_items, 0);
    CHECK(v != NULL);
    pymt_object_del(v);
}

static void object_macros_give_typed_objects(void) {
    point *p = PYMT_OBJECT_NEW(point, &point_type);
    REQUIRE(p != NULL);
    CHECK_EQ(p->ob_base.ob_refcnt, 1);
    CHECK(p->ob_base.ob_type == &point_type);
    p->x = 3;
    tuple *t = PYMT_OBJECT_NEWVAR(tuple, &tuple_type, 5);
    REQUIRE(t != NULL);
    CHECK_EQ(t->ob_base.ob_size, 5);
    CHECK(t->ob_base.ob_base.ob_type == &tuple_type);
    CHECK(pymt_usable_size(t) >= offsetof(tuple, items) + 5 * sizeof(void *));
    for (int i = 0; i < 5; i++)
        t->items[i] = p;
    pymt_object_del(t);
    pymt_object_del(p);
}

/* ---- usable size --------------------------------------------------------------------------- */

static void usable_size_of_every_kind_of_block(void) {
    bool exact = check_plain_pools();
    unsigned char *pool = pymt_object_malloc(100);
    unsigned char *sys = pymt_object_malloc(3000);
    unsigned char *raw = pymt_mem_malloc(100);
    unsigned char *rawbig = pymt_mem_malloc(3000);
    REQUIRE(pool && sys && raw && rawbig);
    if (exact)
        CHECK_EQ(pymt_usable_size(pool), 112);
    CHECK(pymt_usable_size(pool) >= 100);
    CHECK(pymt_usable_size(sys) >= 3000);
    CHECK(pymt_usable_size(raw) >= 100);
    CHECK(pymt_usable_size(rawbig) >= 3000);
    /* the whole usable size is writable */
    memset(pool, 1, pymt_usable_size(pool));
    memset(sys, 2, pymt_usable_size(sys));
    memset(raw, 3, pymt_usable_size(raw));
    memset(rawbig, 4, pymt_usable_size(rawbig));
    pymt_object_free(pool);
    pymt_object_free(sys);
    pymt_mem_free(raw);
    pymt_mem_free(rawbig);
}

static const check_case cases[] = {
    CHECK_CASE(malloc_zero_is_unique_and_non_null),
    CHECK_CASE(free_null_is_a_noop),
    CHECK_CASE(every_block_is_16_aligned),
    CHECK_CASE(boundary_sizes_are_usable_in_full),
    CHECK_CASE(realloc_null_allocates),
    CHECK_CASE(realloc_to_zero_gives_a_valid_block),
    CHECK_CASE(realloc_keeps_contents_growing_within_pools),
    CHECK_CASE(realloc_keeps_contents_shrinking_within_pools),
    CHECK_CASE(realloc_keeps_contents_from_pool_to_system),
    CHECK_CASE(realloc_keeps_contents_from_system_to_pool),
    CHECK_CASE(realloc_moves_between_pools_and_system_as_size_crosses),
    CHECK_CASE(realloc_stays_in_place_within_a_class),
    CHECK_CASE(growing_realloc_asks_for_more),
    CHECK_CASE(realloc_failure_leaves_the_block_untouched),
    CHECK_CASE(calloc_zeroes_every_size),
    CHECK_CASE(calloc_zeroes_reused_blocks),
    CHECK_CASE(calloc_overflow_is_enomem),
    CHECK_CASE(calloc_of_zero_by_a_huge_size_is_a_unique_block),
    CHECK_CASE(requests_above_ptrdiff_max_are_enomem),
    CHECK_CASE(object_new_sets_refcount_and_type),
    CHECK_CASE(object_new_rejects_bad_types),
    CHECK_CASE(newvar_sets_size_and_allocates_rounded_size),
    CHECK_CASE(newvar_rejects_negative_and_overflowing_n),
    CHECK_CASE(object_macros_give_typed_objects),
    CHECK_CASE(usable_size_of_every_kind_of_block),
};
CHECK_MAIN(cases)

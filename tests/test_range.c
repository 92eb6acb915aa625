/* test_range.c: the arena range and its pool tags (arena.h), white-box. free() and realloc
 * take a pointer for a pool block, and find its class, from one tag; these cases check that a
 * tag says exactly that: class + 1 for every block of every class of both tiers, 0 for every
 * pointer that is not one (NULL, the stack, static data, glibc's heap, the tags themselves, a
 * pool not carved, an arena gone), and 0 for everything before init or without pools. They
 * also check that the range, which the kernel counts whole against RLIMIT_AS, keeps a program
 * under a limit within it: ENOMEM from the pools, never the OOM killer. */
#include "check.h"

#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "objmem.h"

#define MIB ((size_t)1 << 20)

static int static_word;

static void tags_say_ours_and_the_class(void) {
    REQUIRE(check_plain_pools());
    pymt_object_free(pymt_object_malloc(1)); /* init: the medium ceiling is known */
    size_t top = pymt__medium_limit();
    CHECK_EQ(top, PYMT__MEDIUM_MAX);
    /* every class of both tiers, first and last byte of the block */
    for (size_t n = 1; n <= top; n += n < PYMT__SMALL_MAX ? 16 : 128) {
        unsigned char *p = pymt_object_malloc(n);
        REQUIRE(p != NULL);
        unsigned c = n <= PYMT__SMALL_MAX ? pymt__size_to_class(n) : pymt__size_to_medium_class(n);
        CHECK_EQ(pymt__pool_tag(p), pymt__class_tag(c));
        CHECK_EQ(pymt__pool_tag(p + pymt__class_to_size(c) - 1), pymt__class_tag(c));
        CHECK(pymt__arena_lookup(p));
        pymt_object_free(p);
    }
    /* past the ceiling: the system allocator's */
    void *big = pymt_object_malloc(top + 1);
    REQUIRE(big != NULL);
    CHECK_EQ(pymt__pool_tag(big), 0);
    pymt_object_free(big);
    /* not blocks of ours */
    int local = 0;
    void *sys = malloc(64);
    REQUIRE(sys != NULL);
    uintptr_t base = pymt__load_relaxed(&pymt__range_base);
    CHECK_EQ(pymt__pool_tag(NULL), 0);
    CHECK_EQ(pymt__pool_tag(&local), 0);
    CHECK_EQ(pymt__pool_tag(&static_word), 0);
    CHECK_EQ(pymt__pool_tag(sys), 0);
    CHECK_EQ(pymt__pool_tag((void *)base), 0); /* the tags themselves */
    CHECK_EQ(pymt__pool_tag((void *)(base - 1)), 0);
    CHECK_EQ(pymt__pool_tag((void *)(base + PYMT__RANGE_MAX)), 0);
    CHECK_EQ(pymt__pool_tag((void *)(base + pymt__arena_range_bytes())), 0); /* past the range */
    CHECK_EQ(pymt__pool_tag((void *)UINTPTR_MAX), 0);
    free(sys);
    /* a pool not carved yet in a live arena: exactly the carved ones have tags */
    void *p = pymt_object_malloc(48);
    REQUIRE(p != NULL);
    pymt__core_lock();
    const pymt__arena *a = pymt__pool_of(p)->arena;
    uint32_t carved = a->ncarved;
    CHECK(carved >= 1 && carved <= PYMT__POOLS_PER_ARENA);
    for (uint32_t k = 0; k < PYMT__POOLS_PER_ARENA; k++) {
        const char *pool = (const char *)a->address + k * PYMT__POOL_SIZE;
        CHECK_EQ(pymt__arena_lookup(pool), k < carved);
    }
    CHECK(pymt__arena_check_locked(a));
    pymt__core_unlock();
    pymt_object_free(p);
}

/* pymt_print_stats says how much address space the range holds. */
static void stats_print_the_range(void) {
    REQUIRE(check_plain_pools());
    pymt_object_free(pymt_object_malloc(8));
    char *text = check_stats_text();
    REQUIRE(text != NULL);
    const char *line = strstr(text, "# arena range reserved (no memory) = ");
    CHECK(line != NULL);
    if (line != NULL)
        CHECK_EQ(strtoull(strchr(line, '=') + 1, NULL, 10), pymt__arena_range_bytes());
    CHECK(pymt__arena_range_bytes() >= ((size_t)80 << 20));
    free(text);
}

/* Enough 512-byte blocks to fill arenas of their own, freed and trimmed: the arena of the last
 * one retires, its tags go back to 0 and its memory back to PROT_NONE. */
static void a_retired_arena_loses_its_tags_and_memory(void) {
    REQUIRE(check_plain_pools());
    enum { N = 3 * 2048 }; /* about 3 MiB */
    static void *blocks[N];
    for (size_t i = 0; i < N; i++) {
        blocks[i] = pymt_object_malloc(512);
        REQUIRE(blocks[i] != NULL);
    }
    uintptr_t last = (uintptr_t)blocks[N - 1];
    CHECK_EQ(pymt__pool_tag((void *)last), pymt__class_tag(pymt__size_to_class(512)));
    CHECK(check_readable(last));
    for (size_t i = 0; i < N; i++)
        pymt_object_free(blocks[i]);
    pymt_thread_flush();
    CHECK(pymt_trim() >= MIB);
    CHECK_EQ(pymt__pool_tag((void *)last), 0);
    CHECK(!check_readable(last));
    /* and the slot serves again */
    void *p = pymt_object_malloc(512);
    REQUIRE(p != NULL);
    CHECK(pymt__arena_lookup(p));
    pymt_object_free(p);
}

/* Without pools (PYMT_MALLOC=malloc) the range is never reserved: base stays at its sentinel,
 * so no pointer has a tag and object memory's free goes to the system allocator. */
static void child_no_range_without_pools(void) {
    void *p = pymt_object_malloc(32);
    REQUIRE(p != NULL);
    CHECK_EQ(pymt__load_relaxed(&pymt__range_base), PYMT__RANGE_NONE);
    CHECK_EQ(pymt__arena_range_bytes(), 0);
    CHECK_EQ(pymt__pool_tag(p), 0);
    CHECK_EQ(pymt__pool_tag(NULL), 0);
    CHECK_EQ(pymt__pool_tag((void *)((uintptr_t)1 << 20)), 0); /* low addresses too */
    pymt_object_free(p);
}

static void no_range_without_pools(void) {
    static const char *const env[] = {"PYMT_MALLOC=malloc", NULL};
    static char err[1 << 12];
    int st = check_spawn_self("child_no_range_without_pools", env, err, sizeof err);
    CHECK_CHILD_EXIT0("PYMT_MALLOC=malloc child", st, err);
}

/* A limit set before init: the range takes at most a quarter of it. Once its slots are all
 * taken, small requests go to the system allocator (as pymalloc's do when it cannot get an
 * arena), until the limit itself ends them with ENOMEM; what was freed serves again. (A fresh
 * process: init has not run.) */
static void child_range_under_a_limit(void) {
    size_t vm = check_vm_bytes();
    REQUIRE(vm > 0);
    size_t limit = vm + 1024 * MIB;
    struct rlimit lim = {limit, limit};
    REQUIRE(setrlimit(RLIMIT_AS, &lim) == 0);
    void *first = pymt_object_malloc(256);
    REQUIRE(first != NULL);
    size_t range = pymt__arena_range_bytes();
    CHECK(range > 0 && range <= limit / 4);
    CHECK(!pymt__arena_range_full());
    enum { MAX = 1 << 23 };
    void **held = mmap(NULL, MAX * sizeof(void *), PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(held != MAP_FAILED);
    size_t n = 0;
    errno = 0;
    while (n < MAX && (held[n] = pymt_object_malloc(256)) != NULL)
        n++;
    CHECK(n < MAX);
    CHECK_EQ(errno, ENOMEM);
    /* the range filled up, and the system allocator served more beyond it */
    CHECK(pymt__arena_range_full());
    CHECK(n * 256 > range);
    size_t outside = 0;
    for (size_t i = 0; i < n; i++)
        outside += !pymt__arena_lookup(held[i]);
    CHECK(outside > 0);
    pymt_stats full = check_stats();
    CHECK_STATS_ADD_UP(&full);
    CHECK(full.large_in_use >= outside);
    for (size_t i = 0; i < n; i++)
        pymt_object_free(held[i]);
    pymt_thread_flush();
    (void)pymt_trim();
    CHECK(!pymt__arena_range_full()); /* slots came back */
    void *again = pymt_object_malloc(256);
    CHECK(again != NULL && pymt__arena_lookup(again));
    pymt_object_free(again);
    pymt_object_free(first);
    munmap(held, MAX * sizeof(void *));
}

/* In a fresh child: set RLIMIT_AS to limit, then make the process's first allocation (init
 * reserves the range under the limit). NULL when the program alone leaves too little room, or
 * the limit cannot be set. */
static void *first_block_under(size_t limit) {
    if (check_vm_bytes() + 100 * MIB >= limit)
        return NULL; /* the program alone would not leave the range its room */
    struct rlimit lim = {limit, limit};
    if (setrlimit(RLIMIT_AS, &lim) != 0)
        return NULL;
    return pymt_object_malloc(256);
}
/* A limit whose quarter lies between the smallest range accepted (80 MiB) and the halving
 * below it (128 MiB: 256 GiB halved) gets that quarter (400 MiB: a range of 100 MiB), not
 * pooling off; below four times the smallest range, pooling is off (the system allocator). */
static void child_range_under_400_mib(void) {
    void *p = first_block_under(400 * MIB);
    REQUIRE(p != NULL);
    size_t range = pymt__arena_range_bytes();
    CHECK(range >= 80 * MIB && range <= 100 * MIB);
    CHECK(pymt__arena_lookup(p));
    pymt_object_free(p);
}
static void child_range_under_300_mib(void) {
    void *p = first_block_under(300 * MIB);
    REQUIRE(p != NULL);
    CHECK_EQ(pymt__arena_range_bytes(), 0);
    CHECK(!pymt__arena_lookup(p));
    pymt_object_free(p);
}

static void range_fits_an_address_space_limit(void) {
    if (CHECK_SANITIZED)
        CHECK_SKIP("RLIMIT_AS cannot be used under a sanitizer");
    static const char *const env[] = {"PYMT_MALLOC=pymalloc", NULL};
    static char err[1 << 12];
    int st = check_spawn_self("child_range_under_a_limit", env, err, sizeof err);
    CHECK_CHILD_EXIT0("RLIMIT_AS child", st, err);
    st = check_spawn_self("child_range_under_400_mib", env, err, sizeof err);
    CHECK_CHILD_EXIT0("RLIMIT_AS 400 MiB child", st, err);
    st = check_spawn_self("child_range_under_300_mib", env, err, sizeof err);
    CHECK_CHILD_EXIT0("RLIMIT_AS 300 MiB child", st, err);
    CHECK(strstr(err, "cannot reserve the arena range") != NULL);
}

static const check_case cases[] = {
    CHECK_CASE(tags_say_ours_and_the_class),
    CHECK_CASE(stats_print_the_range),
    CHECK_CASE(a_retired_arena_loses_its_tags_and_memory),
    CHECK_CASE(no_range_without_pools),
    CHECK_CASE(child_no_range_without_pools),
    CHECK_CASE(range_fits_an_address_space_limit),
    CHECK_CASE(child_range_under_a_limit),
    CHECK_CASE(child_range_under_400_mib),
    CHECK_CASE(child_range_under_300_mib),
};
CHECK_MAIN(cases)

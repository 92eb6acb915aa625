/* test_trim.c: arenas go back to the OS after a burst, and pymt_trim says how much went.
 *
 * Proves: after 200 MiB of 64-byte blocks are allocated, written and freed, followed by
 * pymt_thread_flush() and pymt_trim(), the arenas in use fall back to where they started (only
 * the reserve stays mapped), RSS from /proc/self/statm falls back near its start, and
 * pymt_trim() returns a positive byte count no larger than what was unmapped; a trim with
 * nothing free returns 0; the free pools of arenas that blocks still pin are purged by the trim;
 * what a trim returns is exactly the arenas it unmapped (those its flush of the caches emptied
 * too) and the pages it purged; a trim takes the spare magazines and the kept big blocks of
 * another thread's idle cache.
 * Runs with PYMT_MALLOC=pymalloc (set by CMake). Under a sanitizer the bursts are 16 MiB and RSS
 * is not checked. */
#include "check.h"

#include <pthread.h>
#include <sys/mman.h>

#define MIB ((size_t)1 << 20)

/* What a purge gives back of a free pool: all but the page of its header. */
static size_t pool_purge_bytes(void) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    return page < ((size_t)16 << 10) ? ((size_t)16 << 10) - page : 0;
}

/* The bytes of the arenas unmapped between two snapshots. */
static size_t trim_unmapped(const pymt_stats *s1, const pymt_stats *s2) {
    return (s2->arenas_reclaimed_total - s1->arenas_reclaimed_total) * MIB;
}

static void trim_with_nothing_free_returns_zero(void) {
    REQUIRE(check_plain_pools());
    pymt_thread_flush();
    (void)pymt_trim();
    CHECK_EQ(pymt_trim(), 0);
    pymt_stats s = check_stats();
    CHECK_STATS_ADD_UP(&s);
}

static void arenas_return_to_the_os_after_a_burst(void) {
    REQUIRE(check_plain_pools());
    const size_t burst = (CHECK_SANITIZED ? 16 : 200) * MIB;
    const size_t block = 64, n = burst / block;
    void **ptrs = mmap(NULL, n * sizeof *ptrs, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(ptrs != MAP_FAILED);
    memset(ptrs, 0, n * sizeof *ptrs); /* resident before the start figure is taken */

    pymt_thread_flush();
    (void)pymt_trim();
    pymt_stats s0 = check_stats();
    size_t rss0 = check_rss_bytes();

    for (size_t i = 0; i < n; i++) {
        ptrs[i] = pymt_object_malloc(block);
        if (!ptrs[i]) {
            check_fail_at(__FILE__, __LINE__, "burst allocation succeeds");
            for (size_t j = 0; j < i; j++)
                pymt_object_free(ptrs[j]);
            munmap(ptrs, n * sizeof *ptrs);
            return;
        }
        memset(ptrs[i], (int)(i & 0xff), block);
    }
    pymt_stats peak = check_stats();
    size_t rss_peak = check_rss_bytes();
    CHECK(peak.arenas_current >= s0.arenas_current + burst / MIB - 1);
    CHECK(peak.bytes_mapped >= s0.bytes_mapped + burst);
    CHECK(peak.arenas_highwater >= peak.arenas_current);
    if (!CHECK_SANITIZED)
        CHECK(rss_peak >= rss0 + burst - burst / 8); /* the burst really was resident */

    for (size_t i = 0; i < n; i++)
        pymt_object_free(ptrs[i]);
    pymt_thread_flush();
    size_t released = pymt_trim();
    pymt_stats s1 = check_stats();
    size_t rss1 = check_rss_bytes();

    CHECK(released > 0);
    CHECK(released <= peak.bytes_mapped - s1.bytes_mapped);
    CHECK_STATS_ADD_UP(&s1);
    CHECK_EQ(check_sum_classes(&s1).in_use, check_sum_classes(&s0).in_use);
    /* arenas holding blocks are back to the start; what else is mapped is the reserve */
    if (s1.arenas_current - s1.arenas_reserve > s0.arenas_current - s0.arenas_reserve ||
        s1.arenas_reserve > s0.arenas_reserve + 1 || s1.arenas_current > s0.arenas_current + 1) {
        check_fail_at(__FILE__, __LINE__, "arenas fall back to the start plus the reserve");
        fprintf(stderr, "    arenas current/reserve: start %zu/%zu, peak %zu/%zu, end %zu/%zu\n",
                s0.arenas_current, s0.arenas_reserve, peak.arenas_current, peak.arenas_reserve,
                s1.arenas_current, s1.arenas_reserve);
    }
    CHECK(s1.arenas_reclaimed_total - s0.arenas_reclaimed_total >=
          peak.arenas_current - s1.arenas_current);
    CHECK(s1.arenas_highwater >= peak.arenas_current);
    if (!CHECK_SANITIZED) {
        /* near the start: the reserve arenas plus a little slack for metadata */
        size_t slack = 8 * MIB + s1.arenas_reserve * MIB;
        if (rss1 > rss0 + slack)
            check_fail_at(__FILE__, __LINE__, "RSS falls back near its start");
        fprintf(stderr, "    RSS start %zu KiB, peak %zu KiB, end %zu KiB; released %zu KiB\n",
                rss0 / 1024, rss_peak / 1024, rss1 / 1024, released / 1024);
    }
    munmap(ptrs, n * sizeof *ptrs);
    /* and a second trim has nothing left to give */
    CHECK_EQ(pymt_trim(), 0);
}

/* Arenas that keep one block in every 8 pools stay mapped, and their free pools stay resident
 * up to a bound (PYMT_PURGE_MAX) for reuse; pymt_trim purges them all. */
static void trim_purges_the_free_pools_of_arenas_in_use(void) {
    REQUIRE(check_plain_pools());
    const size_t burst = (CHECK_SANITIZED ? 16 : 48) * MIB;
    const size_t block = 64, n = burst / block, every = 8 * 255; /* 255 blocks a pool */
    void **ptrs = mmap(NULL, n * sizeof *ptrs, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(ptrs != MAP_FAILED);
    pymt_thread_flush();
    (void)pymt_trim();
    for (size_t i = 0; i < n; i++) {
        ptrs[i] = pymt_object_malloc(block);
        REQUIRE(ptrs[i] != NULL);
        memset(ptrs[i], 0x5a, block);
    }
    for (size_t i = 0; i < n; i++)
        if (i % every != 0)
            pymt_object_free(ptrs[i]);
    pymt_thread_flush();
    pymt_stats s1 = check_stats();
    size_t rss1 = check_rss_bytes();
    size_t released = pymt_trim();
    pymt_stats s2 = check_stats();
    size_t rss2 = check_rss_bytes();
    size_t purged = s2.pools_purged_total - s1.pools_purged_total;
    fprintf(stderr,
            "    %zu arenas in use, %zu free pools; the trim purged %zu, RSS %zu -> %zu KiB\n",
            s1.arenas_current, s1.pools_free, purged, rss1 / 1024, rss2 / 1024);
    CHECK(s2.arenas_current + 4 >= s1.arenas_current); /* the kept blocks pin their arenas */
    CHECK(purged >= 64);                               /* at least 1 MiB of pools */
    /* the purged pools' pages are in what the trim says it gave back */
    CHECK_EQ(released, trim_unmapped(&s1, &s2) + purged * pool_purge_bytes());
    if (!CHECK_SANITIZED)
        CHECK(rss2 + MIB <= rss1);
    for (size_t i = 0; i < n; i += every)
        pymt_object_free(ptrs[i]);
    munmap(ptrs, n * sizeof *ptrs);
    pymt_thread_flush();
    (void)pymt_trim();
    pymt_stats s3 = check_stats();
    CHECK_STATS_ADD_UP(&s3);
}

/* pymt_trim counts every arena it unmaps, those that its flush of the caches and the depot
 * empties too: 60 blocks of 256 KiB (20 medium arenas), freed, leave some blocks in this
 * thread's cache and in the depot; the trim gives them back, their arenas empty and, the
 * reserve being full, are unmapped at once. It counted only the kept and reserve arenas it
 * unmapped itself: 3 MiB of 6 (so the drop-in's malloc_trim said "nothing" when only those
 * went). */
static void trim_counts_the_arenas_its_flush_unmaps(void) {
    REQUIRE(check_plain_pools());
    if (!pymt_medium_enabled())
        CHECK_SKIP("the medium tier is off");
    enum { N = 60, BIG = 256 << 10 };
    static void *v[N];
    pymt_thread_flush();
    (void)pymt_trim();
    for (int i = 0; i < N; i++) {
        REQUIRE((v[i] = pymt_object_malloc(BIG)) != NULL);
        memset(v[i], 0x4d, 4096);
    }
    for (int i = 0; i < N; i++)
        pymt_object_free(v[i]);
    pymt_stats s1 = check_stats();
    size_t released = pymt_trim();
    pymt_stats s2 = check_stats();
    size_t purged = s2.pools_purged_total - s1.pools_purged_total;
    fprintf(stderr, "    the trim unmapped %zu arenas, purged %zu pools, returned %zu KiB\n",
            trim_unmapped(&s1, &s2) / MIB, purged, released / 1024);
    CHECK(trim_unmapped(&s1, &s2) >= 4 * MIB);
    CHECK_EQ(s2.medium_blocks_purged_total, s1.medium_blocks_purged_total); /* none free */
    CHECK_EQ(released, trim_unmapped(&s1, &s2) + purged * pool_purge_bytes());
    CHECK_EQ(pymt_trim(), 0);
}

/* A thread that fills its cache and then idles: the trim, called by another thread, takes its
 * spare magazines and the big blocks it keeps, and leaves its bins to it. The worker and the
 * main thread meet twice at idle_bar: once the worker's cache is full, once the trim is done. */
static pthread_barrier_t idle_bar;

enum { IDLE_BLOCKS = 2048, IDLE_BIG = 512 << 10 };

static bool idle_churn(void) {
    static void *p[IDLE_BLOCKS];
    for (size_t i = 0; i < IDLE_BLOCKS; i++) {
        p[i] = pymt_object_malloc(64);
        if (p[i] == NULL) {
            while (i-- > 0)
                pymt_object_free(p[i]);
            return false;
        }
        memset(p[i], 0x6b, 64);
    }
    for (size_t i = 0; i < IDLE_BLOCKS; i++)
        pymt_object_free(p[i]);
    /* above the pools' ceiling and below 1 MiB: the thread's large-block cache keeps it */
    void *big = pymt_object_malloc(IDLE_BIG);
    if (big == NULL)
        return false;
    memset(big, 0x6c, IDLE_BIG);
    pymt_object_free(big);
    return true;
}

static void *idle_worker(void *arg) {
    bool ok = idle_churn();
    pthread_barrier_wait(&idle_bar);
    pthread_barrier_wait(&idle_bar);
    /* its cache goes on working after another thread trimmed it */
    ok = idle_churn() && ok;
    return ok ? arg : NULL;
}

static void trim_takes_what_idle_threads_cache(void) {
    REQUIRE(check_plain_pools());
    REQUIRE(pymt_tcache_enabled());
    REQUIRE(pthread_barrier_init(&idle_bar, NULL, 2) == 0);
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, idle_worker, &idle_bar) == 0);
    pthread_barrier_wait(&idle_bar);
    pymt_thread_flush(); /* what is cached now is the idle worker's */
    pymt_stats s1 = check_stats();
    (void)pymt_trim();
    pymt_stats s2 = check_stats();
    pthread_barrier_wait(&idle_bar);
    void *ret = NULL;
    CHECK(pthread_join(th, &ret) == 0);
    CHECK(ret == &idle_bar);
    pthread_barrier_destroy(&idle_bar);
    fprintf(stderr, "    idle thread's cache: %zu -> %zu bytes, large blocks kept %zu -> %zu\n",
            s1.tcache_bytes, s2.tcache_bytes, s1.large_cached_bytes, s2.large_cached_bytes);
    /* after 2048 frees the 64-byte class's spare is full (128 blocks) and its bin holds some */
    CHECK(s1.tcache_bytes > 128 * 64);
    CHECK(s2.tcache_bytes + 128 * 64 <= s1.tcache_bytes);
    CHECK(s2.tcache_bytes > 0); /* the bin is the owner's alone */
    /* sanitizer and Valgrind builds keep no large blocks */
    if (s1.large_cached_bytes != 0)
        CHECK(s1.large_cached_bytes >= IDLE_BIG);
    CHECK_EQ(s2.large_cached_bytes, 0);
    pymt_thread_flush();
    (void)pymt_trim();
    pymt_stats s3 = check_stats();
    CHECK_STATS_ADD_UP(&s3);
}

/* ---- arenas taken back from the warm reserve ---------------------------------------------- */

/* KiB of [from, to) of p's arena that are resident (mincore). */
static size_t arena_resident_kib(const void *p, size_t from, size_t to) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    uintptr_t base = (uintptr_t)p & ~(uintptr_t)(MIB - 1);
    static unsigned char v[MIB / 512]; /* a byte a page, for pages down to 512 bytes */
    from = (from + page - 1) / page * page;
    if (to <= from || mincore((void *)(base + from), to - from, v) != 0)
        return 0;
    size_t n = 0;
    for (size_t i = 0; i < (to - from) / page; i++)
        n += v[i] & 1;
    return n * page / 1024;
}

/* Run child case name in a fresh process, whose warm reserve holds what it freed itself (the
 * cases use medium blocks). */
static void child_case(const char *name) {
    REQUIRE(check_plain_pools());
    if (!pymt_medium_enabled())
        CHECK_SKIP("the medium tier is off");
    static char err[1 << 12];
    int st = check_spawn_self(name, NULL, err, sizeof err);
    CHECK_CHILD_EXIT0("the child case", st, err);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0 && err[0] != '\0')
        fputs(err, stderr);
}

/* n blocks of size bytes, written, all but the first keep freed: the arenas of the others
 * empty, and one (an eighth of the heap) stays warm. Then a block of small bytes, written, takes
 * it, and a trim: the small block's arena resident before and after, in KiB, and the trim's
 * return value must account for the difference. */
static void warm_arena_taken_and_trimmed(size_t size, int n, int keep, size_t small) {
    static void *p[30 * 1638];
    REQUIRE((size_t)n <= sizeof p / sizeof p[0]);
    for (int i = 0; i < n; i++) {
        REQUIRE((p[i] = pymt_object_malloc(size)) != NULL);
        memset(p[i], 1, size);
    }
    for (int i = keep; i < n; i++)
        pymt_object_free(p[i]);
    void *b = pymt_object_malloc(small);
    REQUIRE(b != NULL);
    memset(b, 2, small);
    size_t before = arena_resident_kib(b, 0, MIB);
    size_t released = pymt_trim();
    size_t after = arena_resident_kib(b, 0, MIB);
    fprintf(stderr, "    the %zu-byte block's arena: %zu KiB resident, %zu after the trim\n",
            small, before, after);
    CHECK(before >= 512); /* it came warm, with the freed blocks' pages */
    CHECK(after <= 64);
    CHECK(released >= (before - after) * 1024);
    pymt_object_free(b);
    for (int i = 0; i < keep; i++)
        pymt_object_free(p[i]);
}

/* A warm arena comes back with the pages its last owner wrote; a medium class carves it from the
 * base up, and the trim gives back what lies past the carved blocks. 120 blocks of 256 KiB,
 * 90 freed: 30 arenas emptied. A block of 640 bytes takes the warm one: 772 KiB resident, of
 * which the trim gave back nothing (a fresh arena holds 4 KiB). */
static void child_warm_medium_arena(void) {
    warm_arena_taken_and_trimmed(256 << 10, 120, 30, 640);
}

static void trim_gives_back_the_uncarved_part_of_a_warm_medium_arena(void) {
    child_case("child_warm_medium_arena");
}

/* The same in the pool tier, which carves an arena's pools lazily: 30 medium arenas of 640-byte
 * blocks (1638 an arena), 20 freed; a block of 16 bytes takes the warm one as its core's
 * arena, and the trim gives back the pools it has not carved (it left all 1024 KiB). */
static void child_warm_pool_arena(void) {
    warm_arena_taken_and_trimmed(640, 30 * 1638, 10 * 1638, 16);
}

static void trim_gives_back_the_uncarved_pools_of_a_warm_arena(void) {
    child_case("child_warm_pool_arena");
}

/* The end of a medium arena that no block covers (262,016 bytes in the 256 KiB class) is never
 * carved, and a full arena is on no list a trim walks. A warm arena whose pools were all
 * written, taken by that class, gives its end back when the class takes it: 24 arenas of
 * 512-byte blocks, 16 freed, then three blocks of 256 KiB (not written) fill the warm one.
 * Its end stayed resident, trim or not. */
static void child_warm_arena_tail(void) {
    enum { PER = 64 * 31, N = 24 * PER, KEEP = 8 * PER, BIG = 256 << 10 };
    static void *p[N];
    void *big[3];
    for (int i = 0; i < N; i++) {
        REQUIRE((p[i] = pymt_object_malloc(512)) != NULL);
        memset(p[i], 1, 512);
    }
    for (int i = KEEP; i < N; i++)
        pymt_object_free(p[i]);
    pymt_thread_flush();
    for (int i = 0; i < 3; i++)
        REQUIRE((big[i] = pymt_object_malloc(BIG)) != NULL);
    uintptr_t base = (uintptr_t)big[0] & ~(uintptr_t)(MIB - 1);
    for (int i = 1; i < 3; i++)
        REQUIRE(((uintptr_t)big[i] & ~(uintptr_t)(MIB - 1)) == base);
    size_t end = (uintptr_t)big[0] > (uintptr_t)big[2] ? (uintptr_t)big[0] : (uintptr_t)big[2];
    end = end - base + BIG; /* past the last block */
    size_t blocks = arena_resident_kib(big[0], 0, end), tail = arena_resident_kib(big[0], end, MIB);
    (void)pymt_trim();
    size_t tail_trimmed = arena_resident_kib(big[0], end, MIB);
    fprintf(stderr, "    the full arena: %zu KiB resident under its blocks, %zu past them, %zu "
            "after the trim\n", blocks, tail, tail_trimmed);
    CHECK(blocks >= 512); /* it came warm */
    CHECK_EQ(tail, 0);
    CHECK_EQ(tail_trimmed, 0);
    for (int i = 0; i < 3; i++)
        pymt_object_free(big[i]);
    for (int i = 0; i < KEEP; i++)
        pymt_object_free(p[i]);
}

static void a_warm_arena_gives_back_the_end_no_block_covers(void) {
    child_case("child_warm_arena_tail");
}

static void allocator_works_after_trim(void) {
    void *p[1000];
    for (int i = 0; i < 1000; i++) {
        p[i] = pymt_object_malloc((size_t)(i % 600) + 1);
        REQUIRE(p[i] != NULL);
        memset(p[i], 0x3c, (size_t)(i % 600) + 1);
    }
    for (int i = 0; i < 1000; i++)
        pymt_object_free(p[i]);
    pymt_thread_flush();
    (void)pymt_trim();
    pymt_stats s = check_stats();
    CHECK_STATS_ADD_UP(&s);
}

static const check_case cases[] = {
    CHECK_CASE(trim_with_nothing_free_returns_zero),
    CHECK_CASE(arenas_return_to_the_os_after_a_burst),
    CHECK_CASE(trim_purges_the_free_pools_of_arenas_in_use),
    CHECK_CASE(trim_counts_the_arenas_its_flush_unmaps),
    CHECK_CASE(trim_takes_what_idle_threads_cache),
    CHECK_CASE(trim_gives_back_the_uncarved_part_of_a_warm_medium_arena),
    CHECK_CASE(child_warm_medium_arena),
    CHECK_CASE(trim_gives_back_the_uncarved_pools_of_a_warm_arena),
    CHECK_CASE(child_warm_pool_arena),
    CHECK_CASE(a_warm_arena_gives_back_the_end_no_block_covers),
    CHECK_CASE(child_warm_arena_tail),
    CHECK_CASE(allocator_works_after_trim),
};
CHECK_MAIN(cases)

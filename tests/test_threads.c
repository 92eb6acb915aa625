/* test_threads.c: eight threads allocate, fill, hand over, check and free at random.
 *
 * Each thread loops: allocate a block of a random size (every size class, and above the
 * threshold up to 4 KiB; object memory or raw memory; some grown or shrunk by realloc), fill
 * it with a pattern derived from its header (size, family, seed), and swap it into a random
 * slot of a shared table. Whatever block it takes out, most likely allocated by another
 * thread, is checked byte by byte and freed with its family. At the end the table is drained
 * and, in pool mode, every block is back: nothing in use, nothing cached, the counts add up.
 * Registered as `threads`, `threads.tcache_off` and `threads.malloc`. */
#include "check.h"

#include <pthread.h>
#include <stdatomic.h>

enum { THREADS = 8, SLOTS = 4096 };
#define OPS_PER_THREAD (CHECK_SANITIZED ? 15000 : 120000)

typedef struct header {
    uint32_t size; /* bytes of the block, header included */
    uint16_t family; /* 0: object memory, 1: raw memory */
    uint16_t seed;
} header;

static _Atomic(header *) slots[SLOTS];
static atomic_int bad_blocks;

static unsigned char pat(const header *h, size_t i) {
    return (unsigned char)(h->seed ^ (i * 29u) ^ (i >> 7));
}

static void fill(header *h) {
    unsigned char *b = (unsigned char *)h;
    for (size_t i = sizeof *h; i < h->size; i++)
        b[i] = pat(h, i);
}

static bool intact(const header *h) {
    const unsigned char *b = (const unsigned char *)h;
    for (size_t i = sizeof *h; i < h->size; i++)
        if (b[i] != pat(h, i))
            return false;
    return true;
}

static void check_and_free(header *h) {
    if (!intact(h)) {
        atomic_fetch_add(&bad_blocks, 1);
        fprintf(stderr, "    block %p (%u bytes, family %u) was overwritten\n", (void *)h,
                h->size, h->family);
    }
    if (h->family)
        pymt_mem_free(h);
    else
        pymt_object_free(h);
}

static uint64_t next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static size_t random_size(uint64_t *rng) {
    uint64_t r = next(rng);
    size_t n = (r % 100 < 85) ? 1 + (r >> 8) % PYMT_SMALL_REQUEST_THRESHOLD
                              : PYMT_SMALL_REQUEST_THRESHOLD + 1 + (r >> 8) % 3584;
    return n < sizeof(header) ? sizeof(header) : n;
}

static atomic_int alloc_failures;

static void *worker(void *arg) {
    uint64_t rng = 0x9e3779b97f4a7c15ull * ((uintptr_t)arg + 1);
    for (int op = 0; op < OPS_PER_THREAD; op++) {
        size_t n = random_size(&rng);
        int family = (next(&rng) % 4 == 0);
        header *h = family ? pymt_mem_malloc(n) : pymt_object_malloc(n);
        if (!h) {
            atomic_fetch_add(&alloc_failures, 1);
            continue;
        }
        h->size = (uint32_t)n;
        h->family = (uint16_t)family;
        h->seed = (uint16_t)next(&rng);
        fill(h);
        if (next(&rng) % 8 == 0) {
            /* move it to another size, keeping the contents */
            size_t m = random_size(&rng);
            if (!intact(h))
                atomic_fetch_add(&bad_blocks, 1);
            header *q = family ? pymt_mem_realloc(h, m) : pymt_object_realloc(h, m);
            if (!q) {
                atomic_fetch_add(&alloc_failures, 1);
                check_and_free(h);
                continue;
            }
            h = q;
            size_t keep = n < m ? n : m;
            uint32_t full = h->size;
            h->size = (uint32_t)keep;
            if (!intact(h)) {
                atomic_fetch_add(&bad_blocks, 1);
                fprintf(stderr, "    realloc %u -> %zu lost contents\n", full, m);
            }
            h->size = (uint32_t)m;
            fill(h);
        }
        header *old = atomic_exchange(&slots[next(&rng) % SLOTS], h);
        if (old)
            check_and_free(old);
    }
    return NULL;
}

static void eight_threads_exchange_and_check_blocks(void) {
    bool pools = check_plain_pools();
    pymt_object_free(pymt_object_malloc(16)); /* this thread's cache exists before s0 */
    pymt_thread_flush();
    pymt_stats s0 = check_stats();
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        REQUIRE(pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)i) == 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    size_t left = 0;
    for (int i = 0; i < SLOTS; i++) {
        header *h = atomic_exchange(&slots[i], NULL);
        if (h) {
            left++;
            check_and_free(h);
        }
    }
    CHECK_EQ(atomic_load(&bad_blocks), 0);
    CHECK_EQ(atomic_load(&alloc_failures), 0);
    CHECK(left > SLOTS / 2); /* the table really was full of blocks */
    pymt_thread_flush();
    if (pools) {
        pymt_stats s1 = check_stats();
        CHECK_STATS_ADD_UP(&s1);
        check_totals t0 = check_sum_classes(&s0), t1 = check_sum_classes(&s1);
        CHECK_EQ(t1.in_use, t0.in_use);
        CHECK_EQ(t1.cached, 0);
        CHECK_EQ(s1.large_in_use, s0.large_in_use);
        CHECK(s1.threads_cached <= s0.threads_cached);
    }
}

static void allocator_is_sound_after_the_storm(void) {
    void *p[2000];
    for (int i = 0; i < 2000; i++) {
        p[i] = pymt_object_malloc((size_t)i % 800 + 1);
        REQUIRE(p[i] != NULL);
        memset(p[i], 0x44, (size_t)i % 800 + 1);
    }
    for (int i = 0; i < 2000; i++)
        pymt_object_free(p[i]);
    pymt_thread_flush();
    (void)pymt_trim();
    if (check_plain_pools()) {
        pymt_stats s = check_stats();
        CHECK_STATS_ADD_UP(&s);
    }
}

static const check_case cases[] = {
    CHECK_CASE(eight_threads_exchange_and_check_blocks),
    CHECK_CASE(allocator_is_sound_after_the_storm),
};
CHECK_MAIN(cases)

/* test_internal.c: the white-box test. It links the library's internals (the static library)
 * and calls the validators of every layer after each step of scripted scenarios: the pool core
 * (pymt__pool_check_locked, pymt__pool_lists_check_locked, pymt__heap_check_locked), the
 * arenas (pymt__arena_check_locked), the medium classes (pymt__medium_check), the depot
 * (pymt__depot_check) and the calling thread's cache (pymt__tcache_check). Then it corrupts one
 * field at a time and checks that the validator meant to see it says false, and true again
 * once the field is restored, so no validator is one that cannot fail. Runs with
 * PYMT_MALLOC=pymalloc (ctest ENVIRONMENT), and again with PYMT_HARDEN=1 (internal.harden),
 * where the same validators decode the encoded links and check the free markers and canaries,
 * and the hardened cases below corrupt a link, a marker and a canary behind the allocator's
 * back: the validators see each, and the hardened depot stops a program that follows a
 * corrupted batch (in a forked child). */
#include "check.h"

#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include "objmem.h"
#include "os.h"
#include "records.h"
#include "tcache_own.h"

/* Every validator of the core, under one acquisition of the core lock. */
static bool core_ok(void) {
    pymt__core_lock();
    bool ok = pymt__heap_check_locked() && pymt__pool_lists_check_locked();
    pymt__core_unlock();
    return ok;
}

static bool depot_ok(void) {
    for (unsigned c = 0; c < PYMT__NBINS; c++)
        if (!pymt__depot_check(c))
            return false;
    return true;
}

static bool medium_ok(void) {
    for (unsigned i = 0; i < PYMT__NMEDIUM; i++)
        if (!pymt__medium_check(i))
            return false;
    return true;
}

static bool all_ok(void) {
    return core_ok() && medium_ok() && depot_ok() && pymt__tcache_check(pymt__tcache_self()) &&
           pymt__tcache_records_check();
}

enum { N = 20000 };
static void *blocks[N];

static size_t size_of(size_t i) {
    /* 1..700 mostly (every small class and the first medium ones), and one in eight up to
     * 17000 (every medium class and large blocks) */
    return i % 8 == 7 ? (i * 131) % 17000 + 1 : (i * 37) % 700 + 1;
}

static void scripted_steps_keep_every_invariant(void) {
    REQUIRE(pymt_get_mode() == PYMT_MODE_PYMALLOC);
    CHECK(all_ok());
    for (size_t i = 0; i < N; i++) {
        blocks[i] = pymt_object_malloc(size_of(i));
        REQUIRE(blocks[i] != NULL);
        memset(blocks[i], (int)(i & 0xff), size_of(i));
        if (i % 4096 == 0)
            CHECK(all_ok());
    }
    CHECK(all_ok());
    /* every other block back: pools go from full to partly used */
    for (size_t i = 0; i < N; i += 2)
        pymt_object_free(blocks[i]);
    CHECK(all_ok());
    /* realloc across the threshold in both directions */
    for (size_t i = 1; i < N; i += 2) {
        void *q = pymt_object_realloc(blocks[i], size_of(i + 300));
        REQUIRE(q != NULL);
        blocks[i] = q;
    }
    CHECK(all_ok());
    for (size_t i = 1; i < N; i += 2)
        pymt_object_free(blocks[i]);
    CHECK(all_ok());
    pymt_thread_flush();
    CHECK(all_ok());
    (void)pymt_trim();
    CHECK(all_ok());
    pymt_stats s = check_stats();
    CHECK_STATS_ADD_UP(&s);
}

/* A producer's blocks freed by a consumer travel through the depot. */
static void *consume(void *arg) {
    void **v = arg;
    for (size_t i = 0; i < N; i++)
        pymt_object_free(v[i]);
    bool ok = pymt__tcache_check(pymt__tcache_self());
    return ok ? arg : NULL;
}

static void cross_thread_frees_keep_every_invariant(void) {
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < N; i++) {
            blocks[i] = pymt_object_malloc(64);
            REQUIRE(blocks[i] != NULL);
        }
        pthread_t t;
        void *res = NULL;
        REQUIRE(pthread_create(&t, NULL, consume, blocks) == 0);
        REQUIRE(pthread_join(t, &res) == 0);
        CHECK(res != NULL);
        CHECK(all_ok());
    }
    pymt_thread_flush();
    (void)pymt_trim();
    CHECK(all_ok());
}

/* ---- each validator sees the corruption it is there for ----------------------------------- */

static void pool_check_sees_a_wrong_count(void) {
    void *p = pymt_object_malloc(48), *q = pymt_object_malloc(48);
    REQUIRE(p != NULL && q != NULL);
    pymt__pool *pool = pymt__pool_of(p);
    pymt__core_lock();
    CHECK(pymt__pool_check_locked(pool));
    pool->count++;
    CHECK(!pymt__pool_check_locked(pool));
    CHECK(!pymt__heap_check_locked());
    pool->count--;
    CHECK(pymt__pool_check_locked(pool));
    CHECK(pymt__heap_check_locked());
    /* a free-list link pointing outside the pool */
    void *saved = pool->freeblock;
    pool->freeblock = (char *)pool + PYMT__POOL_SIZE;
    CHECK(!pymt__pool_check_locked(pool));
    pool->freeblock = saved;
    CHECK(pymt__pool_check_locked(pool));
    pymt__core_unlock();
    pymt_object_free(p);
    pymt_object_free(q);
}

/* Records (records.h): handed out zeroed, chunks mapped as needed and unmapped as they empty
 * down to one; the validator sees a free record's link overwritten. */
static void records_come_and_go_and_check_sees_a_bad_link(void) {
    enum { NREC = 200 };
    pymt__records r = PYMT__RECORDS_INIT(1500);
    static unsigned char *rec[NREC];
    for (int i = 0; i < NREC; i++) {
        rec[i] = pymt__records_alloc(&r);
        REQUIRE(rec[i] != NULL);
        size_t nonzero = 0;
        for (size_t k = 0; k < 1500; k++)
            nonzero += rec[i][k] != 0;
        CHECK_EQ(nonzero, 0);
        memset(rec[i], 0xC3, 1500);
    }
    CHECK(r.chunks >= NREC * 1500 / PYMT__RECORDS_CHUNK + 1);
    CHECK_EQ(r.live, NREC);
    CHECK(pymt__records_check(&r));
    for (int i = 0; i < NREC; i += 2)
        pymt__records_free(&r, rec[i]);
    CHECK(pymt__records_check(&r));
    /* a use after free of the record: its link (in the 16 bytes before it) overwritten */
    void *saved;
    memcpy(&saved, rec[10] - 16, sizeof saved);
    memset(rec[10] - 16, 0x5A, sizeof saved);
    CHECK(!pymt__records_check(&r));
    memcpy(rec[10] - 16, &saved, sizeof saved);
    CHECK(pymt__records_check(&r));
    for (int i = 0; i < NREC; i += 2) { /* reused zeroed */
        rec[i] = pymt__records_alloc(&r);
        REQUIRE(rec[i] != NULL);
        CHECK(rec[i][0] == 0 && rec[i][1499] == 0);
    }
    for (int i = 0; i < NREC; i++)
        pymt__records_free(&r, rec[i]);
    CHECK_EQ(r.live, 0);
    CHECK_EQ(r.chunks, 1);
    CHECK(pymt__records_check(&r));
}

/* A medium arena's header miscounted, then its purged list's length. */
static void medium_check_sees_a_wrong_count(void) {
    if (!pymt_medium_enabled())
        CHECK_SKIP("the medium tier is off");
    void *p = pymt_object_malloc(3000);
    REQUIRE(p != NULL);
    unsigned i = pymt__size_class(3000) - PYMT__NCLASSES;
    pymt__pool *h = (pymt__pool *)((uintptr_t)p & ~(uintptr_t)(PYMT__ARENA_SIZE - 1));
    CHECK(pymt__medium_check(i));
    h->count++;
    CHECK(!pymt__medium_check(i));
    h->count--;
    CHECK(pymt__medium_check(i));
    /* the purged list's length, in the header's pad (medium.c), off by one */
    uint32_t *npurged = (uint32_t *)((char *)h + 52);
    (*npurged)++;
    CHECK(!pymt__medium_check(i));
    (*npurged)--;
    CHECK(pymt__medium_check(i));
    pymt_object_free(p);
}

static void lists_check_sees_a_misordered_arena(void) {
    void *p = pymt_object_malloc(100);
    REQUIRE(p != NULL);
    pymt__arena *a = pymt__pool_of(p)->arena;
    pymt__core_lock();
    CHECK(pymt__arena_check_locked(a));
    CHECK(pymt__pool_lists_check_locked());
    uint32_t nf = a->nfreepools;
    a->nfreepools = nf + 1 <= PYMT__POOLS_PER_ARENA ? nf + 1 : nf - 1;
    CHECK(!pymt__pool_lists_check_locked() || !pymt__arena_check_locked(a));
    CHECK(!pymt__heap_check_locked());
    a->nfreepools = nf;
    CHECK(pymt__arena_check_locked(a));
    CHECK(pymt__pool_lists_check_locked());
    pymt__core_unlock();
    pymt_object_free(p);
}

static void tcache_check_sees_a_wrong_count(void) {
    void *p = pymt_object_malloc(32), *q = pymt_object_malloc(32);
    REQUIRE(p != NULL && q != NULL);
    pymt_object_free(p); /* the bin of class 1 (hardened: its magazine) now holds a block */
    pymt__tcache *tc = pymt__tc.tc;
    REQUIRE(tc != NULL);
    REQUIRE((pymt__hardened ? tc->hmag[1] : tc->bins[1].head) != NULL);
    CHECK(pymt__tcache_check(tc));
    if (pymt__hardened) {
        uint32_t n = pymt__load_relaxed(&tc->hmag_count[1]);
        pymt__store_relaxed(&tc->hmag_count[1], n + 1);
        CHECK(!pymt__tcache_check(tc));
        pymt__store_relaxed(&tc->hmag_count[1], n);
    } else {
        uint32_t n = pymt__tbin_count(&tc->bins[1]);
        pymt__tbin_set_count(&tc->bins[1], n + 1);
        CHECK(!pymt__tcache_check(tc));
        pymt__tbin_set_count(&tc->bins[1], n);
    }
    CHECK(pymt__tcache_check(tc));
    pymt_object_free(q);
}

/* Make block p a one-block chain as the allocator's free lists hold it (hardened: encoded
 * NULL link and the free marker). */
static void make_free_chain(void *p) {
    pymt__link_set(p, NULL);
    if (pymt__hardened)
        pymt__harden_mark(p);
}

/* In a child: a class-9 block filed under class 3, then adopted: the hardened depot stops. */
static void adopt_a_misfiled_batch(void *arg) {
    void *p = arg;
    make_free_chain(p);
    if (!pymt__depot_push(3, p, 1, SIZE_MAX))
        _exit(3);
    size_t n = 0;
    while (pymt__depot_take(3, &n) != NULL) {
    }
    _exit(0); /* not reached when the check works */
}

static void depot_check_sees_a_block_of_another_class(void) {
    void *p = pymt_object_malloc(160); /* class 9 */
    REQUIRE(p != NULL);
    CHECK(pymt__depot_check(9) && pymt__depot_check(3));
    if (pymt__hardened) {
        /* a taker checks each batch before it reads it: the misfiled block stops the child */
        static char err[4096];
        int st = check_fork(adopt_a_misfiled_batch, p, err, sizeof err);
        CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
        CHECK(strstr(err, "hardened mode") != NULL && strstr(err, "depot") != NULL);
        pymt_object_free(p);
        return;
    }
    make_free_chain(p);
    REQUIRE(pymt__depot_push(3, p, 1, SIZE_MAX)); /* a class-9 block filed under class 3 */
    CHECK(!pymt__depot_check(3));
    size_t n = 0;
    void *back = NULL;
    /* take batches of class 3 until ours comes back (others' batches go to the pools) */
    while ((back = pymt__depot_take(3, &n)) != NULL && back != p) {
        pymt__arena *retire = NULL;
        pymt__core_lock();
        pymt__pool_give_locked(back, &retire);
        pymt__core_unlock();
        pymt__pool_retire_list(retire);
    }
    REQUIRE(back == p && n == 1);
    CHECK(pymt__depot_check(3));
    PYMT_TRACK_ALLOC(p, 160);
    pymt_object_free(p);
}

/* A batch of a small class on the depot carries a manifest of its blocks (default mode) in one
 * of its core's slots, as long as one is free; the slot comes back when the batch leaves,
 * taken or drained, and the chain and its count come out as they went in. (Slots that never
 * came back would leave every later batch without one; a count word that kept the slot's
 * number would give an adopter billions of blocks.) */
enum { MB = 8, MBATCHES = PYMT__DEPOT_MANIFESTS + 2 };

static void push_batch(unsigned c, void **b) {
    for (size_t j = 0; j < MB; j++) {
        PYMT_TRACK_FREE(b[j], 48);
        pymt__link_set(b[j], j + 1 < MB ? b[j + 1] : NULL);
        if (pymt__hardened)
            pymt__harden_mark(b[j]);
    }
    REQUIRE(pymt__depot_push(c, b[0], MB, SIZE_MAX));
}

static unsigned claims_for(size_t batches) {
    if (pymt__hardened)
        return 0;
    return batches < PYMT__DEPOT_MANIFESTS ? (unsigned)batches : PYMT__DEPOT_MANIFESTS;
}

static void a_batch_carries_a_manifest_until_it_leaves(void) {
    static void *b[MBATCHES][MB];
    unsigned c = pymt__size_to_class(48);
    /* the blocks earlier cases left in this thread's cache (some of another core's) and on the
     * depot go to the pools: the blocks below are then all of this thread's core, whose depot
     * the takes read */
    pymt_thread_flush();
    pymt__depot_drain();
    CHECK_EQ(pymt__depot_manifests_claimed(), 0);
    /* every block first: a malloc of the class between two pushes could adopt a batch */
    for (size_t i = 0; i < MBATCHES; i++)
        for (size_t j = 0; j < MB; j++)
            REQUIRE((b[i][j] = pymt_object_malloc(48)) != NULL);
    for (size_t i = 0; i < MBATCHES; i++) {
        push_batch(c, b[i]);
        CHECK_EQ(pymt__depot_manifests_claimed(), claims_for(i + 1));
    }
    CHECK(pymt__depot_check(c));
    /* the validator puts the batches back in another order: each is known by its first block */
    bool taken[MBATCHES] = {false};
    for (size_t t = 0; t < MBATCHES; t++) {
        size_t n = 0, i = 0;
        void *q = pymt__depot_take(c, &n);
        while (i < MBATCHES && (taken[i] || q != b[i][0]))
            i++;
        REQUIRE(i < MBATCHES);
        taken[i] = true;
        CHECK_EQ(n, MB);
        for (size_t j = 0; j < MB; j++) {
            CHECK(q == b[i][j]);
            void *next = pymt__link_get(q);
            PYMT_TRACK_ALLOC(q, 48);
            if (pymt__hardened)
                pymt__harden_clear(q); /* live again, as a pop leaves it */
            q = next;
        }
        CHECK(q == NULL);
        size_t left = 0; /* the batches with a manifest (the first pushed) still on the depot */
        for (size_t k = 0; k < PYMT__DEPOT_MANIFESTS; k++)
            left += !taken[k];
        CHECK_EQ(pymt__depot_manifests_claimed(), claims_for(left));
    }
    /* two batches drained to the pools give their slots back too */
    push_batch(c, b[0]);
    push_batch(c, b[1]);
    CHECK_EQ(pymt__depot_manifests_claimed(), claims_for(2));
    pymt__depot_drain();
    CHECK_EQ(pymt__depot_manifests_claimed(), 0);
    for (size_t i = 2; i < MBATCHES; i++)
        for (size_t j = 0; j < MB; j++)
            pymt_object_free(b[i][j]);
    CHECK(all_ok());
}

/* ---- the hardened mode: its validators see what its checks are there for ------------------- */

static void hardened_validators_see_a_corrupted_link_marker_and_canary(void) {
    if (!pymt__hardened)
        CHECK_SKIP("hardened mode off (internal.harden runs it)");
    /* p and a live block in one pool, so that the pool stays in use once p is back in it */
    void *keep = pymt_object_malloc(96), *p = pymt_object_malloc(96); /* class 5 */
    REQUIRE(keep != NULL && p != NULL);
    if (pymt__pool_of(p) != pymt__pool_of(keep)) {
        pymt_object_free(keep);
        keep = p;
        p = pymt_object_malloc(96);
        REQUIRE(p != NULL && pymt__pool_of(p) == pymt__pool_of(keep));
    }
    pymt__tcache *tc = pymt__tc.tc;
    REQUIRE(tc != NULL);
    pymt_object_free(p); /* p heads the class-5 magazine */
    REQUIRE(tc->hmag[5] == p);
    CHECK(pymt__tcache_check(tc));
    /* its link, as a use-after-free write would leave it */
    void *saved = pymt__blk_get(p, 0);
    pymt__blk_set(p, 0, (char *)keep + 16);
    CHECK(!pymt__tcache_check(tc));
    pymt__blk_set(p, 0, saved);
    CHECK(pymt__tcache_check(tc));
    /* its free marker */
    saved = pymt__blk_get(p, 1);
    pymt__blk_set(p, 1, NULL);
    CHECK(!pymt__tcache_check(tc));
    pymt__blk_set(p, 1, saved);
    CHECK(pymt__tcache_check(tc));
    /* in the pool's free list now */
    pymt_thread_flush();
    pymt__pool *pool = pymt__pool_of(p);
    pymt__core_lock();
    CHECK(pymt__pool_check_locked(pool));
    CHECK(pymt__pool_lists_block_locked(p));
    saved = pymt__blk_get(p, 1);
    pymt__blk_set(p, 1, NULL);
    CHECK(!pymt__pool_check_locked(pool));
    pymt__blk_set(p, 1, saved);
    CHECK(pymt__pool_check_locked(pool));
    /* the header's canary */
    uint32_t canary = pool->canary;
    CHECK(canary == pymt__harden_canary(pool));
    pool->canary = canary ^ 1;
    CHECK(!pymt__pool_check_locked(pool));
    CHECK(!pymt__heap_check_locked());
    pool->canary = canary;
    CHECK(pymt__pool_check_locked(pool));
    CHECK(pymt__heap_check_locked());
    pymt__core_unlock();
    pymt_object_free(keep);
}

static void hardened_links_are_bound_to_their_block(void) {
    if (!pymt__hardened)
        CHECK_SKIP("hardened mode off (internal.harden runs it)");
    char *a = pymt_object_malloc(64), *b = pymt_object_malloc(64);
    REQUIRE(a != NULL && b != NULL);
    /* the same link stored in two blocks differs, and each decodes back only in its own */
    void *ea = pymt__harden_enc(a, b), *eb = pymt__harden_enc(b, b);
    CHECK(ea != eb);
    CHECK(pymt__harden_dec(a, ea) == b);
    CHECK(pymt__harden_dec(b, ea) != b);
    /* NULL is encoded too: a zeroed word does not decode to NULL */
    CHECK(pymt__harden_enc(a, NULL) != NULL);
    CHECK(pymt__harden_dec(a, NULL) != NULL);
    /* a live block has neither a link nor a marker left in it */
    CHECK(!pymt__harden_marked(a));
    CHECK(pymt__blk_get(a, 0) == NULL && pymt__blk_get(a, 1) == NULL);
    /* block starts pass, interior pointers do not */
    CHECK(pymt__block_ok(a, 3) && !pymt__block_ok(a + 16, 3) && !pymt__block_ok(a, 2));
    pymt_object_free(a);
    pymt_object_free(b);
}

/* pymt__os_discard gives back only the pages wholly inside its range: asked from byte 16
 * of the first page to byte 16 of the fourth, it empties the second and third and keeps
 * what the first and fourth hold. */
static void discard_keeps_the_pages_at_its_ends(void) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    unsigned char *m = mmap(NULL, 4 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                            -1, 0);
    REQUIRE(m != MAP_FAILED);
    memset(m, 0xab, 4 * page);
    pymt__os_discard(m + 16, 3 * page);
    CHECK_EQ(m[16], 0xab);
    CHECK_EQ(m[page - 1], 0xab);
    CHECK_EQ(m[page], 0);
    CHECK_EQ(m[3 * page - 1], 0);
    CHECK_EQ(m[3 * page], 0xab);
    CHECK_EQ(m[3 * page + 16], 0xab);
    munmap(m, 4 * page);
}

/* ---- a magazine put in address order (tcache_order.c) --------------------------------------- */

enum { ORDER_N = 256, ORDER_SIZE = 64 };

/* Link the n blocks base + idx[i] * ORDER_SIZE in the order of idx; returns the head. */
static void *link_blocks(char *base, const size_t *idx, size_t n) {
    for (size_t i = 0; i < n; i++)
        pymt__blk_set(base + idx[i] * ORDER_SIZE, 0,
                      i + 1 < n ? base + idx[i + 1] * ORDER_SIZE : NULL);
    return base + idx[0] * ORDER_SIZE;
}

/* Does chain hold n blocks, each above the one before? */
static bool ascending(void *chain, size_t n) {
    size_t k = 0;
    for (void *q = chain, *prev = NULL; q != NULL; prev = q, q = pymt__blk_get(q, 0), k++)
        if (prev != NULL && (uintptr_t)q <= (uintptr_t)prev)
            return false;
    return k == n;
}

static void chain_order_sorts_a_shuffled_chain_and_keeps_an_ordered_one(void) {
    static _Alignas(64) char buf[ORDER_N * ORDER_SIZE];
    size_t idx[ORDER_N + 1];
    for (size_t i = 0; i < ORDER_N; i++)
        idx[i] = i;
    check_shuffle(idx, ORDER_N, 7);
    void *chain = link_blocks(buf, idx, ORDER_N);
    void *out = pymt__tc_chain_order(chain, ORDER_N, ORDER_SIZE);
    if (pymt__hardened) {
        CHECK(out == chain); /* the hardened magazines' links are encoded: left alone */
        return;
    }
    /* strictly ascending, as many, all within buf: the same blocks, in address order */
    CHECK(out == buf);
    CHECK(ascending(out, ORDER_N));
    /* in order already (a LIFO of blocks freed in address order: descending): as it is */
    for (size_t i = 0; i < ORDER_N; i++)
        idx[i] = ORDER_N - 1 - i;
    chain = link_blocks(buf, idx, ORDER_N);
    CHECK(pymt__tc_chain_order(chain, ORDER_N, ORDER_SIZE) == chain);
    CHECK(pymt__blk_get(chain, 0) == buf + (ORDER_N - 2) * ORDER_SIZE);
    /* a few blocks out of place among neighbours (fewer than a quarter): as it is */
    for (size_t i = 0; i < ORDER_N; i++)
        idx[i] = i;
    for (size_t i = 0; i + 1 < ORDER_N; i += 16) {
        size_t j = (i * 97) % ORDER_N, t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
    chain = link_blocks(buf, idx, ORDER_N);
    CHECK(pymt__tc_chain_order(chain, ORDER_N, ORDER_SIZE) == chain);
    /* one direction with gaps (every ninth block, the others live: a LIFO of blocks freed in
     * address order, descending), and a wrap in the middle: sorting would gain nothing, so as
     * it is, head kept */
    for (size_t i = 0; i < ORDER_N / 9; i++)
        idx[i] = (ORDER_N / 9 - 1 - i) * 9;
    for (size_t i = 0; i < 10; i++) /* the wrap: the ten lowest go first */
        idx[i] = (9 - i) * 9;
    for (size_t i = 10; i < ORDER_N / 9; i++)
        idx[i] = (ORDER_N / 9 - 1 - (i - 10)) * 9;
    chain = link_blocks(buf, idx, ORDER_N / 9);
    CHECK(pymt__tc_chain_order(chain, ORDER_N / 9, ORDER_SIZE) == chain);
    CHECK(pymt__blk_get(chain, 0) == buf + 8 * 9 * ORDER_SIZE);
    /* the look starts at the head: the 33 blocks nearest it in order and the rest shuffled
     * leave as they are; the first half shuffled and the rest in order are sorted */
    for (size_t i = 0; i < ORDER_N; i++)
        idx[i] = i;
    check_shuffle(idx + 33, ORDER_N - 33, 13);
    chain = link_blocks(buf, idx, ORDER_N);
    CHECK(pymt__tc_chain_order(chain, ORDER_N, ORDER_SIZE) == chain);
    for (size_t i = 0; i < ORDER_N; i++)
        idx[i] = i;
    check_shuffle(idx, ORDER_N / 2, 13);
    chain = link_blocks(buf, idx, ORDER_N);
    out = pymt__tc_chain_order(chain, ORDER_N, ORDER_SIZE);
    CHECK(out == buf);
    CHECK(ascending(out, ORDER_N));
    /* blocks of a medium class: as they are */
    for (size_t i = 0; i < 16; i++)
        idx[i] = i;
    check_shuffle(idx, 16, 15);
    static _Alignas(64) char med[16 * 1024];
    for (size_t i = 0; i < 16; i++)
        pymt__blk_set(med + idx[i] * 1024, 0, i + 1 < 16 ? med + idx[i + 1] * 1024 : NULL);
    chain = med + idx[0] * 1024;
    CHECK(pymt__tc_chain_order(chain, 16, 1024) == chain);
    /* more blocks than a bin holds: as it is */
    static _Alignas(64) char big[(ORDER_N + 1) * ORDER_SIZE];
    for (size_t i = 0; i <= ORDER_N; i++)
        idx[i] = i;
    check_shuffle(idx, ORDER_N + 1, 9);
    chain = link_blocks(big, idx, ORDER_N + 1);
    CHECK(pymt__tc_chain_order(chain, ORDER_N + 1, ORDER_SIZE) == chain);
}

enum { FAR_HALF = 32, FAR_STEP = 256 };

/* A chain of 2 * FAR_HALF blocks FAR_STEP bytes apart, half at m and half at m + span, linked
 * in a shuffled order: at[] gets the blocks in address order, idx[] the order of the chain.
 * Returns its head. */
static void *far_apart_chain(char *m, size_t span, void **at, size_t *idx, uint64_t seed) {
    for (size_t i = 0; i < FAR_HALF; i++) {
        at[i] = m + i * FAR_STEP;
        at[FAR_HALF + i] = m + span + i * FAR_STEP;
    }
    for (size_t i = 0; i < 2 * FAR_HALF; i++)
        idx[i] = i;
    check_shuffle(idx, 2 * FAR_HALF, seed);
    for (size_t i = 0; i < 2 * FAR_HALF; i++)
        pymt__blk_set(at[idx[i]], 0, i + 1 < 2 * FAR_HALF ? at[idx[i + 1]] : NULL);
    return at[idx[0]];
}

/* Blocks spread over more than the 256 MiB a 24-bit key covers at 16 bytes: the key drops low
 * bits (here 7: blocks within 128 bytes keep the order they came in), and blocks 256 bytes
 * apart, in two groups a gigabyte apart, still come out in address order. */
static void chain_order_sorts_blocks_a_gigabyte_apart(void) {
    if (pymt__hardened)
        CHECK_SKIP("the hardened magazines are not sorted");
    size_t span = (size_t)1 << 30, len = span + FAR_HALF * FAR_STEP;
    char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    REQUIRE(m != MAP_FAILED);
    void *at[2 * FAR_HALF];
    size_t idx[2 * FAR_HALF];
    void *out = pymt__tc_chain_order(far_apart_chain(m, span, at, idx, 11), 2 * FAR_HALF, FAR_STEP);
    CHECK(out == at[0]);
    CHECK(ascending(out, 2 * FAR_HALF));
    munmap(m, len);
}

/* Blocks 80 GiB apart, beyond the 64 GiB a 32-bit distance in 16-byte units spans: the chain
 * leaves as it came, head and order kept. */
static void chain_order_keeps_a_chain_spread_too_wide(void) {
    if (pymt__hardened)
        CHECK_SKIP("the hardened magazines are not sorted");
    size_t span = (size_t)80 << 30, part = FAR_HALF * FAR_STEP, len = span + part;
    char *m = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED)
        CHECK_SKIP("no 80 GiB of address space to reserve");
    REQUIRE(mprotect(m, part, PROT_READ | PROT_WRITE) == 0);
    REQUIRE(mprotect(m + span, part, PROT_READ | PROT_WRITE) == 0);
    void *at[2 * FAR_HALF];
    size_t idx[2 * FAR_HALF];
    void *head = far_apart_chain(m, span, at, idx, 12);
    CHECK(pymt__tc_chain_order(head, 2 * FAR_HALF, FAR_STEP) == head);
    void *b = head;
    for (size_t i = 0; i < 2 * FAR_HALF && b != NULL; i++, b = pymt__blk_get(b, 0))
        CHECK(b == at[idx[i]]);
    munmap(m, len);
}

static const check_case cases[] = {
    CHECK_CASE(scripted_steps_keep_every_invariant),
    CHECK_CASE(cross_thread_frees_keep_every_invariant),
    CHECK_CASE(pool_check_sees_a_wrong_count),
    CHECK_CASE(medium_check_sees_a_wrong_count),
    CHECK_CASE(records_come_and_go_and_check_sees_a_bad_link),
    CHECK_CASE(lists_check_sees_a_misordered_arena),
    CHECK_CASE(tcache_check_sees_a_wrong_count),
    CHECK_CASE(depot_check_sees_a_block_of_another_class),
    CHECK_CASE(a_batch_carries_a_manifest_until_it_leaves),
    CHECK_CASE(hardened_validators_see_a_corrupted_link_marker_and_canary),
    CHECK_CASE(hardened_links_are_bound_to_their_block),
    CHECK_CASE(discard_keeps_the_pages_at_its_ends),
    CHECK_CASE(chain_order_sorts_a_shuffled_chain_and_keeps_an_ordered_one),
    CHECK_CASE(chain_order_sorts_blocks_a_gigabyte_apart),
    CHECK_CASE(chain_order_keeps_a_chain_spread_too_wide),
};
CHECK_MAIN(cases)

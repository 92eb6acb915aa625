/* test_harden.c: the hardened mode (PYMT_HARDEN=1) stops the faults it is there for, with a
 * report, in the release build; and the default mode does not, which is why it exists.
 *
 * Each fault runs in a fresh process (check_spawn_self, with PYMT_HARDEN and PYMT_TCACHE set
 * for it) that prints the address of the block it is about to misuse, then misuses it:
 *   - a second free of a block still in the thread's cache, in its pool's free list with the
 *     caches off, and after pymt_thread_flush put it back in the pool; a realloc of a freed
 *     block;
 *   - a free-list link overwritten after the free (the write a use-after-free makes), followed
 *     by allocations until the allocator would follow it: in the thread's cache, and in the
 *     pool's free list with the caches off;
 *   - a write past the end of the last block of a pool into the next pool's header, then a
 *     free that makes the pool core use that header (after a flush, and with the caches off),
 *     or, the next pool being free, a pymt_trim whose purge walks the free pools;
 *   - a second free of a block whose arena has emptied and gone since (no pool claims it);
 *   - a free of a block boundary the pool has not carved yet;
 *   - the one double free the marker cannot see (the first block of a depot batch, whose
 *     marker word holds the batch header), stopped later, when the batch is adopted;
 *   - a zero written over the stack link of a batch on the depot (word 0 of its first block),
 *     stopped when a thread adopts that batch, before the batches below it are lost;
 *   - a double free of a big block (64 KiB), which glibc's own check stops (the default mode's
 *     large-block cache would keep it twice).
 * The parent checks that the child died of SIGABRT and that its report says "hardened mode",
 * what was found, the block's (or pool's) address and its size class.
 * Without PYMT_HARDEN the same double free hands one block out twice and the same overwritten
 * link steers an allocation to an address the program chose (a static buffer here): those runs
 * are safe and are checked too. A smashed pool header is not run without the hardened mode: the
 * core would index its tables with the garbage class and write wherever that leads.
 * The faulting writes go through raw_store, which AddressSanitizer does not instrument, so the
 * asan preset sees pymt's own reaction to the fault rather than ASan's. */
#include "check.h"

static char err[1 << 14];

enum {
    POOL_SIZE = 16384,    /* pool geometry (src/internal.h): 16 KiB pools ... */
    ARENA_SIZE = 1 << 20, /* ... in 1 MiB arenas */
    STEERED = 42          /* a child's exit status: the allocator returned the chosen address */
};

/* A plain store that the sanitizers do not see: the program's bug, not ASan's report. */
__attribute__((noinline, no_sanitize_address)) static void raw_store(void *p, size_t off,
                                                                     uintptr_t v) {
    *(volatile uintptr_t *)((char *)p + off) = v;
}

/* p as a number the compiler knows nothing about: pymt_object_malloc is declared with the
 * malloc attribute, which lets GCC assume its result differs from every other pointer (so a
 * plain comparison with a static buffer's address would fold to false). */
static uintptr_t opaque(const void *p) {
    uintptr_t v = (uintptr_t)p;
    __asm__("" : "+r"(v));
    return v;
}

/* Tell the parent which block the fault is about ("block=0x...\n" on stderr). */
static void announce(const void *p) {
    fprintf(stderr, "block=%p\n", p);
    fflush(stderr);
}

/* Two blocks of n bytes in one pool (so that the pool stays in use while one is free). */
static void two_in_one_pool(size_t n, void **keep, void **p) {
    void *a = pymt_object_malloc(n);
    for (int i = 0; i < 64; i++) {
        void *b = pymt_object_malloc(n);
        if (a == NULL || b == NULL)
            _exit(3);
        if (((uintptr_t)a & ~(uintptr_t)(POOL_SIZE - 1)) ==
            ((uintptr_t)b & ~(uintptr_t)(POOL_SIZE - 1))) {
            *keep = a;
            *p = b;
            return;
        }
        a = b; /* leaked: the child is short-lived */
    }
    _exit(3);
}

/* ---- children: double free ------------------------------------------------------------------ */

static void child_double_free_in_cache(void) {
    void *p = pymt_object_malloc(32);
    if (p == NULL)
        _exit(3);
    pymt_object_free(p);
    announce(p);
    pymt_object_free(p);
    /* default mode: both frees are taken, and the block comes back twice */
    void *q1 = pymt_object_malloc(32), *q2 = pymt_object_malloc(32);
    _exit(opaque(q1) == opaque(p) && opaque(q2) == opaque(p) ? STEERED : 0);
}

static void child_double_free_in_pool(void) {
    void *keep, *p;
    two_in_one_pool(32, &keep, &p);
    pymt_object_free(p);
    pymt_thread_flush(); /* with caches on, p goes back to its pool's free list */
    announce(p);
    pymt_object_free(p);
    _exit(0);
}

static void child_del_after_free(void) {
    void *keep, *p;
    two_in_one_pool(200, &keep, &p);
    pymt_object_free(p);
    announce(p);
    pymt_object_del(p);
    _exit(0);
}

static void child_realloc_after_free(void) {
    void *p = pymt_object_malloc(40);
    if (p == NULL)
        _exit(3);
    pymt_object_free(p);
    announce(p);
    (void)pymt_object_realloc(p, 44); /* would keep the freed block in place */
    _exit(0);
}

static void child_free_of_an_interior_pointer(void) {
    char *p = pymt_object_malloc(64);
    if (p == NULL)
        _exit(3);
    announce(p + 16);
    pymt_object_free(p + 16);
    _exit(0);
}

/* A free of the last block boundary of the pool of a block just allocated: a block the pool
 * has not carved (a thread's first refill carves a few dozen of its 510). */
static void child_free_of_an_uncarved_block(void) {
    char *p = pymt_object_malloc(32);
    if (p == NULL)
        _exit(3);
    char *last = (char *)((uintptr_t)p | (POOL_SIZE - 1)) + 1 - 32;
    announce(last);
    pymt_object_free(last);
    _exit(0);
}

/* A double free of the first block of a batch the thread just sent to the depot: that block's
 * word 1 holds the batch header instead of the free marker, so the second free is taken. The
 * block then sits on two lists; the next allocation hands it out and clears it, and the depot
 * batch that still starts with it is stopped when a thread adopts it. */
/* A second free of a big block (above the pools, within the sizes a thread's large-block cache
 * keeps): glibc's own check must see it. Exits STEERED when the block is then handed out twice. */
static void child_double_free_of_a_large_block(void) {
    enum { BIG = 64 << 10 };
    char *p = pymt_object_malloc(BIG);
    if (p == NULL)
        exit(1);
    memset(p, 0x11, BIG);
    pymt_object_free(p);
    pymt_object_free(p);
    void *a = pymt_object_malloc(BIG), *b = pymt_object_malloc(BIG);
    exit(opaque(a) == opaque(b) ? STEERED : 0);
}

static void *batch[2048];
enum { NBATCH = sizeof batch / sizeof batch[0] };

/* Allocate batch full of blocks of `size` bytes (class c), then free them until the thread has
 * sent its nth batch to the depot; returns that batch's first block, which leads it on the
 * depot's stack. */
static void *nth_batch_on_the_depot(size_t size, unsigned c, int nth) {
    size_t depot = 0;
    for (size_t i = 0; i < NBATCH; i++)
        if ((batch[i] = pymt_object_malloc(size)) == NULL)
            _exit(3);
    for (size_t i = 0; i < NBATCH; i++) {
        pymt_object_free(batch[i]);
        pymt_stats s;
        if (pymt_get_stats(&s, sizeof s) != 0)
            _exit(3);
        /* a full magazine sends its newest blocks away, led by the one freed before this */
        if (i > 0 && s.classes[c].blocks_depot > depot && --nth == 0)
            return batch[i - 1];
        depot = s.classes[c].blocks_depot;
    }
    _exit(3);
}

/* Allocate blocks of `size` bytes until the thread's magazine has had to adopt from the depot. */
static void allocate_until_adopted(size_t size) {
    for (size_t i = 0; i < 4 * NBATCH; i++)
        if (pymt_object_malloc(size) == NULL)
            _exit(3);
}

static void child_double_free_of_a_depot_batch_head(void) {
    void *head = nth_batch_on_the_depot(32, 1, 1);
    announce(head);
    pymt_object_free(head); /* not caught here */
    void *q = pymt_object_malloc(32);
    if (opaque(q) != opaque(head))
        _exit(4);
    allocate_until_adopted(32);
    _exit(0);
}

/* Two batches of 512-byte blocks on the depot, then a zero written into word 0 of the top one's
 * first block (its stack link): the first thing a use after free tends to write. The adopting
 * thread must stop there; a plain link read the zero as the stack's end, and the batch below
 * was lost for good (blocks counted out of their pools, its arena never given back). */
static void child_zeroed_link_of_a_depot_batch(void) {
    void *top = nth_batch_on_the_depot(512, 31, 2);
    announce(top);
    raw_store(top, 0, 0);
    allocate_until_adopted(512);
    _exit(0);
}

/* ---- children: a link overwritten after the free ------------------------------------------- */

static _Alignas(64) unsigned char target[1024];

/* Free p (the cache's, or the pool's, list now starts at p, after 'second' when given), write
 * the address of target into p's first word, and allocate until the link is followed. */
static void overwrite_link_then_allocate(void *p, void *second, size_t n) {
    if (second != NULL)
        pymt_object_free(second);
    pymt_object_free(p);
    announce(p);
    raw_store(p, 0, (uintptr_t)target);
    void *q1 = pymt_object_malloc(n); /* p */
    void *q2 = pymt_object_malloc(n); /* what p's link says */
    (void)q1;
    _exit(opaque(q2) == opaque(target) ? STEERED : 0);
}

static void child_overwritten_link_in_cache(void) {
    void *p = pymt_object_malloc(48);
    if (p == NULL)
        _exit(3);
    overwrite_link_then_allocate(p, NULL, 48);
}

static void child_overwritten_link_in_pool(void) {
    /* caches off: the pool's free list is p -> second, and p's link is overwritten */
    void *keep, *p, *second;
    two_in_one_pool(48, &keep, &p);
    second = pymt_object_malloc(48);
    if (second == NULL || ((uintptr_t)second & ~(uintptr_t)(POOL_SIZE - 1)) !=
                              ((uintptr_t)p & ~(uintptr_t)(POOL_SIZE - 1)))
        _exit(3);
    overwrite_link_then_allocate(p, second, 48);
}

/* ---- children: a write past the last block of a pool ---------------------------------------- */

static void *blocks16[4096];
enum { NBLOCKS16 = sizeof blocks16 / sizeof blocks16[0], PER_POOL16 = (POOL_SIZE - 48) / 16 };

/* Fill blocks16. 16-byte blocks fill a pool to its end (16 KiB - 48 is a multiple of 16). */
static void fill_blocks16(void) {
    for (size_t i = 0; i < NBLOCKS16; i++)
        if ((blocks16[i] = pymt_object_malloc(16)) == NULL)
            _exit(3);
}

/* The pool after the one whose last block is a, or 0 when a is not a pool's last block or the
 * next pool is in another arena. */
static uintptr_t pool_after(uintptr_t a) {
    bool last = (a & (POOL_SIZE - 1)) == POOL_SIZE - 16 && ((a + 16) & (ARENA_SIZE - 1)) != 0;
    return last ? a + 16 : 0;
}

static bool in_pool(const void *b, uintptr_t pool) {
    return ((uintptr_t)b & ~(uintptr_t)(POOL_SIZE - 1)) == pool;
}

/* Announce pool, then write 16 bytes too many past last, its lower neighbour's last block: the
 * pool header's first 16 bytes. */
static void smash_header(void *last, uintptr_t pool) {
    fprintf(stderr, "pool=%p\n", (void *)pool);
    fflush(stderr);
    raw_store(last, 16, 0x4141414141414141u);
    raw_store(last, 24, 0x4141414141414141u);
}

/* The last block of a pool whose next pool holds one of our blocks too: smash that header, then
 * give the block back (straight to the core with caches off, else at the flush). */
static void child_smashed_pool_header(void) {
    fill_blocks16();
    for (size_t i = 0; i < NBLOCKS16; i++) {
        uintptr_t next_pool = pool_after((uintptr_t)blocks16[i]);
        for (size_t j = 0; next_pool != 0 && j < NBLOCKS16; j++) {
            if (!in_pool(blocks16[j], next_pool))
                continue;
            smash_header(blocks16[i], next_pool);
            pymt_object_free(blocks16[j]);
            pymt_thread_flush();
            _exit(0);
        }
    }
    _exit(3); /* no such pair of pools: the layout is not what this test expects */
}

/* The same write into the header of a free pool (every block of it freed, so it waits on its
 * arena's list of free pools with its pages), then pymt_trim, whose purge walks that list: the
 * purge must not trust the header (its link could name a live pool, whose pages it would
 * discard). */
static void child_smashed_free_pool_header(void) {
    fill_blocks16();
    for (size_t i = 0; i < NBLOCKS16; i++) {
        uintptr_t next_pool = pool_after((uintptr_t)blocks16[i]);
        size_t in_next = 0;
        for (size_t j = 0; next_pool != 0 && j < NBLOCKS16; j++)
            in_next += in_pool(blocks16[j], next_pool);
        if (in_next != PER_POOL16)
            continue; /* the next pool must be wholly ours, to be wholly free */
        for (size_t j = 0; j < NBLOCKS16; j++)
            if (in_pool(blocks16[j], next_pool))
                pymt_object_free(blocks16[j]);
        pymt_thread_flush(); /* the pool is free now, on its arena's list */
        smash_header(blocks16[i], next_pool);
        pymt_trim();
        _exit(0);
    }
    _exit(3);
}

/* ---- children: a block of an arena given back ---------------------------------------------- */

static void *blocks512[8192];

/* A second free of a block whose arena has emptied and been given back (pymt_trim unmaps it;
 * kept in the reserve instead, its pages keep what they held): no pool claims the pointer, and
 * glibc must not be handed it. */
static void child_double_free_after_the_arena_went(void) {
    size_t n = sizeof blocks512 / sizeof blocks512[0];
    for (size_t i = 0; i < n; i++)
        if ((blocks512[i] = pymt_object_malloc(512)) == NULL)
            _exit(3);
    /* an arena of the middle ones, all of whose blocks are ours */
    uintptr_t arena = (uintptr_t)blocks512[n / 2] & ~(uintptr_t)(ARENA_SIZE - 1);
    void *victim = NULL;
    for (size_t i = 0; i < n; i++)
        if (((uintptr_t)blocks512[i] & ~(uintptr_t)(ARENA_SIZE - 1)) == arena) {
            victim = blocks512[i];
            pymt_object_free(blocks512[i]);
        }
    pymt_trim(); /* the caches and the depot give the blocks back; the empty arena goes */
    announce(victim);
    pymt_object_free(victim);
    _exit(0);
}

/* ---- the checks ---------------------------------------------------------------------------- */

/* The value after "key=" in the child's stderr ("" when absent). */
static const char *announced(const char *key, char *out, size_t cap) {
    out[0] = '\0';
    const char *s = strstr(err, key);
    if (s == NULL)
        return out;
    s += strlen(key);
    size_t i = 0;
    while (s[i] != '\0' && s[i] != '\n' && i + 1 < cap) {
        out[i] = s[i];
        i++;
    }
    out[i] = '\0';
    return out;
}

/* Run child `name` with env; it must die of SIGABRT with a hardened-mode report that contains
 * every string of words, and the address the child announced under key. */
static void check_stopped(const char *name, const char *const *env, const char *key,
                          const char *const *words) {
    int st = check_spawn_self(name, env, err, sizeof err);
    if (!(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT)) {
        check_fail_at(__FILE__, __LINE__, "the child dies of SIGABRT");
        check_show_child(name, st, err);
        return;
    }
    char addr[64];
    announced(key, addr, sizeof addr);
    const char *report = strstr(err, "pymt: fatal: hardened mode: ");
    bool ok = report != NULL && addr[0] != '\0' && strstr(report, addr) != NULL;
    for (const char *const *w = words; ok && *w != NULL; w++)
        ok = strstr(report, *w) != NULL;
    if (!ok) {
        check_fail_at(__FILE__, __LINE__, "the report says hardened mode, what, where, which");
        fprintf(stderr, "    %s: expected the address [%s] and:", name, addr);
        for (const char *const *w = words; *w != NULL; w++)
            fprintf(stderr, " [%s]", *w);
        fprintf(stderr, "\n    stderr was: [%s]\n", err);
    }
}

/* Run child `name` with env; it must exit with status code (nothing caught). */
static void check_not_stopped(const char *name, const char *const *env, int code) {
    int st = check_spawn_self(name, env, err, sizeof err);
    if (!(WIFEXITED(st) && WEXITSTATUS(st) == code)) {
        check_fail_at(__FILE__, __LINE__, "the child exits with the expected status");
        fprintf(stderr, "    expected exit %d\n", code);
        check_show_child(name, st, err);
    }
}

static const char *const hardened[] = {"PYMT_MALLOC=pymalloc", "PYMT_HARDEN=1", "PYMT_TCACHE",
                                       NULL};
static const char *const hardened_nocache[] = {"PYMT_MALLOC=pymalloc", "PYMT_HARDEN=1",
                                               "PYMT_TCACHE=0", NULL};

/* check_stopped with the thread caches on, then off. */
static void check_stopped_both(const char *name, const char *key, const char *const *words) {
    check_stopped(name, hardened, key, words);
    check_stopped(name, hardened_nocache, key, words);
}

static const char *const plain[] = {"PYMT_MALLOC=pymalloc", "PYMT_HARDEN=0", "PYMT_TCACHE",
                                    NULL};
static const char *const plain_nocache[] = {"PYMT_MALLOC=pymalloc", "PYMT_HARDEN=0",
                                            "PYMT_TCACHE=0", NULL};

static void double_free_in_the_cache_stops_with_a_report(void) {
    const char *const words[] = {"free of block", "(class 1, 32-byte blocks)",
                                 "already free: a double free", "this thread's cache", NULL};
    check_stopped("child_double_free_in_cache", hardened, "block=", words);
}

static void double_free_in_the_pool_stops_with_a_report(void) {
    const char *const words[] = {"free of block", "(class 1, 32-byte blocks)",
                                 "already free: a double free", "its pool's free list", NULL};
    /* caches off: the first free put the block on its pool's free list */
    check_stopped("child_double_free_in_pool", hardened_nocache, "block=", words);
    /* caches on: pymt_thread_flush put it there */
    check_stopped("child_double_free_in_pool", hardened, "block=", words);
}

static void del_or_realloc_of_a_freed_block_stops_with_a_report(void) {
    const char *const del[] = {"free of block", "(class 12, 208-byte blocks)", "already free",
                               NULL};
    check_stopped_both("child_del_after_free", "block=", del);
    const char *const re[] = {"realloc of block", "(class 2, 48-byte blocks)",
                              "already free: a use after free", NULL};
    check_stopped_both("child_realloc_after_free", "block=", re);
}

static void free_of_an_interior_pointer_stops_with_a_report(void) {
    const char *const words[] = {"free(", "not the start of a block", "class 3", NULL};
    check_stopped_both("child_free_of_an_interior_pointer", "block=", words);
}

static void free_of_an_uncarved_block_stops_with_a_report(void) {
    const char *const words[] = {"free of block", "never handed out", "class 1", NULL};
    check_stopped_both("child_free_of_an_uncarved_block", "block=", words);
}

static void overwritten_link_in_the_cache_stops_with_a_report(void) {
    const char *const words[] = {"corrupted free-list link in free block",
                                 "(class 2, 48-byte blocks)", "this thread's cache",
                                 "use after free", NULL};
    check_stopped("child_overwritten_link_in_cache", hardened, "block=", words);
}

static void overwritten_link_in_the_pool_stops_with_a_report(void) {
    const char *const words[] = {"corrupted free-list link in free block",
                                 "(class 2, 48-byte blocks)", "its pool's free list", NULL};
    check_stopped("child_overwritten_link_in_pool", hardened_nocache, "block=", words);
}

static void smashed_pool_header_stops_with_a_report(void) {
    const char *const words[] = {"corrupted pool header at", "canary", "overflow", NULL};
    check_stopped_both("child_smashed_pool_header", "pool=", words);
}

static void smashed_free_pool_header_stops_the_purge(void) {
    const char *const words[] = {"corrupted pool header at", "canary", "overflow", NULL};
    check_stopped_both("child_smashed_free_pool_header", "pool=", words);
}

static void double_free_after_the_arena_went_stops_with_a_report(void) {
    const char *const words[] = {"free(", "in no pool in use", "double free", NULL};
    check_stopped_both("child_double_free_after_the_arena_went", "block=", words);
}

static void double_free_of_a_depot_batch_head_stops_at_adoption(void) {
    /* the allocation of the block cleared its stack link, which the adopter checks first */
    const char *const words[] = {"corrupted free-list link in free block",
                                 "(class 1, 32-byte blocks)", "the depot's stack of batches", NULL};
    check_stopped("child_double_free_of_a_depot_batch_head", hardened, "block=", words);
}

static void zeroed_stack_link_in_the_depot_stops_at_adoption(void) {
    const char *const words[] = {"corrupted free-list link in free block",
                                 "(class 31, 512-byte blocks)", "the depot's stack of batches",
                                 "use after free", NULL};
    check_stopped("child_zeroed_link_of_a_depot_batch", hardened, "block=", words);
}

/* Big blocks are glibc's in the hardened mode, with its checks: a double free aborts in glibc
 * (the large-block cache, which would keep both frees, is off). The default mode keeps the
 * block twice and hands it out twice. */
static void double_free_of_a_large_block_reaches_glibc(void) {
    if (CHECK_SANITIZED)
        CHECK_SKIP("the sanitizers' allocator replaces glibc's checks");
    for (int i = 0; i < 2; i++) {
        const char *const *env = i == 0 ? hardened : hardened_nocache;
        int st = check_spawn_self("child_double_free_of_a_large_block", env, err, sizeof err);
        if (!(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT && strstr(err, "double free") != NULL)) {
            check_fail_at(__FILE__, __LINE__, "glibc stops the double free of a big block");
            check_show_child("child_double_free_of_a_large_block", st, err);
        }
    }
    check_not_stopped("child_double_free_of_a_large_block", plain, STEERED);
}

/* The default mode, for comparison: the same faults go through unnoticed. */
static void without_hardening_a_double_free_hands_a_block_out_twice(void) {
    check_not_stopped("child_double_free_in_cache", plain, STEERED);
}

static void without_hardening_an_overwritten_link_steers_malloc(void) {
    check_not_stopped("child_overwritten_link_in_cache", plain, STEERED);
    check_not_stopped("child_overwritten_link_in_pool", plain_nocache, STEERED);
}

static const check_case cases[] = {
    CHECK_CASE(double_free_in_the_cache_stops_with_a_report),
    CHECK_CASE(double_free_in_the_pool_stops_with_a_report),
    CHECK_CASE(del_or_realloc_of_a_freed_block_stops_with_a_report),
    CHECK_CASE(free_of_an_interior_pointer_stops_with_a_report),
    CHECK_CASE(free_of_an_uncarved_block_stops_with_a_report),
    CHECK_CASE(overwritten_link_in_the_cache_stops_with_a_report),
    CHECK_CASE(overwritten_link_in_the_pool_stops_with_a_report),
    CHECK_CASE(smashed_pool_header_stops_with_a_report),
    CHECK_CASE(smashed_free_pool_header_stops_the_purge),
    CHECK_CASE(double_free_after_the_arena_went_stops_with_a_report),
    CHECK_CASE(double_free_of_a_depot_batch_head_stops_at_adoption),
    CHECK_CASE(zeroed_stack_link_in_the_depot_stops_at_adoption),
    CHECK_CASE(double_free_of_a_large_block_reaches_glibc),
    CHECK_CASE(without_hardening_a_double_free_hands_a_block_out_twice),
    CHECK_CASE(without_hardening_an_overwritten_link_steers_malloc),
    CHECK_CASE(child_double_free_in_cache),
    CHECK_CASE(child_double_free_in_pool),
    CHECK_CASE(child_del_after_free),
    CHECK_CASE(child_realloc_after_free),
    CHECK_CASE(child_free_of_an_interior_pointer),
    CHECK_CASE(child_free_of_an_uncarved_block),
    CHECK_CASE(child_overwritten_link_in_cache),
    CHECK_CASE(child_overwritten_link_in_pool),
    CHECK_CASE(child_smashed_pool_header),
    CHECK_CASE(child_double_free_of_a_depot_batch_head),
    CHECK_CASE(child_zeroed_link_of_a_depot_batch),
    CHECK_CASE(child_double_free_of_a_large_block),
    CHECK_CASE(child_smashed_free_pool_header),
    CHECK_CASE(child_double_free_after_the_arena_went),
};
CHECK_MAIN(cases)

/* test_oom.c: running out of address space gives NULL + ENOMEM and leaves pymt intact.
 *
 * In a forked child, RLIMIT_AS is lowered to just above the current size; the child then
 * allocates pool blocks until one fails, then system-side blocks until one fails, and checks
 * errno == ENOMEM each time. It frees the newer half of what it got and shows that the
 * allocator works again (allocate, write, check, free, also calloc and newvar), that
 * pymt_get_stats still adds up, and that everything can be freed and trimmed. Blocks are kept
 * on lists linked through their own first word, so the test itself needs no memory. Runs with
 * PYMT_MALLOC=pymalloc (set by CMake); skipped under sanitizers, whose shadow memory rules out
 * RLIMIT_AS. */
#include "check.h"

#include <sys/resource.h>

#define MIB ((size_t)1 << 20)

typedef struct node {
    struct node *next;
} node;

/* Allocate blocks of n bytes with alloc until it fails; returns the list, count in *count. */
static node *exhaust(void *(*alloc)(size_t), size_t n, size_t *count, int *err) {
    node *head = NULL;
    *count = 0;
    for (;;) {
        errno = 0;
        node *b = alloc(n);
        if (!b) {
            *err = errno;
            return head;
        }
        memset(b, 0x5c, n);
        b->next = head;
        head = b;
        ++*count;
    }
}

/* Free the newer half of list (the head end, allocated last, so whole pools and arenas come
 * free and address space is really given back), with free_; returns what remains. */
static node *free_half(node *head, void (*free_)(void *), size_t *count) {
    size_t drop = *count / 2;
    for (size_t i = 0; i < drop; i++) {
        node *nx = head->next;
        free_(head);
        head = nx;
    }
    *count -= drop;
    return head;
}

static void free_all(node *head, void (*free_)(void *)) {
    while (head) {
        node *nx = head->next;
        free_(head);
        head = nx;
    }
}

static void works_again(void) {
    enum { N = 500 };
    unsigned char *p[N];
    for (int i = 0; i < N; i++) {
        size_t n = (size_t)(i % 32 + 1) * 16 - 3;
        p[i] = (i & 1) ? pymt_object_malloc(n) : pymt_object_calloc(1, n);
        REQUIRE(p[i] != NULL);
        if (!(i & 1))
            for (size_t b = 0; b < n; b++)
                if (p[i][b]) {
                    check_fail_at(__FILE__, __LINE__, "calloc block is zeroed after OOM");
                    break;
                }
        memset(p[i], i & 0xff, n);
    }
    for (int i = 0; i < N; i++) {
        size_t n = (size_t)(i % 32 + 1) * 16 - 3;
        CHECK(p[i][0] == (i & 0xff) && p[i][n - 1] == (i & 0xff));
        pymt_object_free(p[i]);
    }
    static const pymt_type t = {"t", sizeof(pymt_varobject), 8};
    pymt_varobject *v = pymt_object_newvar(&t, 10);
    REQUIRE(v != NULL);
    CHECK_EQ(v->ob_size, 10);
    pymt_object_del(v);
}

static void oom_child(void *arg) {
    (void)arg;
    pymt_stats s0 = check_stats();
    size_t vm = check_vm_bytes();
    REQUIRE(vm > 0);
    struct rlimit lim = {vm + 48 * MIB, vm + 48 * MIB};
    REQUIRE(setrlimit(RLIMIT_AS, &lim) == 0);

    size_t nsmall = 0, nlarge = 0, nraw = 0;
    int err_small = 0, err_large = 0, err_raw = 0;
    node *small = exhaust(pymt_object_malloc, 256, &nsmall, &err_small);
    node *large = exhaust(pymt_object_malloc, 64 * 1024, &nlarge, &err_large);
    node *raw = exhaust(pymt_mem_malloc, 64 * 1024, &nraw, &err_raw);
    CHECK(nsmall > 1000); /* the limit left room for real work first */
    CHECK_EQ(err_small, ENOMEM);
    CHECK_EQ(err_large, ENOMEM);
    CHECK_EQ(err_raw, ENOMEM);
    /* still out of memory: a small request still fails cleanly */
    errno = 0;
    void *again = pymt_object_malloc(256);
    if (again)
        pymt_object_free(again);
    else
        CHECK_EQ(errno, ENOMEM);

    pymt_stats full = check_stats();
    CHECK_STATS_ADD_UP(&full);
    CHECK(check_sum_classes(&full).in_use >= check_sum_classes(&s0).in_use + nsmall);

    small = free_half(small, pymt_object_free, &nsmall);
    large = free_half(large, pymt_object_free, &nlarge);
    raw = free_half(raw, pymt_mem_free, &nraw);
    works_again();
    pymt_stats half = check_stats();
    CHECK_STATS_ADD_UP(&half);
    CHECK_EQ(check_sum_classes(&half).in_use, check_sum_classes(&s0).in_use + nsmall);

    free_all(small, pymt_object_free);
    free_all(large, pymt_object_free);
    free_all(raw, pymt_mem_free);
    pymt_thread_flush();
    CHECK(pymt_trim() > 0);
    works_again();
    pymt_stats end = check_stats();
    CHECK_STATS_ADD_UP(&end);
    CHECK_EQ(check_sum_classes(&end).in_use, check_sum_classes(&s0).in_use);
    CHECK_EQ(end.large_in_use, s0.large_in_use);
}

static void out_of_memory_is_enomem_and_recoverable(void) {
    if (CHECK_SANITIZED)
        CHECK_SKIP("RLIMIT_AS cannot be used under a sanitizer");
    REQUIRE(check_plain_pools());
    static char err[1 << 14];
    int st = check_fork(oom_child, NULL, err, sizeof err);
    CHECK_CHILD_EXIT0("RLIMIT_AS child", st, err);
}

static const check_case cases[] = {
    CHECK_CASE(out_of_memory_is_enomem_and_recoverable),
};
CHECK_MAIN(cases)

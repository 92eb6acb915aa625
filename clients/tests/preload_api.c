/* preload_api.c: the C allocation interface of libpymt-malloc.so, checked from a program that
 * runs with LD_PRELOAD pointing at it (the ctest sets it). The program is not linked with pymt.
 * It fails when the preload is not mapped, and it checks that small requests really land in
 * pymt's pools by their usable sizes: a pool block's is its size class, a multiple of 16,
 * while every small glibc block has a usable size of 8 modulo 16 (a 16-byte chunk granule
 * minus the 8-byte size word). In debug mode (PYMT_MALLOC=debug, or a PYMT_DEBUG=ON build, whose
 * ctest sets PRELOAD_EXPECT_DEBUG=1) every block is a debug block whose usable size is exactly
 * the request, whatever its size.
 * Example: LD_PRELOAD=build/release/clients/libpymt-malloc.so build/release/clients/tests/preload_api */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "preload_check.h"

extern void *__libc_malloc(size_t);

/* The drop-in runs in debug mode: every block's usable size is its request. */
static int debug_mode(void) {
    const char *m = getenv("PYMT_MALLOC"), *d = getenv("PRELOAD_EXPECT_DEBUG");
    if (m != NULL && *m != '\0')
        return strstr(m, "debug") != NULL;
    return d != NULL && *d == '1';
}

/* The medium tier: on as built (PRELOAD_EXPECT_MEDIUM, set by the test's CMake) unless
 * PYMT_MEDIUM=0 turns it off. */
static int medium_mode(void) {
    const char *m = getenv("PYMT_MEDIUM"), *e = getenv("PRELOAD_EXPECT_MEDIUM");
    if (m != NULL && strcmp(m, "0") == 0)
        return 0;
    return e != NULL && *e == '1';
}

/* Keep the compiler from pairing or removing the calls under test, and from seeing the
 * impossible sizes (it warns about them at compile time). */
static void *volatile sink;
static volatile size_t huge = SIZE_MAX;

static void small_requests_come_from_the_pools(void) {
    enum { N = 1000 };
    static void *p[N];
    for (int i = 0; i < N; i++) {
        size_t n = 1 + (size_t)(i % 512);
        p[i] = malloc(n);
        CHECK(p[i] != NULL && (uintptr_t)p[i] % 16 == 0);
        /* the size class: n rounded up to 16 (glibc would give 8 mod 16) */
        CHECK(malloc_usable_size(p[i]) == (debug_mode() ? n : (n + 15) / 16 * 16));
        memset(p[i], 0x5A, n);
    }
    for (int i = 0; i < N; i++)
        free(p[i]);
    void *z = malloc(0), *z2 = malloc(0); /* distinct blocks, as glibc's */
    CHECK(z != NULL && malloc_usable_size(z) == (debug_mode() ? 0 : 16));
    CHECK(z2 != NULL && z2 != z);
    free(z2);
    free(z);
    /* 1000 bytes: the medium class of 1024 bytes, or glibc's block (usable size 8 mod 16) past
     * pymalloc's threshold with the medium tier off */
    void *mid = malloc(1000);
    CHECK(mid != NULL && (debug_mode()    ? malloc_usable_size(mid) == 1000
                          : medium_mode() ? malloc_usable_size(mid) == 1024
                                          : malloc_usable_size(mid) % 16 == 8 &&
                                                malloc_usable_size(mid) >= 1000));
    free(mid);
    /* past the medium ceiling: always glibc's block */
    void *big = malloc(300000);
    CHECK(big != NULL && (debug_mode() ? malloc_usable_size(big) == 300000
                                       : malloc_usable_size(big) % 16 == 8 &&
                                             malloc_usable_size(big) >= 300000));
    free(big);
}

static void calloc_zeroes_and_checks_overflow(void) {
    unsigned char *p = malloc(256);
    memset(p, 0xAB, 256);
    free(p);
    unsigned char *q = calloc(16, 16); /* likely the block just freed */
    CHECK(q != NULL);
    for (int i = 0; q && i < 256; i++)
        CHECK(q[i] == 0);
    free(q);
    unsigned char *big = calloc(1000, 1000);
    CHECK(big != NULL && big[0] == 0 && big[999999] == 0);
    free(big);
    errno = 0;
    CHECK(calloc(huge / 2, 3) == NULL && errno == ENOMEM);
}

/* The product is 0 whatever the other factor: a unique block, not ENOMEM. */
static void calloc_of_zero_by_a_huge_size_is_a_block(void) {
    size_t pairs[][2] = {{0, huge}, {huge, 0}, {0, huge / 2 + 1}, {huge / 2 + 1, 0}};
    void *p[4];
    for (int i = 0; i < 4; i++) {
        p[i] = calloc(pairs[i][0], pairs[i][1]);
        CHECK(p[i] != NULL && (uintptr_t)p[i] % 16 == 0);
        for (int j = 0; j < i; j++)
            CHECK(p[i] != p[j]);
    }
    for (int i = 0; i < 4; i++)
        free(p[i]);
}

static void impossible_sizes_give_enomem(void) {
    errno = 0;
    sink = malloc(huge);
    CHECK(sink == NULL && errno == ENOMEM);
    errno = 0;
    sink = malloc(huge - 4096);
    CHECK(sink == NULL && errno == ENOMEM);
    void *p = malloc(10);
    errno = 0;
    CHECK(realloc(p, huge) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(reallocarray(p, huge / 2, 3) == NULL && errno == ENOMEM);
    free(p); /* untouched by the failed calls */
}

static void realloc_keeps_contents_across_the_threshold(void) {
    unsigned char *p = malloc(24);
    for (int i = 0; i < 24; i++)
        p[i] = (unsigned char)i;
    p = realloc(p, 400); /* pool -> pool */
    for (int i = 0; i < 24; i++)
        CHECK(p[i] == i);
    for (int i = 24; i < 400; i++)
        p[i] = (unsigned char)i;
    p = realloc(p, 5000); /* pool -> medium tier (glibc with PYMT_MEDIUM=0) */
    for (int i = 0; i < 400; i++)
        CHECK(p[i] == (unsigned char)i);
    p = realloc(p, 100); /* glibc block stays a glibc block */
    for (int i = 0; i < 100; i++)
        CHECK(p[i] == (unsigned char)i);
    free(p);
    void *q = realloc(NULL, 32);
    CHECK(q != NULL);
    CHECK(realloc(q, 0) == NULL); /* glibc: frees and returns NULL */
    q = reallocarray(NULL, 10, 10);
    CHECK(q != NULL && malloc_usable_size(q) >= 100);
    free(q);
}

/* A pool block grown a little moves to a quarter more than its class, within its tier (a
 * debug block is exactly its request). */
static void growing_realloc_takes_a_quarter_more(void) {
    if (debug_mode())
        return;
    char *p = malloc(100); /* class 112 */
    CHECK(p != NULL);
    p = realloc(p, 113); /* 140: class 144, not 128 */
    CHECK(p != NULL && malloc_usable_size(p) == 144);
    p = realloc(p, 500); /* more than a quarter: as asked */
    CHECK(p != NULL && malloc_usable_size(p) == 512);
    free(p);
}

static void aligned_interfaces(void) {
    static const size_t aligns[] = {8, 16, 32, 64, 128, 4096, 65536};
    for (size_t i = 0; i < sizeof aligns / sizeof aligns[0]; i++) {
        size_t a = aligns[i];
        void *p = (void *)1;
        CHECK(posix_memalign(&p, a, 100) == 0 && (uintptr_t)p % a == 0);
        free(p);
        p = aligned_alloc(a, 3 * a);
        CHECK(p != NULL && (uintptr_t)p % a == 0);
        free(p);
        p = memalign(a, 7);
        CHECK(p != NULL && (uintptr_t)p % a == 0);
        free(p);
    }
    long page = sysconf(_SC_PAGESIZE);
    void *v = valloc(10);
    CHECK(v != NULL && (uintptr_t)v % (uintptr_t)page == 0);
    free(v);
    v = pvalloc(10);
    CHECK(v != NULL && (uintptr_t)v % (uintptr_t)page == 0 && malloc_usable_size(v) >= (size_t)page);
    free(v);
    void *m = memalign(48, 10); /* glibc rounds a non-power of two up */
    CHECK(m != NULL && (uintptr_t)m % 64 == 0);
    free(m);
}

static void posix_memalign_errors_leave_memptr(void) {
    void *marker = (void *)&failures;
    void *p = marker;
    CHECK(posix_memalign(&p, 24, 10) == EINVAL && p == marker);
    CHECK(posix_memalign(&p, 4, 10) == EINVAL && p == marker);
    CHECK(posix_memalign(&p, 0, 10) == EINVAL && p == marker);
    CHECK(posix_memalign(&p, 64, huge - 100) == ENOMEM && p == marker);
    CHECK(posix_memalign(&p, 16, huge - 100) == ENOMEM && p == marker);
    errno = 0;
    CHECK(aligned_alloc(24, 48) == NULL && errno == EINVAL);
}

static void foreign_glibc_blocks_are_freed_by_glibc(void) {
    /* What a block allocated before the preload took effect looks like. */
    void *g = __libc_malloc(200);
    CHECK(g != NULL);
    CHECK(malloc_usable_size(g) >= 200 && malloc_usable_size(g) < 240);
    g = realloc(g, 300);
    CHECK(g != NULL && malloc_usable_size(g) >= 300);
    free(g);
    CHECK(malloc_usable_size(NULL) == 0);
    free(NULL);
}

static void fork_child_allocates(void) {
    void *p = malloc(64);
    pid_t pid = fork();
    if (pid == 0) {
        void *q = malloc(64);
        free(p);
        free(q);
        char *s = strdup("child");
        _exit(s && strcmp(s, "child") == 0 ? 0 : 1);
    }
    int st = 0;
    CHECK(pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    free(p);
}

int main(void) {
    if (!preload_is_mapped()) {
        fprintf(stderr, "pymt is not preloaded (set LD_PRELOAD to libpymt-malloc.so)\n");
        return 1;
    }
    small_requests_come_from_the_pools();
    calloc_zeroes_and_checks_overflow();
    calloc_of_zero_by_a_huge_size_is_a_block();
    impossible_sizes_give_enomem();
    realloc_keeps_contents_across_the_threshold();
    growing_realloc_takes_a_quarter_more();
    aligned_interfaces();
    posix_memalign_errors_leave_memptr();
    foreign_glibc_blocks_are_freed_by_glibc();
    fork_child_allocates();
    printf("preload_api: %d failures\n", failures);
    return failures ? 1 : 0;
}

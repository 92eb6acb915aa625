/* test_debug_valgrind.c: run under memcheck by ctest (PYMT_VALGRIND=ON builds only).
 *   test_debug_valgrind read_freed   reads a freed pool block: memcheck must report an invalid
 *                                    read inside a block it knows as freed (track.h's
 *                                    VALGRIND_FREELIKE_BLOCK); ctest matches its report
 *   test_debug_valgrind clean        correct use of every path the hooks touch (thread cache,
 *                                    depot hand-off between threads, calloc, in-place and moving
 *                                    realloc, trim): memcheck must report no error at all
 * Plain main, no check.h: memcheck's own report is the result. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "pymt/pymt.h"

static int read_freed(void) {
    unsigned char *p = pymt_object_malloc(32);
    if (p == NULL)
        return 2;
    memset(p, 1, 32);
    pymt_object_free(p);
    volatile uintptr_t a = (uintptr_t)p; /* hide the use after free from the compiler */
    unsigned char v = ((volatile unsigned char *)a)[8];
    printf("read %u from a freed block\n", v);
    return 0;
}

#define N 2000
static void *blocks[N];

static void *consumer(void *arg) {
    (void)arg;
    for (int i = 0; i < N; i++)
        pymt_object_free(blocks[i]); /* frees of another thread's blocks */
    pymt_thread_flush();
    return NULL;
}

static int clean(void) {
    unsigned sum = 0;
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < N; i++) {
            size_t n = 1 + (size_t)(i * 37 % 512);
            unsigned char *p = i % 3 ? pymt_object_malloc(n) : pymt_object_calloc(1, n);
            if (p == NULL)
                return 2;
            p[0] = (unsigned char)i;
            p[n - 1] = (unsigned char)i;
            sum += p[n - 1];
            if (i % 5 == 0) {
                unsigned char *q = pymt_object_realloc(p, n + n / 8); /* often in place */
                if (q == NULL)
                    return 2;
                q[n + n / 8 - 1] = 1;
                p = q;
            }
            blocks[i] = p;
        }
        pthread_t t;
        if (pthread_create(&t, NULL, consumer, NULL) != 0)
            return 2;
        pthread_join(t, NULL);
        pymt_trim();
    }
    printf("clean run done (%u)\n", sum);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "read_freed") == 0)
        return read_freed();
    if (argc == 2 && strcmp(argv[1], "clean") == 0)
        return clean();
    fprintf(stderr, "usage: %s read_freed|clean\n", argv[0]);
    return 2;
}

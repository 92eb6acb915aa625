/* preload_debug_faults.c: one memory fault of a C program, chosen by argv[1], for the drop-in
 * malloc in debug and hardened mode (preload_debug.sh runs each under
 * LD_PRELOAD=libpymt-malloc.so with PYMT_MALLOC=debug, and some with PYMT_HARDEN=1, and checks
 * that pymt reports it and aborts):
 *   double    a block freed twice
 *   overrun   one byte written past a 40-byte block, then freed
 *   underrun  one byte written before a block, then freed
 *   uaf       a byte written into a freed block, then enough traffic to push it out of the
 *             quarantine
 *   big       the same overrun on a 5000-byte block (the drop-in's large path)
 *   interior  free of a pointer into the middle of a block
 *   realloc_freed     realloc of a freed block to a size its class still holds
 *   realloc_interior  realloc of a pointer into the middle of a block, within its class
 *   clean     nothing wrong, with glibc-aligned blocks and realloc across 512 bytes: must exit 0
 * The writes go through a volatile pointer so the compiler cannot see or drop them. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void poke(char *p, long i, char v) {
    char *volatile q = p;
    q[i] = v;
}

int main(int argc, char **argv) {
    const char *what = argc > 1 ? argv[1] : "clean";
    char *p = malloc(40);
    if (p == NULL)
        return 2;
    memset(p, 'a', 40);
    if (strcmp(what, "double") == 0) {
        free(p);
        free(p);
    } else if (strcmp(what, "overrun") == 0) {
        poke(p, 40, 'x');
        free(p);
    } else if (strcmp(what, "underrun") == 0) {
        poke(p, -1, 'x');
        free(p);
    } else if (strcmp(what, "uaf") == 0) {
        free(p);
        poke(p, 3, 'x');
        for (int i = 0; i < 20000; i++)
            free(malloc(100));
    } else if (strcmp(what, "big") == 0) {
        char *b = malloc(5000);
        poke(b, 5000, 'x');
        free(b);
    } else if (strcmp(what, "interior") == 0) {
        free(p + 16);
    } else if (strcmp(what, "realloc_freed") == 0) {
        free(p);
        char *q = realloc(p, 36);
        printf("realloc of a freed block returned %p\n", (void *)q);
    } else if (strcmp(what, "realloc_interior") == 0) {
        char *q = realloc(p + 16, 40);
        printf("realloc of an interior pointer returned %p\n", (void *)q);
    } else {
        void *a = NULL;
        if (posix_memalign(&a, 64, 100) != 0)
            return 3;
        free(a);
        p = realloc(p, 1000);
        if (p == NULL || p[39] != 'a')
            return 4;
        p = realloc(p, 10);
        if (p == NULL || p[9] != 'a')
            return 5;
        free(p);
        char *z = calloc(10, 100);
        for (int i = 0; i < 1000; i++)
            if (z == NULL || z[i] != 0)
                return 6;
        free(z);
        puts("clean");
        return 0;
    }
    puts("not caught");
    return 1;
}

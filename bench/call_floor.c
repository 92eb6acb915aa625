/* call_floor.c: the call floors of the harness, a shared library of its own.
 *
 * Two functions that do no allocator work: pymtbench_floor_malloc returns the same static
 * block every time, pymtbench_floor_free does nothing. BM_CallFloor and BM_ChurnFloor run the
 * loops of the hot pair and of churn around them (FloorApi, bench_common.h), and since they
 * live in a shared library the calls go through one PLT entry each, exactly as the
 * allocators' calls do (libpymt.so, a preloaded library or libc.so). What a floor measures is
 * the loop and the calls alone: the fastest any allocator's malloc and free can run in it. */
#include <stddef.h>

static _Alignas(16) unsigned char floor_block[32];

void *pymtbench_floor_malloc(size_t n) {
    (void)n;
    return floor_block;
}

void pymtbench_floor_free(void *p) {
    (void)p;
}

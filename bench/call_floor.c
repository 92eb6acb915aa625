/* call_floor.c: the call floor of the hot pair, a shared library of its own.
 *
 * Two functions that do no allocator work: pymtbench_floor_malloc returns the same static
 * block every time, pymtbench_floor_free does nothing. BM_CallFloor (bench_hotpair.cc) calls
 * them in the hot pair's own loop, and since they live in a shared library the calls go
 * through one PLT entry each, exactly as the allocators' calls do (libpymt.so, a preloaded
 * library or libc.so). What BM_CallFloor measures is therefore the fastest any allocator's
 * malloc+free pair can run in that loop: call, PLT jump and return, twice, plus the loop. */
#include <stddef.h>

static _Alignas(16) unsigned char floor_block[32];

void *pymtbench_floor_malloc(size_t n) {
    (void)n;
    return floor_block;
}

void pymtbench_floor_free(void *p) {
    (void)p;
}

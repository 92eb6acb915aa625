// bench_realloc.cc: growth by appends, from 8 bytes to several KiB, across the pool threshold.
//
// What it models: a str or bytearray built by appends (BM_ReallocString: realloc to the exact
// new length, 1-32 bytes at a time, writing the appended bytes) and a list growing one item at
// a time with CPython's over-allocation rule (BM_ReallocList: capacity n + n/8 + 6 rounded
// down to a multiple of 4, 8 bytes per item). Both start at 8 bytes and stop at the argument
// (4 KiB; full mode also 1 KiB and 16 KiB), so the block moves from pool sizes to the system
// allocator (pymt's threshold is 512 bytes); then it is freed and the next one starts.
// Items: realloc calls. Threads 1, 2, 4, 8.
#include <cstring>

#include "bench_common.h"

namespace pb {
namespace {

template <class A>
void BM_ReallocString(benchmark::State &state) {
    const size_t final_len = static_cast<size_t>(state.range(0));
    Rng rng(4000 + static_cast<uint64_t>(state.thread_index()));
    int64_t reallocs = 0;
    WallMeter meter(state);
    auto it = state.begin();
    auto end = state.end();  // the start barrier
    meter.start();
    for (; it != end; ++it) {
        size_t len = 8;
        char *s = static_cast<char *>(A::malloc(len));
        benchmark::DoNotOptimize(s);
        std::memset(s, 's', len);
        while (len < final_len) {
            size_t add = 1 + (rng.next() & 31);
            s = static_cast<char *>(A::realloc(s, len + add));
            benchmark::DoNotOptimize(s);
            std::memset(s + len, 'a', add);
            len += add;
            reallocs++;
        }
        benchmark::ClobberMemory();
        A::free(s);
    }
    meter.stop(state, reallocs);
    state.SetItemsProcessed(reallocs);
}

template <class A>
void BM_ReallocList(benchmark::State &state) {
    const size_t final_items = static_cast<size_t>(state.range(0)) / sizeof(void *);
    int64_t reallocs = 0;
    WallMeter meter(state);
    auto it = state.begin();
    auto end = state.end();  // the start barrier
    meter.start();
    for (; it != end; ++it) {
        size_t allocated = 1;
        void **items = static_cast<void **>(A::malloc(sizeof(void *)));
        benchmark::DoNotOptimize(items);
        for (size_t n = 0; n < final_items; n++) {
            if (n + 1 > allocated) {
                size_t want = n + 1;
                allocated = (want + (want >> 3) + 6) & ~static_cast<size_t>(3);
                items = static_cast<void **>(A::realloc(items, allocated * sizeof(void *)));
                benchmark::DoNotOptimize(items);
                reallocs++;
            }
            items[n] = &items[n];
        }
        benchmark::ClobberMemory();
        A::free(items);
    }
    meter.stop(state, reallocs);
    state.SetItemsProcessed(reallocs);
}

template <class A>
void register_with() {
    auto *str = benchmark::RegisterBenchmark("BM_ReallocString", BM_ReallocString<A>);
    if (g_config.short_mode) {
        str->Arg(4096);
    } else {
        str->Arg(1024)->Arg(4096)->Arg(16384);
        benchmark::RegisterBenchmark("BM_ReallocList", BM_ReallocList<A>)
            ->Arg(4096)
            ->Arg(16384)
            ->ThreadRange(1, 8)
            ->UseRealTime();
    }
    str->ThreadRange(1, 8)->UseRealTime();
}

}  // namespace

void register_realloc() {
    if (g_config.pymt_api) {
        register_with<PymtApi>();
    } else {
        register_with<SysApi>();
    }
}

}  // namespace pb

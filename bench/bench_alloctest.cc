// bench_alloctest.cc: alloc-test: random sizes to 16 KiB over a working set, no sharing.
//
// What it models: a multi-threaded program whose threads never share heap blocks (a worker
// per request or per shard, each with its own data), with a large working set of live blocks
// of widely varying sizes replaced at random, as the alloc-test of mimalloc-bench does. The
// counterpart of bench_rptest.cc with the same sizes (the wide table, 8 B..16 KiB with linear
// falloff; see bench_common.h) and without cross-thread frees: every block is freed by the
// thread that allocated it.
// Each thread owns a working set of 2000 blocks (full mode 10000) filled before timing; one
// item is one replacement: free a random block, allocate one of a random wide size, touch
// each of its 4 KiB pages once. Threads 1, 2, 8, each on its own working set.
#include <vector>

#include "bench_common.h"

namespace pb {
namespace {

template <class A>
void BM_AllocTest(benchmark::State &state) {
    const size_t n = g_config.short_mode ? 2000 : 10000;
    std::vector<void *> ws(n);
    Rng rng(8000 + static_cast<uint64_t>(state.thread_index()));
    for (size_t i = 0; i < n; i++) {
        uint64_t r = rng.next();
        size_t size = wide_size(r);
        void *p = A::malloc(size);
        benchmark::DoNotOptimize(p);
        touch_pages(p, size, r);
        ws[i] = p;
    }
    WallMeter meter(state);
    auto it = state.begin();
    auto end = state.end();  // the start barrier
    meter.start();
    for (; it != end; ++it) {
        uint64_t r = rng.next();
        size_t i = Rng::below(r, n);
        A::free(ws[i]);
        size_t size = wide_size(r);
        void *p = A::malloc(size);
        benchmark::DoNotOptimize(p);
        touch_pages(p, size, r);
        ws[i] = p;
    }
    meter.stop(state, state.iterations());
    for (void *p : ws) A::free(p);
    state.SetItemsProcessed(state.iterations());
}

template <class A>
void register_with() {
    benchmark::RegisterBenchmark("BM_AllocTest", BM_AllocTest<A>)
        ->Threads(1)
        ->Threads(2)
        ->Threads(8)
        ->UseRealTime();
}

}  // namespace

void register_alloctest() {
    if (g_config.pymt_api) {
        register_with<PymtApi>();
    } else {
        register_with<SysApi>();
    }
}

}  // namespace pb

// bench_churn.cc: Python-like churn over a working set of live objects.
//
// What it models: a running interpreter, whose heap holds many live small objects of skewed
// sizes (half of them 8-32 bytes, most under 64, a tail to 512; see init_size_table) and
// replaces random ones all the time. Each thread owns a working set of N blocks (1k, 100k,
// 1M; short mode 1k and 100k) filled before timing; one item is one replacement: free a
// random block, allocate one of a random size, write its first word (a refcount would go
// there). Large working sets are dominated by cache misses, small ones by the fast paths.
// Threads 1, 2, 4, 8, each on its own working set. BM_ChurnFloor, 1k blocks and one thread,
// runs the same loop around FloorApi (bench_common.h), which does no allocator work: the
// floor of every column's one-thread churn.
#include <vector>

#include "bench_common.h"

namespace pb {
namespace {

template <class A>
void BM_Churn(benchmark::State &state) {
    const size_t n = static_cast<size_t>(state.range(0));
    std::vector<void *> ws(n);
    Rng rng(1000 + static_cast<uint64_t>(state.thread_index()));
    for (size_t i = 0; i < n; i++) {
        uint64_t r = rng.next();
        void *p = A::malloc(skewed_size(r));
        benchmark::DoNotOptimize(p);
        *static_cast<uint64_t *>(p) = r;
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
        void *p = A::malloc(skewed_size(r));
        benchmark::DoNotOptimize(p);
        *static_cast<uint64_t *>(p) = r;
        ws[i] = p;
    }
    meter.stop(state, state.iterations());
    for (void *p : ws) A::free(p);
    state.SetItemsProcessed(state.iterations());
}

template <class A>
void register_with() {
    auto *b = benchmark::RegisterBenchmark("BM_Churn", BM_Churn<A>);
    b->Arg(1000)->Arg(100000);
    if (!g_config.short_mode) b->Arg(1000000);
    b->ThreadRange(1, 8)->UseRealTime();
    // the same loop around FloorApi, one thread, 1k blocks: the row's call floor
    benchmark::RegisterBenchmark("BM_ChurnFloor", BM_Churn<FloorApi>)
        ->Arg(1000)
        ->Threads(1)
        ->UseRealTime();
}

}  // namespace

void register_churn() {
    if (g_config.pymt_api) {
        register_with<PymtApi>();
    } else {
        register_with<SysApi>();
    }
}

}  // namespace pb

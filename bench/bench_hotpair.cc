// bench_hotpair.cc: the hot pair, malloc and free of one size in a tight loop.
//
// What it models: the fastest path of an allocator, a temporary object made and dropped at
// once (a float in an arithmetic loop). BM_HotPair frees the only block of its size, so a
// pool-based allocator may see its pool empty on every free; BM_HotPairKeep holds one other
// block of the same size live for the whole run, so the pool never empties.
// Items: one malloc+free pair. Sizes 16..512 (short mode: 32 and 256); threads 1, 2, 4, 8,
// each thread on its own blocks. BM_CallFloor, one thread, runs the same loop around two
// functions that do no work: the floor of every column's hot pair in this harness.
#include "bench_common.h"

namespace pb {
namespace {

// The timed loop both variants share: malloc+free of one size.
template <class A>
void hot_pair_loop(benchmark::State &state, size_t size) {
    WallMeter meter(state);
    auto it = state.begin();
    auto end = state.end();  // the start barrier
    meter.start();
    for (; it != end; ++it) {
        void *p = A::malloc(size);
        benchmark::DoNotOptimize(p);
        A::free(p);
    }
    meter.stop(state, state.iterations());
    state.SetItemsProcessed(state.iterations());
}

template <class A>
void BM_HotPair(benchmark::State &state) {
    hot_pair_loop<A>(state, static_cast<size_t>(state.range(0)));
}

// One more block of the size stays live, so its pool never empties.
template <class A>
void BM_HotPairKeep(benchmark::State &state) {
    const size_t size = static_cast<size_t>(state.range(0));
    void *keep = A::malloc(size);
    benchmark::DoNotOptimize(keep);
    hot_pair_loop<A>(state, size);
    A::free(keep);
}

// The call floor: the same loop around FloorApi's two functions, which do nothing. No
// allocator runs the hot pair faster in this harness, but for the few percent by which code
// placement moves a loop; the report sets each column's hot pair against it.
void BM_CallFloor(benchmark::State &state) {
    hot_pair_loop<FloorApi>(state, 32);
}

template <class A>
void register_with() {
    auto *hot = benchmark::RegisterBenchmark("BM_HotPair", BM_HotPair<A>);
    auto *keep = benchmark::RegisterBenchmark("BM_HotPairKeep", BM_HotPairKeep<A>);
    if (g_config.short_mode) {
        hot->Arg(32)->Arg(256);
        keep->Arg(32);
    } else {
        hot->RangeMultiplier(2)->Range(16, 512);
        keep->RangeMultiplier(2)->Range(16, 512);
    }
    hot->ThreadRange(1, 8)->UseRealTime();
    keep->ThreadRange(1, 8)->UseRealTime();
    benchmark::RegisterBenchmark("BM_CallFloor", BM_CallFloor)->Threads(1)->UseRealTime();
}

}  // namespace

void register_hotpair() {
    if (g_config.pymt_api) {
        register_with<PymtApi>();
    } else {
        register_with<SysApi>();
    }
}

}  // namespace pb

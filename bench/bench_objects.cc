// bench_objects.cc: object-family churn, pymt_object_new/newvar/del against malloc + header.
//
// What it models: an interpreter creating and dropping small typed objects: fixed-size ones
// (an int of 32 bytes, a float of 24, a pair of 48) and variable-size ones (a tuple: 24
// bytes of head plus 8 per item, 0..15 items). The pymt columns call pymt_object_new,
// pymt_object_newvar and pymt_object_del; the other columns do the same work with their
// malloc (SysApi in alloc_select.h: the same checks, size rounding and header writes).
// Each thread owns a working set (1k; full mode also 100k) and replaces random objects; one
// item is one del plus one new or newvar. Threads 1, 2, 4, 8.
#include <vector>

#include "bench_common.h"

namespace pb {
namespace {

const pymt_type kInt = {"int", 32, 0};
const pymt_type kFloat = {"float", 24, 0};
const pymt_type kPair = {"pair", 48, 0};
const pymt_type kTuple = {"tuple", 24, 8};

template <class A>
void *make_object(uint64_t r) {
    // 60% fixed-size objects, 40% tuples of 0..15 items.
    unsigned pick = static_cast<unsigned>((r >> 40) % 10);
    void *op;
    if (pick < 3) {
        op = A::object_new(&kInt);
    } else if (pick < 5) {
        op = A::object_new(&kFloat);
    } else if (pick < 6) {
        op = A::object_new(&kPair);
    } else {
        op = A::object_newvar(&kTuple, static_cast<ptrdiff_t>((r >> 52) & 15));
    }
    benchmark::DoNotOptimize(op);
    return op;
}

template <class A>
void BM_Objects(benchmark::State &state) {
    const size_t n = static_cast<size_t>(state.range(0));
    std::vector<void *> ws(n);
    Rng rng(2000 + static_cast<uint64_t>(state.thread_index()));
    for (size_t i = 0; i < n; i++) ws[i] = make_object<A>(rng.next());
    WallMeter meter(state);
    auto it = state.begin();
    auto end = state.end();  // the start barrier
    meter.start();
    for (; it != end; ++it) {
        uint64_t r = rng.next();
        size_t i = Rng::below(r, n);
        A::object_del(ws[i]);
        ws[i] = make_object<A>(rng.next());
    }
    meter.stop(state, state.iterations());
    for (void *op : ws) A::object_del(op);
    state.SetItemsProcessed(state.iterations());
}

template <class A>
void register_with() {
    auto *b = benchmark::RegisterBenchmark("BM_Objects", BM_Objects<A>);
    b->Arg(1000);
    if (!g_config.short_mode) b->Arg(100000);
    b->ThreadRange(1, 8)->UseRealTime();
}

}  // namespace

void register_objects() {
    if (g_config.pymt_api) {
        register_with<PymtApi>();
    } else {
        register_with<SysApi>();
    }
}

}  // namespace pb

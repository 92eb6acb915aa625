// bench_larson.cc: a larson-style server, blocks freed by later threads, with thread turnover.
//
// What it models: a server whose connection threads come and go while the heap they built
// outlives them (Larson and Krishnan's benchmark, as mimalloc-bench runs it). Each benchmark
// thread owns a table of 1000 slots (full mode 4000) filled before timing. One iteration
// starts a fresh worker thread that performs 50000 replacements on the table (free the block
// in a random slot, allocate one of a skewed random size 8-512, write it) and exits; the next
// iteration's worker frees what the previous one allocated. So most frees are of blocks from
// a thread that has already exited, and each allocator's thread-exit path runs every
// iteration. Thread start and exit are part of the measured time, as in larson.
// Items: replacements. Threads 1, 2, 4, 8 (tables and workers per benchmark thread).
#include <thread>
#include <vector>

#include "bench_common.h"

namespace pb {
namespace {

constexpr int kOpsPerWorker = 50000;

template <class A>
void BM_Larson(benchmark::State &state) {
    const size_t slots = g_config.short_mode ? 1000 : 4000;
    std::vector<void *> table(slots);
    Rng rng(5000 + static_cast<uint64_t>(state.thread_index()));
    for (size_t i = 0; i < slots; i++) {
        void *p = A::malloc(skewed_size(rng.next()));
        benchmark::DoNotOptimize(p);
        table[i] = p;
    }
    WallMeter meter(state);
    auto it = state.begin();
    auto end = state.end();  // the start barrier
    meter.start();
    for (; it != end; ++it) {
        std::thread worker([&table, &rng, slots] {
            Rng local = rng;
            for (int k = 0; k < kOpsPerWorker; k++) {
                uint64_t r = local.next();
                size_t i = Rng::below(r, slots);
                A::free(table[i]);
                void *p = A::malloc(skewed_size(r));
                benchmark::DoNotOptimize(p);
                *static_cast<uint64_t *>(p) = r;
                table[i] = p;
            }
            rng = local;
        });
        worker.join();
    }
    meter.stop(state, state.iterations() * kOpsPerWorker);
    for (void *p : table) A::free(p);
    state.SetItemsProcessed(state.iterations() * kOpsPerWorker);
}

template <class A>
void register_with() {
    benchmark::RegisterBenchmark("BM_Larson", BM_Larson<A>)->ThreadRange(1, 8)->UseRealTime();
}

}  // namespace

void register_larson() {
    if (g_config.pymt_api) {
        register_with<PymtApi>();
    } else {
        register_with<SysApi>();
    }
}

}  // namespace pb

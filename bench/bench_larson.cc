// bench_larson.cc: a larson-style server, blocks freed by later threads, with thread turnover.
//
// What it models: a server whose connection threads come and go while the heap they built
// outlives them (Larson and Krishnan's benchmark, as mimalloc-bench runs it). Two variants:
//
// BM_Larson, Python-like sizes: each benchmark thread owns a table of 1000 slots (full mode
// 4000) filled before timing. One iteration starts a fresh worker thread that performs 50000
// replacements on the table (free the block in a random slot, allocate one of a skewed random
// size 8-512, write it) and exits; the next iteration's worker frees what the previous one
// allocated. So most frees are of blocks from a thread that has already exited, and each
// allocator's thread-exit path runs every iteration. Thread start and exit are part of the
// measured time, as in larson. Threads 1, 2, 4, 8 (tables and workers per benchmark thread).
//
// BM_LarsonSuite, the public suite's parameters (`larson 5 8 1000 5000 100 4141 N`): sizes
// uniform in 8..1000 bytes, 5000 chunks per thread, and a generation of rounds x chunks
// replacements before the worker hands its table to a fresh thread: 100 rounds (500000
// replacements) in the full mode, 10 (50000) in the short mode, so that a 0.1 s measurement
// still spans several generations even at 8 threads on 2 cores. Each replacement writes the new block's first two bytes,
// as larson does. larson fills every table from its main thread before the workers start;
// here each benchmark thread fills its own, untimed. Threads 1, 2, 8.
//
// Items: replacements.
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

constexpr size_t kSuiteChunks = 5000;
constexpr size_t kSuiteMin = 8;
constexpr size_t kSuiteMax = 1000;

template <class A>
void BM_LarsonSuite(benchmark::State &state) {
    const int64_t rounds = g_config.short_mode ? 10 : 100;
    const int64_t generation = static_cast<int64_t>(kSuiteChunks) * rounds;
    std::vector<void *> table(kSuiteChunks);
    Rng rng(4141 + static_cast<uint64_t>(state.thread_index()));
    for (size_t i = 0; i < kSuiteChunks; i++) {
        void *p = A::malloc(kSuiteMin + Rng::below(rng.next(), kSuiteMax - kSuiteMin + 1));
        benchmark::DoNotOptimize(p);
        table[i] = p;
    }
    WallMeter meter(state);
    auto it = state.begin();
    auto end = state.end();  // the start barrier
    meter.start();
    for (; it != end; ++it) {
        std::thread worker([&table, &rng, generation] {
            Rng local = rng;
            for (int64_t k = 0; k < generation; k++) {
                uint64_t r = local.next();
                size_t i = Rng::below(r, kSuiteChunks);
                A::free(table[i]);
                // Low bits for the size, high bits (below) for the slot: independent draws.
                void *p = A::malloc(kSuiteMin + (r & 0xffff) % (kSuiteMax - kSuiteMin + 1));
                benchmark::DoNotOptimize(p);
                auto *c = static_cast<volatile char *>(p);
                c[0] = 'a';
                c[1] = 'b';
                table[i] = p;
            }
            rng = local;
        });
        worker.join();
    }
    meter.stop(state, state.iterations() * generation);
    for (void *p : table) A::free(p);
    state.SetItemsProcessed(state.iterations() * generation);
}

template <class A>
void register_with() {
    benchmark::RegisterBenchmark("BM_Larson", BM_Larson<A>)->ThreadRange(1, 8)->UseRealTime();
    benchmark::RegisterBenchmark("BM_LarsonSuite", BM_LarsonSuite<A>)
        ->Threads(1)
        ->Threads(2)
        ->Threads(8)
        ->UseRealTime();
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

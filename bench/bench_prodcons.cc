// bench_prodcons.cc: producer/consumer, blocks allocated in one thread and freed in another.
//
// What it models: a pipeline (an I/O thread building objects that a worker drops), the case
// where every free is a remote free. Threads come in pairs: an even thread produces (malloc
// of a skewed size, writes a serial number into the block, pushes it) and the next odd thread
// consumes (pops, checks the serial, frees). 1:1 is one pair (2 threads), 4:4 four pairs
// (8 threads). The queue is one lock-free single-producer single-consumer ring per pair,
// 1024 slots, each side caching the other's index. Items: blocks handed over (counted on the
// consumer side). A waiting side spins briefly and then yields: on 2 cores with 8 threads a
// pure spin would measure the scheduler.
//
// Two queues, two benchmarks. BM_ProdCons publishes each index after every item, as most
// queues do (folly's ProducerConsumerQueue, a mutex and a condition variable). There the
// queue's own lines can weigh more than the allocator: when the consumer is the faster side it
// catches up, finds the ring empty every few items and spins on the producer's index, and from
// then on both sides write lines the other is reading, item by item. Which side is faster
// depends on the allocator's free against its malloc, so that regime picks some allocators and
// not others (docs/benchmarks.md has the figures). BM_ProdConsBatch publishes each index every
// kBatch items (and before it waits, and on its last item), as batching queues do: the sides
// meet once per batch, and what is left is mostly the allocator's work. The counter
// empty_per_item says how often the consumer found the ring empty: near 0 the producer is the
// slower side, near 1 the two run in lockstep.
#include <atomic>

#include "bench_common.h"

namespace pb {
namespace {

constexpr uint64_t kRingLen = 1024;  // power of two
constexpr int kMaxPairs = 4;
constexpr uint64_t kBatch = 16;  // BM_ProdConsBatch: items between index publications

struct Ring {
    alignas(64) std::atomic<uint64_t> head{0};  // written by the producer only
    alignas(64) std::atomic<uint64_t> tail{0};  // written by the consumer only
    alignas(64) void *slot[kRingLen];           // slot[i & mask] written by the producer
};
Ring g_rings[kMaxPairs];

template <class A, uint64_t batch>
void produce(benchmark::State &state, WallMeter &meter, Ring &ring, Rng &rng) {
    uint64_t head = ring.head.load(std::memory_order_relaxed);
    uint64_t tail_seen = ring.tail.load(std::memory_order_acquire);
    // The last item is published at once: after the loop the thread is already in the end
    // barrier, where the consumer would wait for it forever.
    uint64_t left = state.max_iterations;
    auto it = state.begin();
    auto end = state.end();  // the start barrier
    meter.start();
    for (; it != end; ++it) {
        void *p = A::malloc(skewed_size(rng.next()));
        benchmark::DoNotOptimize(p);
        *static_cast<uint64_t *>(p) = head;
        if (head - tail_seen >= kRingLen) {
            // Pairs with the acquire load of head in consume: what is in the ring is visible
            // before this side waits for room (published already when batch is 1).
            if (batch > 1) ring.head.store(head, std::memory_order_release);
            unsigned spins = 0;
            do {
                // Pairs with the release store of tail in consume: the slot is free again.
                tail_seen = ring.tail.load(std::memory_order_acquire);
                if (head - tail_seen >= kRingLen) spin_wait(&spins);
            } while (head - tail_seen >= kRingLen);
        }
        ring.slot[head & (kRingLen - 1)] = p;
        // Pairs with the acquire load of head in consume: slot and block contents are visible.
        --left;
        if (++head % batch == 0 || left == 0) ring.head.store(head, std::memory_order_release);
    }
    meter.stop(state, 0);
}

template <class A, uint64_t batch>
void consume(benchmark::State &state, WallMeter &meter, Ring &ring) {
    uint64_t tail = ring.tail.load(std::memory_order_relaxed);
    uint64_t head_seen = ring.head.load(std::memory_order_acquire);
    uint64_t left = state.max_iterations, empty = 0;
    bool bad = false;
    auto it = state.begin();
    auto end = state.end();  // the start barrier
    meter.start();
    for (; it != end; ++it) {
        if (tail == head_seen) {
            // Pairs with the acquire load of tail in produce: the slots taken are free
            // (published already when batch is 1).
            if (batch > 1) ring.tail.store(tail, std::memory_order_release);
            empty++;
            unsigned spins = 0;
            do {
                // Pairs with the release store of head in produce.
                head_seen = ring.head.load(std::memory_order_acquire);
                if (tail == head_seen) spin_wait(&spins);
            } while (tail == head_seen);
        }
        void *p = ring.slot[tail & (kRingLen - 1)];
        benchmark::DoNotOptimize(p);
        bad |= *static_cast<uint64_t *>(p) != tail;
        // Pairs with the acquire load of tail in produce: the slot may be reused.
        --left;
        if (++tail % batch == 0 || left == 0) ring.tail.store(tail, std::memory_order_release);
        A::free(p);
    }
    meter.stop(state, state.iterations());
    if (bad) state.SkipWithError("a block arrived with the wrong serial number");
    state.SetItemsProcessed(state.iterations());
    state.counters["empty_per_item"] =
        static_cast<double>(empty) / static_cast<double>(state.iterations());
}

template <class A, uint64_t kPublishEvery>
void BM_ProdCons(benchmark::State &state) {
    const int pairs = static_cast<int>(state.range(0));
    const int t = state.thread_index();
    if (state.threads() != 2 * pairs || pairs > kMaxPairs) {
        state.SkipWithError("BM_ProdCons needs 2 threads per pair, at most 4 pairs");
        for (auto _ : state) {
        }
        return;
    }
    Ring &ring = g_rings[t / 2];
    WallMeter meter(state);
    if (t % 2 == 0) {
        Rng rng(3000 + static_cast<uint64_t>(t));
        produce<A, kPublishEvery>(state, meter, ring, rng);
    } else {
        consume<A, kPublishEvery>(state, meter, ring);
    }
}

template <class A>
void register_with() {
    benchmark::RegisterBenchmark("BM_ProdCons", BM_ProdCons<A, 1>)->Arg(1)->Threads(2)->UseRealTime();
    benchmark::RegisterBenchmark("BM_ProdCons", BM_ProdCons<A, 1>)->Arg(4)->Threads(8)->UseRealTime();
    benchmark::RegisterBenchmark("BM_ProdConsBatch", BM_ProdCons<A, kBatch>)
        ->Arg(1)->Threads(2)->UseRealTime();
    benchmark::RegisterBenchmark("BM_ProdConsBatch", BM_ProdCons<A, kBatch>)
        ->Arg(4)->Threads(8)->UseRealTime();
}

}  // namespace

void register_prodcons() {
    if (g_config.pymt_api) {
        register_with<PymtApi>();
    } else {
        register_with<SysApi>();
    }
}

}  // namespace pb

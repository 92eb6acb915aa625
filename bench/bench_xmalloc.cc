// bench_xmalloc.cc: xmalloc-test: 64-byte blocks allocated in one thread, freed in another.
//
// What it models: a pipeline that moves small messages in batches (a network thread filling
// a queue of request records that a worker drains and frees), the shape of the xmalloc-test
// of Lever and Boreham that mimalloc-bench runs (xmalloc-testN): every free is a remote free,
// of a fixed small size, in bursts. Unlike BM_ProdCons, which hands blocks of mixed sizes
// over one at a time, the blocks here travel in batches of 100, so the allocator sees long
// runs of frees of another thread's blocks, and the queue costs one handshake per batch.
//
// Two threads: thread 0 allocates 64-byte blocks, writes a serial number into each and fills
// a batch; thread 1 takes full batches, checks the serials and frees the blocks. The queue is
// a single-producer single-consumer ring of 64 batch slots (the slots are the harness's
// memory, not the allocator's), so that up to 6400 blocks are in flight and a side that
// the scheduler stops for a moment does not stop the other at once; a full ring makes the
// producer wait, an empty one the consumer (spin briefly, then yield).
// Items: blocks freed (counted on the consumer side). Threads 2.
#include <atomic>

#include "bench_common.h"

namespace pb {
namespace {

constexpr size_t kBlock = 64;
constexpr size_t kBatch = 100;
constexpr uint64_t kRingLen = 64;  // power of two

struct BatchSlot {
    void *blocks[kBatch];
    size_t count;
};

struct BatchRing {
    alignas(64) std::atomic<uint64_t> head{0};  // full batches published, written by the producer
    alignas(64) std::atomic<uint64_t> tail{0};  // batches emptied, written by the consumer
    alignas(64) BatchSlot slot[kRingLen];       // slot[i & mask] written by the producer
};
BatchRing g_ring;

void publish(BatchRing &ring, uint64_t *head) {
    // Pairs with the acquire load of head in consume: the slot and the blocks are visible.
    ring.head.store(++*head, std::memory_order_release);
}

template <class A>
void produce(benchmark::State &state, WallMeter &meter, BatchRing &ring) {
    uint64_t head = ring.head.load(std::memory_order_relaxed);
    uint64_t tail_seen = ring.tail.load(std::memory_order_acquire);
    uint64_t serial = 0;
    benchmark::IterationCount made = 0;
    BatchSlot *cur = nullptr;
    auto it = state.begin();
    auto end = state.end();  // the start barrier
    meter.start();
    for (; it != end; ++it) {
        if (cur == nullptr) {
            unsigned spins = 0;
            while (head - tail_seen >= kRingLen) {
                // Pairs with the release store of tail in consume: the slot is free again.
                tail_seen = ring.tail.load(std::memory_order_acquire);
                if (head - tail_seen >= kRingLen) spin_wait(&spins);
            }
            cur = &ring.slot[head & (kRingLen - 1)];
            cur->count = 0;
        }
        void *p = A::malloc(kBlock);
        benchmark::DoNotOptimize(p);
        *static_cast<uint64_t *>(p) = serial++;
        cur->blocks[cur->count++] = p;
        // The last batch may be partial, and goes out within the loop: the loop's end is a
        // barrier that the consumer reaches only after freeing every block.
        ++made;
        if (cur->count == kBatch || made == state.max_iterations) {
            publish(ring, &head);
            cur = nullptr;
        }
    }
    meter.stop(state, 0);
}

template <class A>
void consume(benchmark::State &state, WallMeter &meter, BatchRing &ring) {
    uint64_t tail = ring.tail.load(std::memory_order_relaxed);
    uint64_t head_seen = ring.head.load(std::memory_order_acquire);
    uint64_t serial = 0;
    bool bad = false;
    BatchSlot *cur = nullptr;
    size_t next = 0;
    auto it = state.begin();
    auto end = state.end();  // the start barrier
    meter.start();
    for (; it != end; ++it) {
        if (cur == nullptr) {
            unsigned spins = 0;
            while (tail == head_seen) {
                // Pairs with the release store of head in publish.
                head_seen = ring.head.load(std::memory_order_acquire);
                if (tail == head_seen) spin_wait(&spins);
            }
            cur = &ring.slot[tail & (kRingLen - 1)];
            next = 0;
        }
        void *p = cur->blocks[next++];
        benchmark::DoNotOptimize(p);
        bad |= *static_cast<uint64_t *>(p) != serial++;
        A::free(p);
        if (next == cur->count) {
            // Pairs with the acquire load of tail in produce: the slot may be refilled.
            ring.tail.store(++tail, std::memory_order_release);
            cur = nullptr;
        }
    }
    meter.stop(state, state.iterations());
    if (bad || cur != nullptr) state.SkipWithError("the batches arrived out of order or short");
    state.SetItemsProcessed(state.iterations());
}

template <class A>
void BM_XMalloc(benchmark::State &state) {
    if (state.threads() != 2) {
        state.SkipWithError("BM_XMalloc needs 2 threads");
        for (auto _ : state) {
        }
        return;
    }
    WallMeter meter(state);
    if (state.thread_index() == 0) {
        produce<A>(state, meter, g_ring);
    } else {
        consume<A>(state, meter, g_ring);
    }
}

template <class A>
void register_with() {
    benchmark::RegisterBenchmark("BM_XMalloc", BM_XMalloc<A>)->Threads(2)->UseRealTime();
}

}  // namespace

void register_xmalloc() {
    if (g_config.pymt_api) {
        register_with<PymtApi>();
    } else {
        register_with<SysApi>();
    }
}

}  // namespace pb

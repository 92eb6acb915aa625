// bench_rptest.cc: rpmalloc's benchmark (rptest): random sizes to 16 KiB, cross-thread frees.
//
// What it models: a multi-threaded program whose threads each keep a set of live blocks of
// widely varying sizes, replace them in bursts, and now and then build a batch of blocks that
// another thread consumes and frees (a task queue whose tasks carry buffers). It follows the
// shape of rptest as mimalloc-bench runs it (`rptest N 0 1 2 500 1000 100 8 16000`: random
// sizes with linear falloff, a cross-thread batch every 2nd loop, 1000 live slots per thread,
// about 100 operations per loop), written afresh on this harness:
//
// - each thread owns 1000 slots, empty at the start; one iteration is one loop of rptest:
//   free the blocks of 40-80 random slots, free every batch that other threads handed to
//   this one, then allocate 50-100 blocks into random slots (freeing a slot's previous
//   block first);
// - every 2nd loop (when there is more than one thread, as in rptest) the thread also
//   allocates a batch of 100 blocks and hands it to another thread, the next one in turn; the
//   batch's header and pointer array are one more allocation of the allocator measured,
//   freed by the receiver with the blocks;
// - sizes come from the wide table (8 B..16 KiB, linear falloff; see bench_common.h), and
//   every block is touched once per 4 KiB page, as rptest does.
// The hand-over is an intrusive lock-free stack per receiving thread: a sender pushes a whole
// batch with one compare-and-swap, the receiver takes the whole stack with one exchange (so no
// ABA: nothing is ever popped one at a time). At most kMaxPending batches wait for one
// receiver; a sender that finds its receiver's inbox full frees the batch itself. Without the
// bound a receiver that the scheduler stopped for a while (8 threads on 2 cores, or one of 2
// threads preempted) let the batches pile up without limit: the same allocator ran this
// benchmark at 200 MiB of peak RSS in one process and 700 MiB in the next, another at 5 GiB,
// and the throughput followed the pile, not the allocator. With the bound the live set is what
// the benchmark intends (1000 slots and a few batches per thread); the label cross_share is
// the fraction of thread 0's batches that did cross threads (1 when nothing was ever full).
// Items: blocks allocated (the batches' own headers not counted). Threads 1, 2, 8.
#include <atomic>
#include <cstdio>
#include <vector>

#include "bench_common.h"

namespace pb {
namespace {

constexpr int kMaxThreads = 8;
constexpr size_t kSlots = 1000;
constexpr size_t kBatchBlocks = 100;
constexpr int kCrossRate = 2;
constexpr int64_t kMaxPending = 4;  // batches waiting for one receiver

struct Batch {
    Batch *next;
    size_t count;
    void *blocks[kBatchBlocks];
};

struct alignas(64) Inbox {
    std::atomic<Batch *> head{nullptr};  // pushed by any sender, taken by its owner
    std::atomic<int64_t> pending{0};     // batches pushed and not yet taken (a bound, not exact)
};
Inbox g_inbox[kMaxThreads];

void push_batch(Inbox &box, Batch *b) {
    Batch *old = box.head.load(std::memory_order_relaxed);
    do {
        b->next = old;
        // Release: the batch and its blocks' contents are visible to the acquire in take.
    } while (!box.head.compare_exchange_weak(old, b, std::memory_order_release,
                                             std::memory_order_relaxed));
}

template <class A>
int64_t free_batch(Batch *b) {
    size_t n = b->count;
    for (size_t i = 0; i < n; i++) A::free(b->blocks[i]);
    A::free(b);
    return static_cast<int64_t>(n);
}

template <class A>
int64_t free_inbox(Inbox &box) {
    if (box.head.load(std::memory_order_relaxed) == nullptr) return 0;
    // Pairs with the release in push_batch.
    Batch *b = box.head.exchange(nullptr, std::memory_order_acquire);
    int64_t freed = 0, batches = 0;
    while (b != nullptr) {
        Batch *next = b->next;
        freed += free_batch<A>(b);
        batches++;
        b = next;
    }
    box.pending.fetch_sub(batches, std::memory_order_relaxed);
    return freed;
}

template <class A>
void *new_block(uint64_t r) {
    size_t size = wide_size(r);
    void *p = A::malloc(size);
    benchmark::DoNotOptimize(p);
    touch_pages(p, size, r);
    return p;
}

template <class A>
void BM_RpTest(benchmark::State &state) {
    const int t = state.thread_index();
    const int nthreads = state.threads();
    if (nthreads > kMaxThreads) {
        state.SkipWithError("BM_RpTest runs at most 8 threads");
        for (auto _ : state) {
        }
        return;
    }
    std::vector<void *> slots(kSlots, nullptr);
    Rng rng(7000 + static_cast<uint64_t>(t));
    int64_t allocated = 0;
    uint64_t loop = 0;
    int next_peer = 0;
    int64_t batches = 0, crossed = 0;  // batches built; those handed to another thread
    WallMeter meter(state);
    auto it = state.begin();
    auto end = state.end();  // the start barrier
    meter.start();
    for (; it != end; ++it, ++loop) {
        uint64_t r = rng.next();
        size_t nfree = 40 + Rng::below(r, 41);
        size_t nalloc = 50 + (r & 0xffff) % 51;
        for (size_t k = 0; k < nfree; k++) {
            size_t i = Rng::below(rng.next(), kSlots);
            if (slots[i] != nullptr) {
                A::free(slots[i]);
                slots[i] = nullptr;
            }
        }
        free_inbox<A>(g_inbox[t]);
        for (size_t k = 0; k < nalloc; k++) {
            uint64_t r2 = rng.next();
            size_t i = Rng::below(r2, kSlots);
            if (slots[i] != nullptr) A::free(slots[i]);
            slots[i] = new_block<A>(r2);
        }
        allocated += static_cast<int64_t>(nalloc);
        if (nthreads > 1 && loop % kCrossRate == 0) {
            auto *b = static_cast<Batch *>(A::malloc(sizeof(Batch)));
            benchmark::DoNotOptimize(b);
            b->count = kBatchBlocks;
            for (size_t k = 0; k < kBatchBlocks; k++) b->blocks[k] = new_block<A>(rng.next());
            allocated += static_cast<int64_t>(kBatchBlocks);
            // Round robin over the other threads.
            int peer = (t + 1 + next_peer) % nthreads;
            next_peer = (next_peer + 1) % (nthreads - 1);
            batches++;
            if (g_inbox[peer].pending.load(std::memory_order_relaxed) < kMaxPending) {
                g_inbox[peer].pending.fetch_add(1, std::memory_order_relaxed);
                push_batch(g_inbox[peer], b);
                crossed++;
            } else {
                free_batch<A>(b);
            }
        }
    }
    meter.stop(state, allocated);
    if (t == 0 && batches > 0) {  // a label, not a counter: CSV output wants the same
                                  // counters in every benchmark
        char label[40];
        snprintf(label, sizeof label, "cross_share=%.2f",
                 static_cast<double>(crossed) / static_cast<double>(batches));
        state.SetLabel(label);
    }
    // stop() returns once every thread has left its loop: no batch is in flight any more.
    free_inbox<A>(g_inbox[t]);
    for (void *p : slots) {
        if (p != nullptr) A::free(p);
    }
    state.SetItemsProcessed(allocated);
}

template <class A>
void register_with() {
    benchmark::RegisterBenchmark("BM_RpTest", BM_RpTest<A>)
        ->Threads(1)
        ->Threads(2)
        ->Threads(8)
        ->UseRealTime();
}

}  // namespace

void register_rptest() {
    if (g_config.pymt_api) {
        register_with<PymtApi>();
    } else {
        register_with<SysApi>();
    }
}

}  // namespace pb

// bench_mstress.cc: mstress: objects of mixed sizes, grown by realloc, traded between threads.
//
// What it models: a program whose threads build objects of very different sizes (small
// records, buffers of several KiB, now and then one of tens of KiB), grow some of them in
// place of a copy (a vector or a string builder), and pass objects to other threads through
// a shared structure, where whichever thread picks one up later frees it. It follows the shape
// of mimalloc's stress test as mimalloc-bench runs it (mstress), written afresh on this
// harness, without mstress's one-off huge blocks and per-iteration thread restarts (larson
// covers thread turnover).
//
// Each thread owns 2000 slots (full mode 8000), empty at the start; all threads share a
// transfer array of 1000 slots. One iteration visits a random own slot:
// - empty: allocate an object there: 75% 16 B..1 KiB, 24% 1..10 KiB, 1% 16..128 KiB;
// - else 50%: free the object;
// - else 20%: grow it by realloc to 1.5x + 16 bytes (at most 256 KiB; one at the cap is
//   freed instead);
// - else 30%: swap it with a random transfer slot (an atomic exchange), keeping what was
//   there (an object of any thread, or nothing) in the own slot.
// An object carries its size and a check word in its first 16 bytes, checked before each free
// and realloc (an allocator that lost a block under realloc or across threads fails the run),
// and every 4 KiB page of it is written once when it is allocated or grows.
// Items: iterations (slot visits). Threads 1, 2, 8.
#include <atomic>
#include <vector>

#include "bench_common.h"

namespace pb {
namespace {

constexpr size_t kTransfer = 1000;
constexpr size_t kMaxObject = 256 * 1024;
constexpr uint64_t kCheck = 0x6d73747265737321ull;

std::atomic<void *> g_transfer[kTransfer];

size_t object_size(uint64_t r) {
    unsigned pick = static_cast<unsigned>((r & 0xffff) % 100);
    uint64_t s = r >> 32;
    if (pick < 75) return 16 + s % (1024 - 16 + 1);
    if (pick < 99) return 1024 + s % (10 * 1024 - 1024 + 1);
    return 16 * 1024 + s % (128 * 1024 - 16 * 1024 + 1);
}

void stamp(void *p, size_t size) {
    auto *w = static_cast<uint64_t *>(p);
    w[0] = size;
    w[1] = size ^ kCheck;
    auto *c = static_cast<volatile char *>(p);
    for (size_t off = 4096; off < size; off += 4096) c[off] = 1;
    if (size > 16) c[size - 1] = 1;  // not into the check word of a 16-byte object
}

// The object's size, or 0 when its check word does not match.
size_t size_of(const void *p) {
    const auto *w = static_cast<const uint64_t *>(p);
    return (w[0] ^ kCheck) == w[1] ? w[0] : 0;
}

template <class A>
void BM_MStress(benchmark::State &state) {
    const size_t nslots = g_config.short_mode ? 2000 : 8000;
    std::vector<void *> slots(nslots, nullptr);
    Rng rng(9000 + static_cast<uint64_t>(state.thread_index()));
    bool bad = false;
    WallMeter meter(state);
    auto it = state.begin();
    auto end = state.end();  // the start barrier
    meter.start();
    for (; it != end; ++it) {
        uint64_t r = rng.next();
        size_t i = Rng::below(r, nslots);
        void *p = slots[i];
        if (p == nullptr) {
            size_t size = object_size(rng.next());
            p = A::malloc(size);
            benchmark::DoNotOptimize(p);
            stamp(p, size);
            slots[i] = p;
            continue;
        }
        unsigned action = static_cast<unsigned>((r & 0xffff) % 100);
        if (action < 70) {
            size_t size = size_of(p);
            bad |= size == 0;
            if (action < 50 || size == 0 || size >= kMaxObject) {
                A::free(p);
                slots[i] = nullptr;
                continue;
            }
            size_t grown = size + size / 2 + 16;
            if (grown > kMaxObject) grown = kMaxObject;
            void *q = A::realloc(p, grown);
            benchmark::DoNotOptimize(q);
            bad |= size_of(q) != size;
            stamp(q, grown);
            slots[i] = q;
        } else {
            size_t j = Rng::below(rng.next(), kTransfer);
            // acq_rel: this thread's writes to p go with it (release), and the writes of the
            // thread that left the old object there come with that (acquire); pairs with the
            // same exchange in the other threads.
            slots[i] = g_transfer[j].exchange(p, std::memory_order_acq_rel);
        }
    }
    meter.stop(state, state.iterations());
    // stop() returns once every thread has left its loop: the transfer array is still.
    if (state.thread_index() == 0) {
        for (auto &slot : g_transfer) {
            void *q = slot.exchange(nullptr, std::memory_order_acquire);
            if (q != nullptr) A::free(q);
        }
    }
    for (void *q : slots) {
        if (q == nullptr) continue;
        bad |= size_of(q) == 0;
        A::free(q);
    }
    if (bad) state.SkipWithError("an object's check word was wrong (realloc or a transfer lost it)");
    state.SetItemsProcessed(state.iterations());
}

template <class A>
void register_with() {
    benchmark::RegisterBenchmark("BM_MStress", BM_MStress<A>)
        ->Threads(1)
        ->Threads(2)
        ->Threads(8)
        ->UseRealTime();
}

}  // namespace

void register_mstress() {
    if (g_config.pymt_api) {
        register_with<PymtApi>();
    } else {
        register_with<SysApi>();
    }
}

}  // namespace pb

// bench_common.h: what the workload files share: the run configuration, a per-thread PRNG,
// the skewed size distribution of the Python-like workloads, the wide one (8 B..16 KiB) of the
// workloads modelled on the public allocator benchmarks, the wall-clock and getrusage meter of
// the timed region, and the registration entry points that bench_main.cc calls once it knows
// the allocator.
#ifndef PYMT_BENCH_COMMON_H
#define PYMT_BENCH_COMMON_H

#include <benchmark/benchmark.h>
#include <sched.h>
#include <sys/resource.h>
#include <time.h>

#include <atomic>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "alloc_select.h"

namespace pb {

// The call floor (call_floor.c, a shared library of its own): a malloc that returns the same
// static 32-byte block every time and a free that does nothing, reached through the PLT as
// every column's allocator is. BM_CallFloor and BM_ChurnFloor run their workloads' loops
// around them: what those loops cost without any allocator work.
extern "C" {
void *pymtbench_floor_malloc(size_t n);
void pymtbench_floor_free(void *p);
}
struct FloorApi {
    static void *malloc(size_t n) { return pymtbench_floor_malloc(n); }
    static void free(void *p) { pymtbench_floor_free(p); }
};

struct Config {
    bool short_mode = false;  // fewer sizes and working sets (the default of ci/bench)
    bool pymt_api = false;    // the workloads call pymt (PymtApi) rather than malloc (SysApi)
};
extern Config g_config;

// xorshift64*: a few cycles, good enough to pick slots and sizes.
struct Rng {
    uint64_t s;
    explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull) {
        if (s == 0) s = 1;
    }
    uint64_t next() {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        return s * 0x2545F4914F6CDD1Dull;
    }
    // Uniform in [0, n) from the high bits (Lemire's multiply-shift, no division).
    static size_t below(uint64_t r, size_t n) {
        return static_cast<size_t>((static_cast<unsigned __int128>(r >> 32) * n) >> 32);
    }
};

// Skewed sizes as a Python heap sees them: half 16-32 bytes, most under 64, a tail to 512.
// 1024 entries, indexed by 10 bits of a random word; built once, identical in every process.
constexpr size_t kSizeTableLen = 1024;
extern uint16_t g_sizes[kSizeTableLen];
void init_size_table();
inline size_t skewed_size(uint64_t r) { return g_sizes[r & (kSizeTableLen - 1)]; }

// Wide sizes, 8..16384 bytes, skewed to small the way rpmalloc's benchmark (rptest) draws its
// "linear falloff" sizes: 8 + 16376 * u3 * |u1 + u2 - 1| with u1, u2, u3 uniform in [0, 1).
// The product of a uniform and a linearly falling variable: mean about 2.7 KiB, median about
// 1.8 KiB; one request in five is 512 bytes or below, one in four above 4 KiB. 4096 entries,
// indexed by 12 bits of a random word; built once by init_size_table, identical in every
// process.
constexpr size_t kWideSizeMin = 8;
constexpr size_t kWideSizeMax = 16384;
constexpr size_t kWideTableLen = 4096;
extern uint16_t g_wide_sizes[kWideTableLen];
inline size_t wide_size(uint64_t r) { return g_wide_sizes[(r >> 20) & (kWideTableLen - 1)]; }

// Write a block as a program that fills it would fault it in: its first word, one byte in
// every further 4 KiB page, its last byte (rptest does the same, to commit every page
// without measuring memset). size >= 8.
inline void touch_pages(void *p, size_t size, uint64_t tag) {
    auto *c = static_cast<volatile char *>(p);
    *static_cast<volatile uint64_t *>(p) = tag;
    for (size_t off = 4096; off < size; off += 4096) c[off] = 1;
    c[size - 1] = 1;
}

// Registration, one per workload file; each registers the SysApi or PymtApi instantiation.
void register_hotpair();
void register_churn();
void register_objects();
void register_prodcons();
void register_realloc();
void register_larson();
void register_rptest();
void register_alloctest();
void register_mstress();
void register_xmalloc();

// Modes outside google-benchmark (bench_memory.cc, bench_footprint.cc, bench_main.cc).
int print_env(const std::string &name);
int run_memory(const Selection &sel, size_t count, size_t size);
int run_pairs(const Selection &sel, long pairs);
int run_footprint(const Selection &sel, const std::vector<size_t> &counts, int repeat);
int run_footprint_one(const Selection &sel, size_t nthreads, bool work);

// Wall-clock throughput of a threaded run, reported as the counter wall_items_per_second.
// google-benchmark divides the items of all threads by the mean of the threads' own timed
// intervals; with more threads than cores a thread that the scheduler lets finish early
// shortens that mean and the rate comes out higher than the machine delivered. WallMeter
// divides by the time from the start barrier to the end of the last thread instead.
// Use (the loop written out so the start is taken just after google-benchmark's barrier):
//   WallMeter meter(state);                 // before the loop; thread 0 resets the totals
//   auto it = state.begin();
//   auto end = state.end();                 // the start barrier; the timers start here
//   meter.start();
//   for (; it != end; ++it) { ... }
//   meter.stop(state, items_of_this_thread);
// One benchmark runs at a time and its threads are joined before the next, so one set of
// totals serves every benchmark.
//
// The meter also reports what the kernel did for the process during the timed region, from
// getrusage(RUSAGE_SELF) (every thread of the process, exited ones included), taken by thread
// 0 just after the start barrier and again once every thread has stopped: the counters sys_ms
// (system CPU time), user_ms, minflt (minor page faults: first touches of fresh pages, pages
// mapped again after the allocator gave them back) and wall_items (the items the rates count,
// so that report.py can put both per million items). The other threads wait in stop() until
// thread 0 has read the end, so that their clean-up (freeing working sets, which may unmap
// memory) stays out of the figures. The kernel charges CPU time to user and system in ticks
// scaled to the exact runtime, so sys_ms of a 0.1 s measurement resolves to a few ms.
struct WallTotals {
    alignas(64) std::atomic<int64_t> start_ns{0};
    std::atomic<int64_t> end_ns{0};
    std::atomic<int64_t> items{0};
    std::atomic<int> done{0};
    std::atomic<int> sampled{0};  // written by thread 0 once it has read the end's rusage
    rusage ru_start{};            // written and read by thread 0 only
};
inline WallTotals g_wall;

class WallMeter {
  public:
    explicit WallMeter(benchmark::State &state) : thread_index_(state.thread_index()) {
        // Other threads touch the totals only after the start barrier, which this precedes.
        if (state.thread_index() == 0) {
            g_wall.start_ns.store(INT64_MAX, std::memory_order_relaxed);
            g_wall.end_ns.store(0, std::memory_order_relaxed);
            g_wall.items.store(0, std::memory_order_relaxed);
            g_wall.done.store(0, std::memory_order_relaxed);
            g_wall.sampled.store(0, std::memory_order_relaxed);
        }
    }
    void start() {
        if (thread_index_ == 0) getrusage(RUSAGE_SELF, &g_wall.ru_start);
        int64_t now = now_ns();
        int64_t cur = g_wall.start_ns.load(std::memory_order_relaxed);
        while (now < cur && !g_wall.start_ns.compare_exchange_weak(cur, now, std::memory_order_relaxed)) {
        }
    }
    void stop(benchmark::State &state, int64_t items) {
        int64_t now = now_ns();
        int64_t cur = g_wall.end_ns.load(std::memory_order_relaxed);
        while (now > cur && !g_wall.end_ns.compare_exchange_weak(cur, now, std::memory_order_relaxed)) {
        }
        g_wall.items.fetch_add(items, std::memory_order_relaxed);
        // Pairs with the acquire load below: thread 0 sees every thread's start, end, items.
        g_wall.done.fetch_add(1, std::memory_order_release);
        if (state.thread_index() != 0) {
            // Pairs with the release store of sampled below.
            while (g_wall.sampled.load(std::memory_order_acquire) == 0) sched_yield();
            return;
        }
        while (g_wall.done.load(std::memory_order_acquire) < state.threads()) sched_yield();
        rusage ru_end;
        getrusage(RUSAGE_SELF, &ru_end);
        g_wall.sampled.store(1, std::memory_order_release);
        double secs = static_cast<double>(g_wall.end_ns.load(std::memory_order_relaxed) -
                                          g_wall.start_ns.load(std::memory_order_relaxed)) * 1e-9;
        double total = static_cast<double>(g_wall.items.load(std::memory_order_relaxed));
        // Counters are summed over threads; only thread 0 sets these.
        if (secs > 0) state.counters["wall_items_per_second"] = total / secs;
        const rusage &a = g_wall.ru_start;
        state.counters["sys_ms"] = ms_between(a.ru_stime, ru_end.ru_stime);
        state.counters["user_ms"] = ms_between(a.ru_utime, ru_end.ru_utime);
        state.counters["minflt"] = static_cast<double>(ru_end.ru_minflt - a.ru_minflt);
        state.counters["wall_items"] = total;
    }

  private:
    int thread_index_;
    static double ms_between(const timeval &a, const timeval &b) {
        return static_cast<double>(b.tv_sec - a.tv_sec) * 1e3 +
               static_cast<double>(b.tv_usec - a.tv_usec) * 1e-3;
    }
    static int64_t now_ns() {
        timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
    }
};

// Spin politely: pause for a while, then give the core away (2 cores, up to 8 threads).
inline void spin_wait(unsigned *spins) {
    if (++*spins < 64) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    } else {
        *spins = 0;
        sched_yield();
    }
}
}  // namespace pb

#endif  // PYMT_BENCH_COMMON_H

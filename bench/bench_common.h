// bench_common.h: what the workload files share: the run configuration, a per-thread PRNG,
// the skewed size distribution of the Python-like workloads, and the registration entry points
// that bench_main.cc calls once it knows the allocator.
#ifndef PYMT_BENCH_COMMON_H
#define PYMT_BENCH_COMMON_H

#include <benchmark/benchmark.h>
#include <sched.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "alloc_select.h"

namespace pb {

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

// Registration, one per workload file; each registers the SysApi or PymtApi instantiation.
void register_hotpair();
void register_churn();
void register_objects();
void register_prodcons();
void register_realloc();
void register_larson();

// Modes outside google-benchmark (bench_memory.cc, bench_main.cc).
int print_env(const std::string &name);
int run_memory(const Selection &sel, size_t count, size_t size);
int run_pairs(const Selection &sel, long pairs);

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

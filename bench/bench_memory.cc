// bench_memory.cc: the modes of the binary that google-benchmark is not made for.
//
// --memory: memory cost of many live small blocks. Allocates COUNT blocks of SIZE bytes
// (default 10 million of 32 bytes) and writes the first word of each, as an object header
// would be written; then frees them all. Prints one JSON object with the resident set size
// (from /proc/self/statm) before, at the peak, after the frees, and after the allocator's own
// trim call (pymt_trim, malloc_trim, mi_collect, jemalloc's purge, tcmalloc's release; see
// trim_memory in bench_main.cc), so both "with" and "without" trimming are reported.
// pymt-preload has none: libpymt-malloc.so exports only the malloc names, not pymt_trim, so
// its "after trim" equals "after free" and its trim_call is empty. The
// pointer table lives in its own mmap, touched before the baseline, so it is not counted.
// bytes_per_object = (peak - baseline) / COUNT; overhead_per_object subtracts SIZE.
//
// --pairs=N: N malloc+free pairs of 32 bytes in a function of its own, for callgrind.sh,
// which counts the instructions of pymtbench_pairs_* for N and 2N and takes the difference.
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>

#include "bench_common.h"

extern "C" __attribute__((noinline)) void pymtbench_pairs_pymt(long n) {
    for (long i = 0; i < n; i++) {
        void *p = pymt_object_malloc(32);
        benchmark::DoNotOptimize(p);
        pymt_object_free(p);
    }
}

extern "C" __attribute__((noinline)) void pymtbench_pairs_sys(long n) {
    for (long i = 0; i < n; i++) {
        void *p = malloc(32);
        benchmark::DoNotOptimize(p);
        free(p);
    }
}

namespace pb {
namespace {

size_t rss_bytes() {
    long pages_total = 0, pages_resident = 0;
    FILE *f = std::fopen("/proc/self/statm", "r");
    if (f == nullptr) return 0;
    if (std::fscanf(f, "%ld %ld", &pages_total, &pages_resident) != 2) pages_resident = 0;
    std::fclose(f);
    return static_cast<size_t>(pages_resident) * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

size_t hwm_bytes() {
    FILE *f = std::fopen("/proc/self/status", "r");
    if (f == nullptr) return 0;
    char line[256];
    size_t kib = 0;
    while (std::fgets(line, sizeof line, f) != nullptr) {
        if (std::sscanf(line, "VmHWM: %zu kB", &kib) == 1) break;
    }
    std::fclose(f);
    return kib * 1024;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

template <class A>
int measure(const Selection &sel, size_t count, size_t size) {
    if (size < sizeof(uint64_t)) size = sizeof(uint64_t);
    size_t table_bytes = count * sizeof(void *);
    void *mem = mmap(nullptr, table_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                     -1, 0);
    if (mem == MAP_FAILED) {
        std::perror("mmap");
        return 1;
    }
    void **table = static_cast<void **>(mem);
    std::memset(table, 0, table_bytes);
    // One block first, so allocator start-up is in the baseline and not in the per-object cost.
    void *first = A::malloc(size);
    benchmark::DoNotOptimize(first);
    A::free(first);

    size_t baseline = rss_bytes();
    auto t0 = std::chrono::steady_clock::now();
    for (size_t i = 0; i < count; i++) {
        void *p = A::malloc(size);
        benchmark::DoNotOptimize(p);
        if (p == nullptr) {
            std::fprintf(stderr, "pymt_bench: allocation %zu of %zu failed\n", i, count);
            return 1;
        }
        *static_cast<uint64_t *>(p) = i;
        table[i] = p;
    }
    double alloc_s = seconds_since(t0);
    size_t peak = rss_bytes();
    t0 = std::chrono::steady_clock::now();
    for (size_t i = 0; i < count; i++) A::free(table[i]);
    double free_s = seconds_since(t0);
    size_t after_free = rss_bytes();
    std::string trim = trim_memory(sel);
    size_t after_trim = rss_bytes();
    size_t hwm = hwm_bytes();
    munmap(mem, table_bytes);

    double per_object = count ? static_cast<double>(peak - baseline) / count : 0.0;
    std::printf(
        "{\"allocator\": \"%s\", \"malloc_provider\": \"%s\", \"count\": %zu, \"size\": %zu,\n"
        " \"rss_baseline\": %zu, \"rss_peak\": %zu, \"rss_after_free\": %zu,"
        " \"rss_after_trim\": %zu, \"vm_hwm\": %zu,\n"
        " \"trim_call\": \"%s\", \"bytes_per_object\": %.3f, \"overhead_per_object\": %.3f,\n"
        " \"alloc_seconds\": %.4f, \"free_seconds\": %.4f}\n",
        sel.name.c_str(), sel.provider.c_str(), count, size, baseline, peak, after_free,
        after_trim, hwm, trim.c_str(), per_object, per_object - static_cast<double>(size),
        alloc_s, free_s);
    return 0;
}

}  // namespace

int run_memory(const Selection &sel, size_t count, size_t size) {
    return sel.pymt_api() ? measure<PymtApi>(sel, count, size) : measure<SysApi>(sel, count, size);
}

int run_pairs(const Selection &sel, long pairs) {
    if (sel.pymt_api()) {
        pymtbench_pairs_pymt(pairs);
    } else {
        pymtbench_pairs_sys(pairs);
    }
    return 0;
}

}  // namespace pb

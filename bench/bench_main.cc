// bench_main.cc: the pymt benchmark binary. One allocator per process (see alloc_select.h).
//
//   pymt_bench --alloc=NAME [--short] [google-benchmark flags]   the throughput workloads
//   pymt_bench --alloc=NAME --memory [--memory-count=N]          RSS per live object, as JSON
//   pymt_bench --alloc=NAME --footprint[=N,N,...]                RSS per idle thread and after
//              [--footprint-repeat=K]                            the threads exit, as JSON
//   pymt_bench --alloc=NAME --pairs=N                            N hot pairs of 32 bytes (for
//                                                                callgrind.sh), nothing else
//   pymt_bench --alloc=NAME --print-env                          the environment NAME needs
//   pymt_bench --list-allocs                                     the allocator names
//
// Workloads (bench_<workload>.cc): BM_HotPair, BM_HotPairKeep, BM_Churn, BM_Objects,
// BM_ProdCons, BM_ReallocString, BM_ReallocList, BM_Larson, BM_LarsonSuite, BM_RpTest,
// BM_AllocTest, BM_MStress, BM_XMalloc. Every result is items_per_second, with the kernel's
// share (sys_ms, minflt) beside it; ci/bench runs each allocator's process and divides by the
// glibc column of the same run.
#include <dlfcn.h>
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "bench_common.h"

#ifndef PYMT_BENCH_MIMALLOC_SO
#define PYMT_BENCH_MIMALLOC_SO ""
#endif
#ifndef PYMT_BENCH_JEMALLOC_SO
#define PYMT_BENCH_JEMALLOC_SO ""
#endif
#ifndef PYMT_BENCH_TCMALLOC_SO
#define PYMT_BENCH_TCMALLOC_SO ""
#endif
#ifndef PYMT_BENCH_PYMT_PRELOAD_SO
#define PYMT_BENCH_PYMT_PRELOAD_SO ""
#endif

namespace pb {

Config g_config;
uint16_t g_sizes[kSizeTableLen];
uint16_t g_wide_sizes[kWideTableLen];

void init_size_table() {
    // Fixed seed: every process and every run draws from the same table.
    Rng rng(20240601);
    for (size_t i = 0; i < kSizeTableLen; i++) {
        uint64_t r = rng.next();
        unsigned bucket = static_cast<unsigned>(Rng::below(r, 100));
        uint64_t r2 = rng.next();
        size_t size;
        if (bucket < 50) {
            size = 8 + Rng::below(r2, 25);  // 8..32: ints, floats, small tuples
        } else if (bucket < 80) {
            size = 33 + Rng::below(r2, 32);  // 33..64: short strings, frames' pieces
        } else if (bucket < 94) {
            size = 65 + Rng::below(r2, 128);  // 65..192: dicts' small tables, lists
        } else {
            size = 193 + Rng::below(r2, 320);  // 193..512: the tail
        }
        g_sizes[i] = static_cast<uint16_t>(size);
    }
    // The wide table (see bench_common.h), from its own fixed seed.
    Rng wide(20261125);
    auto unit = [&wide] { return static_cast<double>(wide.next() >> 11) * 0x1p-53; };
    for (size_t i = 0; i < kWideTableLen; i++) {
        double u1 = unit(), u2 = unit(), u3 = unit();
        double falloff = u1 + u2 - 1.0;
        if (falloff < 0) falloff = -falloff;
        double span = static_cast<double>(kWideSizeMax - kWideSizeMin);
        size_t size = kWideSizeMin + static_cast<size_t>(span * u3 * falloff);
        g_wide_sizes[i] = static_cast<uint16_t>(size < kWideSizeMax ? size : kWideSizeMax);
    }
}

namespace {

const char *const kNames[] = {"pymt",         "pymt-notcache", "pymt-debug", "pymt-harden",
                              "pymt-preload", "glibc",         "mimalloc",   "jemalloc",
                              "tcmalloc",     nullptr};

const char *preload_for(Kind k) {
    switch (k) {
    case Kind::Mimalloc: return PYMT_BENCH_MIMALLOC_SO;
    case Kind::Jemalloc: return PYMT_BENCH_JEMALLOC_SO;
    case Kind::Tcmalloc: return PYMT_BENCH_TCMALLOC_SO;
    case Kind::PymtPreload: return PYMT_BENCH_PYMT_PRELOAD_SO;
    default: return nullptr;
    }
}

std::string base_name(const char *path) {
    if (path == nullptr) return "";
    const char *slash = std::strrchr(path, '/');
    return slash ? slash + 1 : path;
}

// File name of the object that serves malloc in this process.
std::string malloc_provider() {
    void *sym = dlsym(RTLD_DEFAULT, "malloc");
    Dl_info info;
    if (sym == nullptr || dladdr(sym, &info) == 0) return "";
    return base_name(info.dli_fname);
}

// Is the process set up as the allocator wants? On false, *why says what is wrong.
bool check_kind(Kind k, const std::string &provider, std::string *why) {
    auto provider_has = [&](const char *word) {
        if (provider.find(word) != std::string::npos) return true;
        *why = "malloc is served by '" + provider + "', expected " + word;
        return false;
    };
    switch (k) {
    case Kind::Pymt:
    case Kind::PymtNoTcache:
    case Kind::PymtDebug:
    case Kind::PymtHarden: {
        if (!provider_has("libc.so")) return false;
        pymt_mode want = k == Kind::PymtDebug ? PYMT_MODE_PYMALLOC_DEBUG : PYMT_MODE_PYMALLOC;
        if (pymt_get_mode() != want) {
            *why = "pymt reports mode " + std::to_string(static_cast<int>(pymt_get_mode())) +
                   ", expected " + std::to_string(static_cast<int>(want));
            return false;
        }
        if (k == Kind::PymtNoTcache && pymt_tcache_enabled()) {
            *why = "pymt still has its thread caches on with PYMT_TCACHE=0";
            return false;
        }
        if ((k == Kind::Pymt || k == Kind::PymtHarden) && !pymt_tcache_enabled()) {
            *why = "pymt has its thread caches off";
            return false;
        }
        if ((k == Kind::PymtHarden) != (pymt_hardened_enabled() != 0)) {
            *why = k == Kind::PymtHarden ? "pymt is not in the hardened mode with PYMT_HARDEN=1"
                                         : "pymt is in the hardened mode";
            return false;
        }
        return true;
    }
    case Kind::PymtPreload: return provider_has("libpymt-malloc.so");
    case Kind::Glibc: return provider_has("libc.so");
    case Kind::Mimalloc: return provider_has("mimalloc");
    case Kind::Jemalloc: return provider_has("jemalloc");
    case Kind::Tcmalloc: return provider_has("tcmalloc");
    }
    return false;
}

[[noreturn]] void unavailable(const std::string &name, const std::string &why) {
    std::fprintf(stderr, "pymt_bench: allocator %s unavailable: %s\n", name.c_str(), why.c_str());
    std::exit(3);
}

void usage() {
    std::fprintf(stderr,
                 "usage: pymt_bench --alloc=NAME [--short] [benchmark flags]\n"
                 "       pymt_bench --alloc=NAME --memory [--memory-count=N] [--memory-size=N]\n"
                 "       pymt_bench --alloc=NAME --footprint[=THREADS,...] [--footprint-repeat=K]\n"
                 "       pymt_bench --alloc=NAME --pairs=N\n"
                 "       pymt_bench --alloc=NAME --print-env\n"
                 "       pymt_bench --list-allocs\n"
                 "NAME: pymt pymt-notcache pymt-debug pymt-harden pymt-preload glibc mimalloc "
                 "jemalloc tcmalloc\n");
}

}  // namespace

const char *const *allocator_names() { return kNames; }

bool parse_kind(const std::string &name, Kind *out) {
    static const Kind kinds[] = {Kind::Pymt,        Kind::PymtNoTcache, Kind::PymtDebug,
                                 Kind::PymtHarden,  Kind::PymtPreload,  Kind::Glibc,
                                 Kind::Mimalloc,    Kind::Jemalloc,     Kind::Tcmalloc};
    for (size_t i = 0; kNames[i] != nullptr; i++) {
        if (name == kNames[i]) {
            *out = kinds[i];
            return true;
        }
    }
    return false;
}

// The environment select_allocator sets for an allocator, as KEY=VALUE lines (for tools
// that cannot follow the re-exec, such as valgrind without --trace-children).
int print_env(const std::string &name) {
    Kind k;
    if (!parse_kind(name, &k)) {
        usage();
        return 2;
    }
    const char *preload = preload_for(k);
    if (preload != nullptr && preload[0] == '\0') unavailable(name, "library not found at build time");
    if (preload != nullptr) std::printf("LD_PRELOAD=%s\n", preload);
    if (k == Kind::PymtNoTcache) std::printf("PYMT_TCACHE=0\n");
    if (k == Kind::PymtDebug) std::printf("PYMT_MALLOC=debug\n");
    if (k == Kind::Pymt || k == Kind::PymtNoTcache || k == Kind::PymtDebug)
        std::printf("PYMT_HARDEN=0\n");
    if (k == Kind::PymtHarden) std::printf("PYMT_HARDEN=1\n");
    return 0;
}

Selection select_allocator(const std::string &name, char **argv) {
    Selection sel;
    if (!parse_kind(name, &sel.kind)) {
        usage();
        std::exit(2);
    }
    sel.name = name;
    const char *preload = preload_for(sel.kind);
    if (preload != nullptr && preload[0] == '\0') unavailable(name, "library not found at build time");

    std::string provider = malloc_provider();
    std::string why;
    if (check_kind(sel.kind, provider, &why)) {
        sel.provider = provider;
        return sel;
    }
    if (std::getenv("PYMT_BENCH_REEXEC") != nullptr) unavailable(name, why);

    // Set the environment the allocator needs and start again, once.
    setenv("PYMT_BENCH_REEXEC", "1", 1);
    if (preload != nullptr) {
        setenv("LD_PRELOAD", preload, 1);
    } else {
        unsetenv("LD_PRELOAD");
    }
    unsetenv("PYMT_MALLOC");
    unsetenv("PYMT_TCACHE");
    if (sel.kind == Kind::PymtNoTcache) setenv("PYMT_TCACHE", "0", 1);
    if (sel.kind == Kind::PymtDebug) setenv("PYMT_MALLOC", "debug", 1);
    // only pymt-harden is hardened, whatever the build's default (CMake option PYMT_HARDEN)
    setenv("PYMT_HARDEN", sel.kind == Kind::PymtHarden ? "1" : "0", 1);
    std::fflush(nullptr);
    execv("/proc/self/exe", argv);
    unavailable(name, std::string("re-exec failed: ") + std::strerror(errno));
}

std::string trim_memory(const Selection &sel) {
    switch (sel.kind) {
    case Kind::Pymt:
    case Kind::PymtNoTcache:
    case Kind::PymtDebug:
    case Kind::PymtHarden: pymt_trim(); return "pymt_trim()";
    case Kind::PymtPreload: {
        // The preload's own malloc_trim (pymt_trim, then glibc's), looked up in the preload
        // itself, which exports it (src/override.map); pymt_trim stays hidden there, and a
        // plain dlsym(RTLD_DEFAULT, "pymt_trim") would find the libpymt.so this binary links,
        // a different pymt instance that holds none of the workload's memory.
        void *self = dlopen(PYMT_BENCH_PYMT_PRELOAD_SO, RTLD_NOW | RTLD_NOLOAD);
        if (self == nullptr) return "";
        auto trim = reinterpret_cast<int (*)(size_t)>(dlsym(self, "malloc_trim"));
        Dl_info info;
        bool own = trim != nullptr && dladdr(reinterpret_cast<void *>(trim), &info) != 0 &&
                   base_name(info.dli_fname) == sel.provider;
        if (own) trim(0);
        dlclose(self);
        return own ? "malloc_trim(0) of the preload" : "";
    }
    case Kind::Glibc: malloc_trim(0); return "malloc_trim(0)";
    case Kind::Mimalloc: {
        auto collect = reinterpret_cast<void (*)(bool)>(dlsym(RTLD_DEFAULT, "mi_collect"));
        if (collect == nullptr) return "";
        collect(true);
        return "mi_collect(true)";
    }
    case Kind::Jemalloc: {
        using mallctl_fn = int (*)(const char *, void *, size_t *, void *, size_t);
        auto mallctl = reinterpret_cast<mallctl_fn>(dlsym(RTLD_DEFAULT, "mallctl"));
        if (mallctl == nullptr) return "";
        mallctl("thread.tcache.flush", nullptr, nullptr, nullptr, 0);
        // 4096 is MALLCTL_ARENAS_ALL in jemalloc 5.
        mallctl("arena.4096.purge", nullptr, nullptr, nullptr, 0);
        return "mallctl(thread.tcache.flush; arena.<all>.purge)";
    }
    case Kind::Tcmalloc: {
        auto release = reinterpret_cast<void (*)()>(
            dlsym(RTLD_DEFAULT, "MallocExtension_ReleaseFreeMemory"));
        if (release == nullptr) return "";
        release();
        return "MallocExtension_ReleaseFreeMemory()";
    }
    }
    return "";
}

}  // namespace pb

int main(int argc, char **argv) {
    std::string alloc;
    bool memory = false;
    long pairs = -1;
    size_t mem_count = 10000000;
    size_t mem_size = 32;
    bool print_env_only = false;
    std::vector<size_t> footprint;  // thread counts of --footprint
    size_t footprint_one = 0;       // --footprint-one=N: one measurement (a child of --footprint)
    bool footprint_idle = false;
    int footprint_repeat = 1;
    std::vector<char *> rest{argv[0]};
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        if (a.rfind("--alloc=", 0) == 0) {
            alloc = a.substr(8);
        } else if (a == "--short") {
            pb::g_config.short_mode = true;
        } else if (a == "--memory") {
            memory = true;
        } else if (a.rfind("--memory-count=", 0) == 0) {
            mem_count = std::stoul(a.substr(15));
        } else if (a.rfind("--memory-size=", 0) == 0) {
            mem_size = std::stoul(a.substr(14));
        } else if (a == "--footprint" || a.rfind("--footprint=", 0) == 0) {
            std::string list = a.size() > 12 ? a.substr(12) : "64,512";
            footprint.clear();
            for (size_t pos = 0; pos < list.size();) {
                size_t comma = list.find(',', pos);
                if (comma == std::string::npos) comma = list.size();
                footprint.push_back(std::stoul(list.substr(pos, comma - pos)));
                pos = comma + 1;
            }
        } else if (a.rfind("--footprint-one=", 0) == 0) {
            footprint_one = std::stoul(a.substr(16));
        } else if (a.rfind("--footprint-repeat=", 0) == 0) {
            footprint_repeat = std::max(1, std::stoi(a.substr(19)));
        } else if (a == "--footprint-idle") {
            footprint_idle = true;
        } else if (a.rfind("--pairs=", 0) == 0) {
            pairs = std::stol(a.substr(8));
        } else if (a == "--print-env") {
            print_env_only = true;
        } else if (a == "--list-allocs") {
            for (const char *const *n = pb::allocator_names(); *n != nullptr; n++)
                std::printf("%s\n", *n);
            return 0;
        } else if (a == "--help" || a == "-h") {
            pb::usage();
            return 0;
        } else {
            rest.push_back(argv[i]);
        }
    }
    if (alloc.empty()) {
        pb::usage();
        return 2;
    }
    if (print_env_only) return pb::print_env(alloc);
    pb::Selection sel = pb::select_allocator(alloc, argv);
    pb::init_size_table();
    pb::g_config.pymt_api = sel.pymt_api();
    if (memory) return pb::run_memory(sel, mem_count, mem_size);
    if (footprint_one > 0) return pb::run_footprint_one(sel, footprint_one, !footprint_idle);
    if (!footprint.empty()) return pb::run_footprint(sel, footprint, footprint_repeat);
    if (pairs >= 0) return pb::run_pairs(sel, pairs);

    int rargc = static_cast<int>(rest.size());
    rest.push_back(nullptr);
    benchmark::Initialize(&rargc, rest.data());
    if (benchmark::ReportUnrecognizedArguments(rargc, rest.data())) return 2;
    benchmark::AddCustomContext("allocator", sel.name);
    benchmark::AddCustomContext("malloc_provider", sel.provider);
    benchmark::AddCustomContext("bench_mode", pb::g_config.short_mode ? "short" : "full");
    if (sel.pymt_api()) {
        benchmark::AddCustomContext("pymt_mode", std::to_string(static_cast<int>(pymt_get_mode())));
        benchmark::AddCustomContext("pymt_tcache", std::to_string(pymt_tcache_enabled()));
    }
    pb::register_hotpair();
    pb::register_churn();
    pb::register_objects();
    pb::register_prodcons();
    pb::register_realloc();
    pb::register_larson();
    pb::register_rptest();
    pb::register_alloctest();
    pb::register_mstress();
    pb::register_xmalloc();
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}

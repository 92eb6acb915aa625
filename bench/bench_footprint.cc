// bench_footprint.cc: what a pool of mostly idle threads costs in resident memory, and when
// the memory of threads that have exited comes back.
//
// What it models: an embedder's thread pool. N threads each allocate and free a spread of
// small classes, then block, idle, until the program releases them; then they all exit.
// One thread's work: for every class of 16..512 bytes in steps of 16 (32 classes), allocate
// 600 blocks of that size, write the first word of each, then free the 600 in the order they
// were allocated, and go on to the next class. The threads wait at a start gate until all N
// exist and then run free, as a pool's threads do when a burst of tasks arrives. How much of
// their work overlaps is up to the scheduler, and with it how far different threads' blocks
// share pages: a figure that depends on that (RSS after exit, for an allocator whose pages
// stay resident while any block in them is live or cached) varies from process to process,
// so ci/bench runs the workload process several times. docs/benchmarks.md says why the
// threads neither take turns nor work in lockstep.
//
// One measurement is one fresh process (--footprint-one=N): the resident set (RSS)
//   start        before the first thread, after one malloc/free on the main thread (so the
//                allocator's start-up is not counted) and after the pointer tables are touched
//   idle         all N threads done with their work and blocked on a condition variable
//   after_join   every thread released and joined; the main thread has made no allocator call
//                since start (the C library's own thread bookkeeping may have, in pthread_join)
//   after_round  then one round on the main thread: 1000 times malloc(64), write, free
//   after_trim   then the allocator's own trim call (trim_memory in bench_main.cc), if any
// With --footprint-idle the threads do no allocator work at all, only the gates: the same
// process shape without the workload, so (idle - start) / N of that run is what a thread
// costs here without the allocator (its stack, the C library's thread data), and the
// difference between the two runs is the allocator's share.
//
// --footprint[=N,N,...] (default 64,512) runs, per N, the idle-only process once and the
// workload process --footprint-repeat=K times (default 1; the same binary, started with the
// environment this one was selected with), and prints one JSON object that holds them all:
// "runs", one per N, each with "idle" (an object) and "work" (a list of K objects). An N the
// machine cannot give (RLIMIT_NPROC, kernel.threads-max, MemAvailable at 2 MiB per thread) is
// reported as skipped without starting it; a thread that cannot be created or an allocation
// that fails makes that process report an error instead of figures.
//
// RSS is read from /proc/self/smaps_rollup, which walks the page tables and is exact; statm
// reads counters that the kernel caches per CPU or per thread, which lag. The file is read
// with open/read into a stack buffer, so the measurement itself never calls malloc (stdio
// would, through the allocator being measured).
// Each thread's pointer table lives in one mmap touched before "start", so it is not counted;
// what a thread adds is its stack, the C library's per-thread data and the allocator's.
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bench_common.h"

extern char **environ;

namespace pb {
namespace {

constexpr size_t kBlocksPerClass = 600;
constexpr size_t kSizeMin = 16;
constexpr size_t kSizeMax = 512;
constexpr size_t kSizeStep = 16;
constexpr int kRoundOps = 1000;
constexpr size_t kRoundSize = 64;
// Room asked of the machine per thread before starting N of them: more than twice what any
// allocator keeps per thread in this workload (under 1 MiB).
constexpr size_t kBytesPerThreadNeeded = 2u << 20;

// A number from a "Key: value kB" line of a /proc file, in bytes; 0 when absent.
size_t proc_kib_field(const char *path, const char *key) {
    char buf[4096];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return 0;
    buf[n] = '\0';
    size_t klen = std::strlen(key);
    for (char *line = buf; line != nullptr && *line != '\0';) {
        if (std::strncmp(line, key, klen) == 0 && line[klen] == ':') {
            return static_cast<size_t>(std::strtoull(line + klen + 1, nullptr, 10)) * 1024;
        }
        line = std::strchr(line, '\n');
        if (line != nullptr) line++;
    }
    return 0;
}

const char *g_rss_source = "smaps_rollup";

size_t rss_now() {
    size_t rss = proc_kib_field("/proc/self/smaps_rollup", "Rss");
    if (rss != 0) return rss;
    // Kernels before 4.14 have no smaps_rollup: statm's resident pages instead.
    g_rss_source = "statm";
    char buf[256];
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return 0;
    buf[n] = '\0';
    char *end;
    std::strtoull(buf, &end, 10);
    return static_cast<size_t>(std::strtoull(end, nullptr, 10)) *
           static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

// The gates every thread passes: start (all created), then idle until released. Neither
// calls malloc (glibc's mutexes and condition variables are futexes on these words).
struct Gate {
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t to_workers = PTHREAD_COND_INITIALIZER;
    pthread_cond_t to_main = PTHREAD_COND_INITIALIZER;
    bool go = false;         // set by main once every thread exists
    bool release = false;    // set by main after measuring the idle threads
    size_t done = 0;         // threads through their work, now idle
    bool failed = false;     // an allocation returned NULL
};

struct Worker {
    Gate *gate;
    void **table;  // kBlocksPerClass slots in the shared mmap
    bool work;
};

// Returns false when an allocation failed.
template <class A>
bool thread_work(void **table) {
    for (size_t size = kSizeMin; size <= kSizeMax; size += kSizeStep) {
        for (size_t i = 0; i < kBlocksPerClass; i++) {
            void *p = A::malloc(size);
            benchmark::DoNotOptimize(p);
            if (p == nullptr) {
                for (size_t j = 0; j < i; j++) A::free(table[j]);
                return false;
            }
            *static_cast<uint64_t *>(p) = i;
            table[i] = p;
        }
        for (size_t i = 0; i < kBlocksPerClass; i++) A::free(table[i]);
    }
    return true;
}

template <class A>
void *thread_main(void *arg) {
    Worker *w = static_cast<Worker *>(arg);
    Gate *g = w->gate;
    pthread_mutex_lock(&g->mu);
    while (!g->go) pthread_cond_wait(&g->to_workers, &g->mu);
    pthread_mutex_unlock(&g->mu);

    bool ok = !w->work || thread_work<A>(w->table);

    pthread_mutex_lock(&g->mu);
    if (!ok) g->failed = true;
    g->done++;
    pthread_cond_signal(&g->to_main);
    while (!g->release) pthread_cond_wait(&g->to_workers, &g->mu);
    pthread_mutex_unlock(&g->mu);
    return nullptr;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

template <class A>
int measure_one(const Selection &sel, size_t nthreads, bool work) {
    size_t table_bytes = nthreads * kBlocksPerClass * sizeof(void *);
    void *mem = mmap(nullptr, table_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                     -1, 0);
    if (mem == MAP_FAILED) {
        std::perror("mmap");
        return 1;
    }
    std::memset(mem, 0, table_bytes);
    void **tables = static_cast<void **>(mem);
    // The bookkeeping of the threads, from mmap too: nothing of the harness on the heap.
    size_t book_bytes = nthreads * (sizeof(pthread_t) + sizeof(Worker));
    void *book = mmap(nullptr, book_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                      -1, 0);
    if (book == MAP_FAILED) {
        std::perror("mmap");
        return 1;
    }
    std::memset(book, 0, book_bytes);
    pthread_t *tids = static_cast<pthread_t *>(book);
    Worker *workers = reinterpret_cast<Worker *>(tids + nthreads);
    Gate gate;

    void *first = A::malloc(kRoundSize);
    benchmark::DoNotOptimize(first);
    A::free(first);
    size_t stack_bytes = 0;
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) == 0) {
        pthread_attr_getstacksize(&attr, &stack_bytes);
        pthread_attr_destroy(&attr);
    }

    size_t rss_start = rss_now();
    size_t started = 0;
    int create_err = 0;
    for (; started < nthreads; started++) {
        workers[started] = Worker{&gate, tables + started * kBlocksPerClass, work};
        create_err = pthread_create(&tids[started], nullptr, thread_main<A>, &workers[started]);
        if (create_err != 0) break;
    }
    auto t0 = std::chrono::steady_clock::now();
    pthread_mutex_lock(&gate.mu);
    gate.go = true;
    pthread_cond_broadcast(&gate.to_workers);
    while (gate.done < started) pthread_cond_wait(&gate.to_main, &gate.mu);
    pthread_mutex_unlock(&gate.mu);
    double work_s = seconds_since(t0);
    size_t rss_idle = rss_now();

    pthread_mutex_lock(&gate.mu);
    gate.release = true;
    pthread_cond_broadcast(&gate.to_workers);
    pthread_mutex_unlock(&gate.mu);
    for (size_t i = 0; i < started; i++) pthread_join(tids[i], nullptr);
    size_t rss_after_join = rss_now();

    for (int i = 0; i < kRoundOps; i++) {
        void *p = A::malloc(kRoundSize);
        benchmark::DoNotOptimize(p);
        if (p != nullptr) *static_cast<uint64_t *>(p) = static_cast<uint64_t>(i);
        A::free(p);
    }
    size_t rss_after_round = rss_now();
    std::string trim = trim_memory(sel);
    size_t rss_after_trim = rss_now();
    munmap(mem, table_bytes);
    munmap(book, book_bytes);

    std::string error;
    if (create_err != 0) {
        error = "pthread_create failed after " + std::to_string(started) + " threads: " +
                std::strerror(create_err);
    } else if (gate.failed) {
        error = "an allocation failed";
    }
    std::printf(
        "{\"threads\": %zu, \"started\": %zu, \"work\": %s, \"stack_bytes\": %zu,"
        " \"rss_source\": \"%s\",\n"
        "  \"rss_start\": %zu, \"rss_idle\": %zu, \"rss_after_join\": %zu,"
        " \"rss_after_round\": %zu, \"rss_after_trim\": %zu,\n"
        "  \"trim_call\": \"%s\", \"work_seconds\": %.4f%s%s%s}",
        nthreads, started, work ? "true" : "false", stack_bytes, g_rss_source, rss_start,
        rss_idle, rss_after_join, rss_after_round, rss_after_trim, trim.c_str(), work_s,
        error.empty() ? "" : ", \"error\": \"", error.c_str(), error.empty() ? "" : "\"");
    std::printf("\n");
    return 0;
}

// Why this machine cannot run nthreads threads, or "" when it looks as if it can.
std::string cannot_run(size_t nthreads) {
    struct rlimit rl;
    // The limit counts every thread of the user, so leave room for the rest; root is exempt.
    if (geteuid() != 0 && getrlimit(RLIMIT_NPROC, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < nthreads + 64) {
        return "RLIMIT_NPROC (ulimit -u) is " + std::to_string(rl.rlim_cur);
    }
    char buf[64];
    int fd = open("/proc/sys/kernel/threads-max", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n > 0) {
            buf[n] = '\0';
            unsigned long long max = std::strtoull(buf, nullptr, 10);
            if (max != 0 && max < nthreads + 64) {
                return "kernel.threads-max is " + std::to_string(max);
            }
        }
    }
    size_t avail = proc_kib_field("/proc/meminfo", "MemAvailable");
    size_t need = nthreads * kBytesPerThreadNeeded + (size_t{256} << 20);
    if (avail != 0 && avail < need) {
        return "MemAvailable is " + std::to_string(avail >> 20) + " MiB, under the " +
               std::to_string(need >> 20) + " MiB asked for " + std::to_string(nthreads) +
               " threads";
    }
    return "";
}

std::string json_escape(const std::string &s) {
    std::string out;
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        if (static_cast<unsigned char>(c) >= 0x20) out += c;
    }
    return out;
}

// Runs this binary again as "--alloc=NAME --footprint-one=N [--footprint-idle]" and returns
// what it printed; on failure, a JSON object that says why.
std::string run_child(const Selection &sel, size_t nthreads, bool work) {
    std::string a_alloc = "--alloc=" + sel.name;
    std::string a_one = "--footprint-one=" + std::to_string(nthreads);
    std::string a_idle = "--footprint-idle";
    std::vector<char *> argv{const_cast<char *>("pymt_bench"), a_alloc.data(), a_one.data()};
    if (!work) argv.push_back(a_idle.data());
    argv.push_back(nullptr);
    auto failure = [&](const std::string &why) {
        return "{\"threads\": " + std::to_string(nthreads) +
               ", \"work\": " + (work ? "true" : "false") + ", \"error\": \"" + json_escape(why) +
               "\"}";
    };
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return failure(std::string("pipe: ") + std::strerror(errno));
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
    pid_t pid;
    std::fflush(nullptr);
    int err = posix_spawn(&pid, "/proc/self/exe", &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (err != 0) {
        close(fds[0]);
        return failure(std::string("posix_spawn: ") + std::strerror(err));
    }
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = read(fds[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)) {
        if (n > 0) out.append(buf, static_cast<size_t>(n));
    }
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFSIGNALED(status)) {
        return failure("killed by signal " + std::to_string(WTERMSIG(status)));
    }
    if (WEXITSTATUS(status) != 0) {
        return failure("exit status " + std::to_string(WEXITSTATUS(status)));
    }
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    if (out.empty() || out.front() != '{') return failure("no result printed");
    return out;
}

}  // namespace

int run_footprint_one(const Selection &sel, size_t nthreads, bool work) {
    if (nthreads == 0) return 2;
    return sel.pymt_api() ? measure_one<PymtApi>(sel, nthreads, work)
                          : measure_one<SysApi>(sel, nthreads, work);
}

int run_footprint(const Selection &sel, const std::vector<size_t> &counts, int repeat) {
    std::string out = "{\"allocator\": \"" + sel.name + "\", \"malloc_provider\": \"" +
                      sel.provider + "\", \"blocks_per_class\": " +
                      std::to_string(kBlocksPerClass) +
                      ", \"size_min\": " + std::to_string(kSizeMin) +
                      ", \"size_max\": " + std::to_string(kSizeMax) +
                      ", \"size_step\": " + std::to_string(kSizeStep) +
                      ", \"round_ops\": " + std::to_string(kRoundOps) +
                      ", \"round_size\": " + std::to_string(kRoundSize) +
                      ", \"repeat\": " + std::to_string(repeat) + ",\n \"runs\": [";
    for (size_t i = 0; i < counts.size(); i++) {
        size_t n = counts[i];
        out += i ? ",\n  " : "\n  ";
        out += "{\"threads\": " + std::to_string(n);
        std::string why = cannot_run(n);
        if (!why.empty()) {
            std::fprintf(stderr, "pymt_bench: footprint with %zu threads skipped: %s\n", n,
                         why.c_str());
            out += ", \"skipped\": \"" + json_escape(why) + "\"}";
            continue;
        }
        out += ",\n   \"idle\": " + run_child(sel, n, false);
        out += ",\n   \"work\": [";
        for (int k = 0; k < repeat; k++) {
            out += (k ? ",\n    " : "\n    ") + run_child(sel, n, true);
        }
        out += "]}";
    }
    out += "]}\n";
    std::fputs(out.c_str(), stdout);
    return 0;
}

}  // namespace pb

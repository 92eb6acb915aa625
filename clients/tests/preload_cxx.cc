// preload_cxx.cc: a multithreaded C++ program for the preload tests: std::thread, std::string,
// std::vector, std::map, std::unique_ptr of an alignas(64) type (aligned operator new/delete),
// with strings and maps built on one thread and destroyed on another. It prints a summary that
// depends only on the work, so its output with LD_PRELOAD=libpymt-malloc.so must equal its
// output without. It also checks the alignment of every aligned object (exit 1 otherwise).
// Example: LD_PRELOAD=build/release/clients/libpymt-malloc.so preload_cxx 4
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

struct alignas(64) Line {
    std::uint64_t words[8];
    explicit Line(std::uint64_t seed) {
        for (int i = 0; i < 8; i++)
            words[i] = seed * 0x9E3779B97F4A7C15ull + static_cast<std::uint64_t>(i);
    }
};

struct Batch {
    std::map<std::string, std::vector<std::string>> index;
    std::vector<std::unique_ptr<Line>> lines;
};

std::mutex handoff_lock;
std::vector<std::unique_ptr<Batch>> handoff;  // batches built by one thread, consumed by another
bool misaligned = false;

std::unique_ptr<Batch> build(int thread, int round) {
    auto b = std::make_unique<Batch>();
    for (int i = 0; i < 200; i++) {
        std::string key = "key-" + std::to_string((thread * 7919 + round * 31 + i) % 97);
        std::string value(static_cast<std::size_t>(i % 90) + 1, static_cast<char>('a' + i % 26));
        value += std::to_string(i);
        b->index[key].push_back(std::move(value));
        if (i % 4 == 0) {
            b->lines.push_back(std::make_unique<Line>(static_cast<std::uint64_t>(i + round)));
            if (reinterpret_cast<std::uintptr_t>(b->lines.back().get()) % 64 != 0)
                misaligned = true;
        }
    }
    return b;
}

std::uint64_t consume(const Batch &b) {
    std::uint64_t h = 1469598103934665603ull;
    for (const auto &kv : b.index) {
        for (char c : kv.first)
            h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
        for (const auto &s : kv.second)
            h = (h ^ s.size()) * 1099511628211ull;
    }
    for (const auto &l : b.lines)
        h ^= l->words[3];
    return h;
}

}  // namespace

int main(int argc, char **argv) {
    int nthreads = argc > 1 ? std::atoi(argv[1]) : 4;
    if (nthreads < 1)
        nthreads = 1;
    const int rounds = 150;
    std::vector<std::uint64_t> sums(static_cast<std::size_t>(nthreads), 0);
    std::vector<std::thread> threads;
    for (int t = 0; t < nthreads; t++) {
        threads.emplace_back([t, &sums] {
            std::uint64_t local = 0;
            for (int r = 0; r < rounds; r++) {
                auto mine = build(t, r);
                // Count our own batch, then hand it over: whoever takes it frees it, and
                // we free whatever another thread left (destroyed on a foreign thread).
                local += consume(*mine);
                std::unique_ptr<Batch> theirs;
                {
                    std::lock_guard<std::mutex> g(handoff_lock);
                    handoff.push_back(std::move(mine));
                    if (handoff.size() > 1) {
                        theirs = std::move(handoff.front());
                        handoff.erase(handoff.begin());
                    }
                }
            }
            sums[static_cast<std::size_t>(t)] = local;
        });
    }
    for (auto &th : threads)
        th.join();
    handoff.clear();
    std::uint64_t total = 0;
    for (auto s : sums)
        total += s;
    std::printf("threads %d rounds %d checksum %llu\n", nthreads, rounds,
                static_cast<unsigned long long>(total));
    if (misaligned) {
        std::printf("an alignas(64) object was not 64-byte aligned\n");
        return 1;
    }
    return 0;
}

// Internal header of the native library: not part of the public API.
// Work sharing for the CPU twins that fill large outputs (maps at image size): std::thread, no
// OpenMP, so the library keeps depending on nothing but libstdc++/libc.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <system_error>
#include <thread>
#include <vector>

namespace cs {

// Threads a CPU twin may use: CS_CPU_THREADS from the environment when it is a positive number
// (tests run one call with 1 and with several to show the result does not depend on it), else
// the hardware's thread count.
inline int cpu_threads() {
    if (const char *env = std::getenv("CS_CPU_THREADS")) {
        const long n = std::strtol(env, nullptr, 10);
        if (n >= 1) return (int)std::min(n, 256L);
    }
    const unsigned hw = std::thread::hardware_concurrency();
    return hw ? (int)std::min(hw, 256u) : 1;
}

// Calls fn(begin, end) over consecutive ranges covering [0, n), on up to cpu_threads() threads,
// each range at least `grain` items, and returns when all are done. fn must write disjoint
// outputs per item, so the result is the same for any split. When a thread cannot be started,
// its range runs on the calling thread (the entry points never abort).
template <typename F> void parallel_for(int64_t n, int64_t grain, F fn) {
    if (n <= 0) return;
    const int64_t parts = std::max<int64_t>(1, std::min<int64_t>(cpu_threads(), n / std::max<int64_t>(grain, 1)));
    if (parts == 1) {
        fn((int64_t)0, n);
        return;
    }
    std::vector<std::thread> workers;
    workers.reserve((size_t)parts - 1);
    auto bound = [&](int64_t p) { return n * p / parts; };
    for (int64_t p = 1; p < parts; p++) {
        try {
            workers.emplace_back(fn, bound(p), bound(p + 1));
        } catch (const std::system_error &) {
            fn(bound(p), bound(p + 1));
        }
    }
    fn((int64_t)0, bound(1));
    for (auto &w : workers) w.join();
}

} // namespace cs

#include "row-pool.h"

#if HYBRID_LLM_ROW_THREADS
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

// One run: the caller publishes the task under the mutex and bumps the generation; each pool thread wakes, drains
// the item counter, and reports back; the caller drains too, then waits until every thread has reported.
struct RowPool::Shared {
    std::mutex mutex;
    std::condition_variable wake;  // pool threads: a new generation, or stop
    std::condition_variable done;  // caller: every pool thread finished the generation
    uint64_t generation = 0;
    bool stop = false;
    unsigned active = 0;  // pool threads still working on this generation
    const Task * task = nullptr;
    size_t n = 0;
    std::atomic<size_t> next{0};
    std::vector<std::thread> threads;

    void drain(unsigned worker) {
        for (size_t i = next.fetch_add(1, std::memory_order_relaxed); i < n; i = next.fetch_add(1, std::memory_order_relaxed)) (*task)(i, worker);
    }

    void loop(unsigned worker) {
        uint64_t seen = 0;
        for (;;) {
            {
                std::unique_lock<std::mutex> lock(mutex);
                wake.wait(lock, [&] { return stop || generation != seen; });
                if (stop) return;
                seen = generation;
            }
            drain(worker);
            std::lock_guard<std::mutex> lock(mutex);
            if (--active == 0) done.notify_one();
        }
    }

    void join() {
        {
            std::lock_guard<std::mutex> lock(mutex);
            stop = true;
        }
        wake.notify_all();
        for (auto & thread : threads) thread.join();
        threads.clear();
        stop = false;
        generation = 0;  // threads started later begin with seen = 0: an old generation must not look new to them
    }
};

RowPool::RowPool() = default;

RowPool::~RowPool() {
    if (shared) shared->join();
}

void RowPool::resize(unsigned threads) {
    if (threads < 1) threads = 1;
    if (threads == size()) return;
    if (shared) shared->join();
    if (threads == 1) {
        shared.reset();
        return;
    }
    if (!shared) shared = std::make_unique<Shared>();
    for (unsigned worker = 1; worker < threads; ++worker) shared->threads.emplace_back([s = shared.get(), worker] { s->loop(worker); });
}

unsigned RowPool::size() const { return shared ? static_cast<unsigned>(shared->threads.size()) + 1 : 1; }

void RowPool::run(size_t n, const Task & task) {
    if (!shared || n < 2) {
        for (size_t i = 0; i < n; ++i) task(i, 0);
        return;
    }
    Shared & s = *shared;
    {
        std::lock_guard<std::mutex> lock(s.mutex);
        s.task = &task;
        s.n = n;
        s.next.store(0, std::memory_order_relaxed);
        s.active = static_cast<unsigned>(s.threads.size());
        ++s.generation;
    }
    s.wake.notify_all();
    s.drain(0);
    std::unique_lock<std::mutex> lock(s.mutex);
    s.done.wait(lock, [&] { return s.active == 0; });
    s.task = nullptr;
}

#else  // the Wasm modules (row-pool.h): always the caller, in order

struct RowPool::Shared {};
RowPool::RowPool() = default;
RowPool::~RowPool() = default;
void RowPool::resize(unsigned) {}
unsigned RowPool::size() const { return 1; }
void RowPool::run(size_t n, const Task & task) {
    for (size_t i = 0; i < n; ++i) task(i, 0);
}

#endif

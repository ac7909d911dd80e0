// A small persistent thread pool for the per-row work of a decode (greedy pick, sampling, log-probabilities): while
// the decode worker samples, llama.cpp's own compute threads sit idle, so the context's rows are shared out over as
// many threads as it computes with. Rows are independent (each has its own sampler, RNG and output slots), so the
// results do not depend on which thread took which row. The Wasm modules run serially, the multi-threaded one too:
// there a thread is one of the pthread workers started up front (threads - 1, all of them llama.cpp's compute
// threads), and a worker the pool held on to would be missing from the next decode's compute, which waits for it
// forever (the module cannot start a new worker while a decode blocks its thread).
#pragma once

#include <cstddef>
#include <functional>
#include <memory>

#if defined(__EMSCRIPTEN__)
#define HYBRID_LLM_ROW_THREADS 0
#else
#define HYBRID_LLM_ROW_THREADS 1
#endif

class RowPool {
public:
    // task(item, worker): worker is in [0, size()), 0 being the calling thread; one worker runs one task at a time,
    // so per-worker scratch space needs no lock.
    using Task = std::function<void(size_t item, unsigned worker)>;

    RowPool();
    ~RowPool();
    RowPool(const RowPool &) = delete;
    RowPool & operator=(const RowPool &) = delete;

    // Total threads, the caller included (1: no pool threads, everything runs on the caller). Only between runs.
    void resize(unsigned threads);
    unsigned size() const;

    // Runs task for every item in [0, n) exactly once and returns when all have finished: items are taken in order
    // from a shared counter by the caller and the pool's threads. With one thread, or one item, a plain loop.
    // task must not throw.
    void run(size_t n, const Task & task);

private:
    struct Shared;
    std::unique_ptr<Shared> shared;
};

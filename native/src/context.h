// A llama_context over a Model: decode batches (asynchronously), sequence and state operations, allocation.
#pragma once

#include <napi.h>

#include <atomic>
#include <memory>
#include <unordered_map>
#include <vector>

#include "llama-api.h"
#include "row-pool.h"
#include "sampler.h"

class Model;

class Context : public Napi::ObjectWrap<Context> {
public:
    static Napi::Function Define(Napi::Env env);
    explicit Context(const Napi::CallbackInfo & info);
    ~Context() override;

    llama_context * ctx = nullptr;
    Model * model = nullptr;
    Napi::ObjectReference model_ref;
    std::atomic<bool> busy{false};
    uint32_t n_vocab = 0;
    bool measure_only = false;  // over a no_alloc model: info() and allocation() only, its buffers do not exist
    // Per-request samplers by handle (not by sequence: a preempted request may resume on another slot). Only the
    // JavaScript thread touches the map; a decode resolves its handles to pointers before it starts, and samplers
    // cannot be freed while it runs (busy).
    std::unordered_map<int32_t, std::unique_ptr<NativeSampler>> samplers;
    int32_t next_sampler = 1;
    // The per-row work of a decode (pick, sample, log-probabilities) runs on up to `row_threads` threads: the count
    // llama.cpp computes with (creation's `threads`, setThreads), idle while the rows are sampled (row-pool.h).
    unsigned row_threads = 1;
    RowPool row_pool;
    std::vector<SampleScratch> sample_scratch;  // one per row-pool worker, reused by every decode (one at a time)

private:
    llama_context * get(Napi::Env env) const;      // throws when disposed, not created, busy, or measure-only
    llama_context * created(Napi::Env env) const;  // throws when disposed, not created, or busy
    void release_model();

    Napi::Value Create(const Napi::CallbackInfo & info);
    Napi::Value Info(const Napi::CallbackInfo & info);
    Napi::Value Decode(const Napi::CallbackInfo & info);
    Napi::Value SeqRemove(const Napi::CallbackInfo & info);
    Napi::Value SeqCopy(const Napi::CallbackInfo & info);
    Napi::Value SeqKeep(const Napi::CallbackInfo & info);
    Napi::Value SeqAdd(const Napi::CallbackInfo & info);
    Napi::Value PosMin(const Napi::CallbackInfo & info);
    Napi::Value PosMax(const Napi::CallbackInfo & info);
    Napi::Value Clear(const Napi::CallbackInfo & info);
    Napi::Value GetState(const Napi::CallbackInfo & info);
    Napi::Value SetState(const Napi::CallbackInfo & info);
    Napi::Value Allocation(const Napi::CallbackInfo & info);
    Napi::Value SetThreads(const Napi::CallbackInfo & info);
    Napi::Value CreateSampler(const Napi::CallbackInfo & info);
    Napi::Value FreeSampler(const Napi::CallbackInfo & info);
    Napi::Value AcceptSampler(const Napi::CallbackInfo & info);
    Napi::Value SamplerCount(const Napi::CallbackInfo & info);
    Napi::Value Dispose(const Napi::CallbackInfo & info);
};

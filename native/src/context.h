// A llama_context over a Model: decode batches (asynchronously), sequence and state operations, allocation.
#pragma once

#include <napi.h>

#include <atomic>

#include "llama-api.h"

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

private:
    llama_context * get(Napi::Env env) const;  // throws when disposed, not created, or busy
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
    Napi::Value Dispose(const Napi::CallbackInfo & info);
};

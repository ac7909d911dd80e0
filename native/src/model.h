// A loaded llama_model. Created empty from JavaScript, then `load()`ed asynchronously.
#pragma once

#include <napi.h>

#include <atomic>
#include <string>
#include <vector>

#include "llama-api.h"

// Every token's piece, one after another: token t's bytes are bytes[offsets[t], offsets[t + 1]).
struct PieceTable {
    std::string bytes;
    std::vector<uint32_t> offsets;  // empty until built
};

class Model : public Napi::ObjectWrap<Model> {
public:
    static Napi::Function Define(Napi::Env env);
    explicit Model(const Napi::CallbackInfo & info);
    ~Model() override;

    llama_model * get(Napi::Env env) const;  // throws when not loaded or disposed
    void retain() { ++children; }
    void release() { --children; }

    llama_model * model = nullptr;
    std::atomic<bool> loading{false};
    std::atomic<bool> abort_requested{false};
    int children = 0;  // live contexts: the model cannot be freed under them
    // RPC servers holding some of its layers (rpc.h): a failure count that moves on them fails the operation.
    std::vector<std::string> rpc_endpoints;
    // Loaded with llama.cpp's no_alloc (metadata only, allocations simulated): its contexts can only report their
    // allocation, never compute (their buffers do not exist).
    bool no_alloc = false;
    PieceTable pieces[2];  // llama_token_to_piece without and with special, for every token (tokenPieces)

private:
    Napi::Value Load(const Napi::CallbackInfo & info);
    Napi::Value Abort(const Napi::CallbackInfo & info);
    Napi::Value Info(const Napi::CallbackInfo & info);
    Napi::Value Tokenize(const Napi::CallbackInfo & info);
    Napi::Value Detokenize(const Napi::CallbackInfo & info);
    Napi::Value TokenPieces(const Napi::CallbackInfo & info);
    Napi::Value GrammarError(const Napi::CallbackInfo & info);
    Napi::Value Dispose(const Napi::CallbackInfo & info);
};

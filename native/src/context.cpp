#include "context.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <string>
#include <unordered_map>
#include <vector>

#include "common.h"
#include "host-imports.h"
#include "model.h"
#include "rpc.h"
#include "row-top2.h"
#include "state-buffer.h"

Napi::Function Context::Define(Napi::Env env) {
    return DefineClass(env, "Context", {
        InstanceMethod("create", &Context::Create),
        InstanceMethod("info", &Context::Info),
        InstanceMethod("decode", &Context::Decode),
        InstanceMethod("seqRemove", &Context::SeqRemove),
        InstanceMethod("seqCopy", &Context::SeqCopy),
        InstanceMethod("seqKeep", &Context::SeqKeep),
        InstanceMethod("seqAdd", &Context::SeqAdd),
        InstanceMethod("posMin", &Context::PosMin),
        InstanceMethod("posMax", &Context::PosMax),
        InstanceMethod("clear", &Context::Clear),
        InstanceMethod("getState", &Context::GetState),
        InstanceMethod("setState", &Context::SetState),
        InstanceMethod("allocation", &Context::Allocation),
        InstanceMethod("setThreads", &Context::SetThreads),
        InstanceMethod("createSampler", &Context::CreateSampler),
        InstanceMethod("freeSampler", &Context::FreeSampler),
        InstanceMethod("acceptSampler", &Context::AcceptSampler),
        InstanceMethod("samplerCount", &Context::SamplerCount),
        InstanceMethod("dispose", &Context::Dispose),
    });
}

// new Context(model)
Context::Context(const Napi::CallbackInfo & info) : Napi::ObjectWrap<Context>(info) {
    Napi::Env env = info.Env();
    require_initialized(env);
    if (info.Length() < 1 || !info[0].IsObject()) throw_error(env, error_code::invalid_argument, "new Context(model) needs a model");
    model = Napi::ObjectWrap<Model>::Unwrap(info[0].As<Napi::Object>());
    model->get(env);  // loaded, not disposed
    measure_only = model->no_alloc;
    model_ref = Napi::Persistent(info[0].As<Napi::Object>());
    model->retain();
}

Context::~Context() {
    // Reached when JavaScript dropped the context without dispose(): free it and let its model go, or the model
    // would count it as live forever and refuse to be disposed.
    if (!busy) samplers.clear();
    if (ctx != nullptr && !busy) llama_api.llama_free(ctx);
    if (model != nullptr) model->release();
}

void Context::release_model() {
    if (model != nullptr) {
        model->release();
        model = nullptr;
        model_ref.Reset();
    }
}

llama_context * Context::get(Napi::Env env) const {
    llama_context * c = created(env);
    if (measure_only) throw_error(env, error_code::invalid_argument, "this context only measures (its model was loaded with noAlloc): it cannot compute or hold state");
    return c;
}

llama_context * Context::created(Napi::Env env) const {
    if (ctx == nullptr) throw_error(env, error_code::disposed, "the context is not created or was disposed");
    if (busy) throw_error(env, error_code::busy, "the context is busy with a decode: await it first");
    return ctx;
}

namespace {

uint32_t u32_option(Napi::Env env, const Napi::Object & options, const char * name, uint32_t fallback, uint32_t min, uint32_t max) {
    if (!options.Has(name) || options.Get(name).IsUndefined()) return fallback;
    Napi::Value value = options.Get(name);
    const double number = value.IsNumber() ? value.As<Napi::Number>().DoubleValue() : NAN;
    if (!(number >= min && number <= max) || std::floor(number) != number) {
        throw_error(env, error_code::invalid_argument,
                    std::string(name) + " must be an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]");
    }
    return static_cast<uint32_t>(number);
}

class CreateWorker : public Napi::AsyncWorker {
public:
    CreateWorker(Napi::Env env, Context * owner, Napi::Object owner_object, llama_model * model, llama_context_params params,
                 std::vector<std::string> endpoints)
        : Napi::AsyncWorker(env), deferred(Napi::Promise::Deferred::New(env)), owner(owner), model(model), params(params),
          endpoints(std::move(endpoints)) {
        owner_ref = Napi::Persistent(owner_object);
    }
    Napi::Promise promise() { return deferred.Promise(); }

    void Execute() override {
        log_take_problems();
        const std::vector<uint64_t> rpc_before = rpc_failures(endpoints);
        result = llama_api.llama_init_from_model(model, params);
        if (result != nullptr && !endpoints.empty() && rpc_failures(endpoints) != rpc_before) {
            llama_api.llama_free(result);
            result = nullptr;
            SetError(rpc_lost_message(endpoints, rpc_before));
            return;
        }
        if (result == nullptr) {
            const std::string reason = log_take_problems();
            SetError(reason.empty() ? "llama.cpp could not create the context" : reason);
        }
    }
    void OnOK() override {
        owner->busy = false;
        owner->ctx = result;
        owner->n_vocab = llama_api.llama_vocab_n_tokens(llama_api.llama_model_get_vocab(model));
        deferred.Resolve(Env().Undefined());
    }
    void OnError(const Napi::Error & error) override {
        owner->busy = false;
        deferred.Reject(make_error(Env(), error_code::context_failed, error.Message()).Value());
    }

private:
    Napi::Promise::Deferred deferred;
    Context * owner;
    Napi::ObjectReference owner_ref;
    llama_model * model;
    llama_context_params params;
    std::vector<std::string> endpoints;
    llama_context * result = nullptr;
};

}  // namespace

// create({ ctx, slots, unified, batch, ubatch, typeK, typeV, flashAttention, threads, recurrentSnapshots, swaFull }) → Promise<void>
Napi::Value Context::Create(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    if (ctx != nullptr || busy) throw_error(env, error_code::busy, "the context is already created");
    if (model == nullptr) throw_error(env, error_code::disposed, "the context was disposed");
    llama_model * m = model->get(env);
    Napi::Object options = info.Length() > 0 && info[0].IsObject() ? info[0].As<Napi::Object>() : Napi::Object::New(env);
    llama_context_params params = llama_api.llama_context_default_params();
    params.n_ctx = u32_option(env, options, "ctx", 4096, 1, 0xffffff00u);
    params.n_seq_max = u32_option(env, options, "slots", 1, 1, 256);
    params.n_batch = u32_option(env, options, "batch", 512, 1, 1u << 20);
    params.n_ubatch = u32_option(env, options, "ubatch", std::min<uint32_t>(params.n_batch, 512), 1, params.n_batch);
    params.n_rs_seq = u32_option(env, options, "recurrentSnapshots", 0, 0, 64);
    params.type_k = static_cast<ggml_type>(u32_option(env, options, "typeK", GGML_TYPE_F16, 0, GGML_TYPE_COUNT - 1));
    params.type_v = static_cast<ggml_type>(u32_option(env, options, "typeV", GGML_TYPE_F16, 0, GGML_TYPE_COUNT - 1));
    const uint32_t threads = u32_option(env, options, "threads", 0, 0, 1024);
    if (threads > 0) {
        params.n_threads = static_cast<int32_t>(threads);
        params.n_threads_batch = static_cast<int32_t>(threads);
    }
    row_threads = static_cast<unsigned>(std::max<int32_t>(1, params.n_threads));
    params.kv_unified = !options.Has("unified") || options.Get("unified").ToBoolean();
    params.swa_full = !options.Has("swaFull") || options.Get("swaFull").ToBoolean();
    if (options.Has("flashAttention") && !options.Get("flashAttention").IsUndefined()) {
        Napi::Value fa = options.Get("flashAttention");
        params.flash_attn_type = fa.IsString() ? LLAMA_FLASH_ATTN_TYPE_AUTO : fa.ToBoolean() ? LLAMA_FLASH_ATTN_TYPE_ENABLED : LLAMA_FLASH_ATTN_TYPE_DISABLED;
    }
    params.no_perf = true;
    busy = true;
    auto * worker = new CreateWorker(env, this, Value(), m, params, model->rpc_endpoints);
    Napi::Promise promise = worker->promise();
    worker->Queue();
    return promise;
}

Napi::Value Context::Info(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    llama_context * c = created(env);
    Napi::Object out = Napi::Object::New(env);
    out.Set("nCtx", llama_api.llama_n_ctx(c));
    out.Set("nCtxSeq", llama_api.llama_n_ctx_seq(c));
    out.Set("nBatch", llama_api.llama_n_batch(c));
    out.Set("nUbatch", llama_api.llama_n_ubatch(c));
    out.Set("nSeqMax", llama_api.llama_n_seq_max(c));
    return out;
}

namespace {

class DecodeWorker : public Napi::AsyncWorker {
public:
    DecodeWorker(Napi::Env env, Context * owner, Napi::Object owner_object, std::vector<int32_t> tokens, std::vector<int32_t> positions,
                 std::vector<int32_t> seq_ids, std::vector<uint8_t> wants, bool return_logits, std::vector<NativeSampler *> row_samplers,
                 std::vector<int32_t> row_logprobs, int32_t top_stride)
        : Napi::AsyncWorker(env), deferred(Napi::Promise::Deferred::New(env)), owner(owner), tokens(std::move(tokens)),
          positions(std::move(positions)), seq_ids(std::move(seq_ids)), wants(std::move(wants)), return_logits(return_logits),
          row_samplers(std::move(row_samplers)), row_logprobs_n(std::move(row_logprobs)), top_stride(top_stride) {
        owner_ref = Napi::Persistent(owner_object);
    }
    Napi::Promise promise() { return deferred.Promise(); }

    void Execute() override {
        // A model with layers on RPC servers: a failure on their connections during this decode means the outputs
        // are zeros, not results (rpc.h). Synchronize first so every message of this decode has been answered.
        const std::vector<std::string> & endpoints = owner->model->rpc_endpoints;
        const std::vector<uint64_t> rpc_before = rpc_failures(endpoints);
        run();
        if (!endpoints.empty()) {
            llama_api.llama_synchronize(owner->ctx);
            if (rpc_failures(endpoints) != rpc_before) {
                status = rpc_lost;
                reason = rpc_lost_message(endpoints, rpc_before);
            }
        }
    }

    void run() {
        const int32_t n = static_cast<int32_t>(tokens.size());
        llama_batch batch = llama_api.llama_batch_init(n, 0, 1);
        for (int32_t i = 0; i < n; ++i) {
            batch.token[i] = tokens[i];
            batch.pos[i] = positions[i];
            batch.n_seq_id[i] = 1;
            batch.seq_id[i][0] = seq_ids[i];
            batch.logits[i] = wants[i] ? 1 : 0;
        }
        batch.n_tokens = n;
        log_take_problems();
        status = llama_api.llama_decode(owner->ctx, batch);
        llama_api.llama_batch_free(batch);
        if (status != 0) {
            reason = log_take_problems();
            return;
        }
        // Each output row's pointer first (in order: a missing one fails the decode before any row is worked on).
        const uint32_t n_vocab = owner->n_vocab;
        std::vector<const float *> rows;
        for (int32_t i = 0; i < n; ++i) {
            if (!wants[i]) continue;
            const float * row = llama_api.llama_get_logits_ith(owner->ctx, i);
            if (row == nullptr) {
                status = -100;
                reason = "llama.cpp returned no logits for batch row " + std::to_string(i);
                return;
            }
            rows.push_back(row);
        }
        const size_t n_rows = rows.size();
        argmax.resize(n_rows);
        margins.resize(n_rows);
        if (return_logits) logits.resize(n_rows * n_vocab);
        if (!row_samplers.empty()) sampled.resize(n_rows);
        if (!row_logprobs_n.empty()) {
            chosen_logprobs.resize(n_rows);
            top_tokens.assign(n_rows * top_stride, -1);
            top_logprobs.assign(n_rows * top_stride, NAN);
        }
        // Rows are independent unless one sampler serves two of them (a caller may pass a handle twice): then in order.
        std::vector<NativeSampler *> distinct;
        for (NativeSampler * sampler : row_samplers) {
            if (sampler != nullptr) distinct.push_back(sampler);
        }
        std::sort(distinct.begin(), distinct.end());
        const bool shared_sampler = std::adjacent_find(distinct.begin(), distinct.end()) != distinct.end();
        RowPool & pool = owner->row_pool;
        try {
            if (!shared_sampler && n_rows > 1) pool.resize(owner->row_threads);  // else left as it is: unused
            if (owner->sample_scratch.size() < pool.size()) owner->sample_scratch.resize(pool.size());
        } catch (const std::exception & error) {  // no thread or memory: fail this decode, keep the context
            status = -101;
            reason = std::string("could not start the row threads: ") + error.what();
            return;
        }
        std::atomic<bool> failed{false};
        const RowPool::Task work = [&](size_t r, unsigned worker) {
            try {
                work_row(r, rows[r], n_vocab, owner->sample_scratch[worker]);
            } catch (...) {  // std::bad_alloc
                failed = true;
            }
        };
        if (shared_sampler) {
            for (size_t r = 0; r < n_rows; ++r) work(r, 0);
        } else {
            pool.run(n_rows, work);
        }
        if (failed) {
            status = -101;
            reason = "out of memory while sampling";
        }
    }

    // One output row: its greedy pick and margin, its logits when asked, its sampled token, its log-probabilities.
    // Writes only this row's slots of the output arrays.
    void work_row(size_t r, const float * row, uint32_t n_vocab, SampleScratch & scratch) {
        NativeSampler * sampler = row_samplers.empty() ? nullptr : row_samplers[r];
        RowTop2 top2;
        int32_t token;
        if (sampler != nullptr) {
            token = sample_row(*sampler, row, n_vocab, scratch, top2);
        } else {
            top2 = row_top2(row, n_vocab);
            token = static_cast<int32_t>(top2.best);
        }
        argmax[r] = static_cast<int32_t>(top2.best);
        margins[r] = top2.best_value - top2.second_value;
        if (return_logits) std::copy(row, row + n_vocab, logits.begin() + r * n_vocab);
        if (!row_samplers.empty()) sampled[r] = token;
        if (!row_logprobs_n.empty()) {
            float chosen = NAN;
            const int32_t top = row_logprobs_n[r];
            if (top >= 0) row_logprobs(row, n_vocab, token, top, chosen, top_tokens.data() + r * top_stride, top_logprobs.data() + r * top_stride);
            chosen_logprobs[r] = chosen;
        }
    }

    void OnOK() override {
        owner->busy = false;
        Napi::Env env = Env();
        if (status != 0) {
            const char * code = status == 1 ? error_code::no_memory_slot : status == 2 ? error_code::aborted : status == rpc_lost ? error_code::crashed : error_code::decode_failed;
            std::string message = status == 1 ? "no room in the KV cache / recurrent slots for this batch" : status == rpc_lost ? "decode failed" : "llama_decode failed (status " + std::to_string(status) + ")";
            if (!reason.empty()) message += ": " + reason;
            Napi::Error error = make_error(env, code, message);
            error.Set("status", Napi::Number::New(env, status));
            deferred.Reject(error.Value());
            return;
        }
        Napi::Object out = Napi::Object::New(env);
        out.Set("argmax", output_array<int32_t>(env, argmax.data(), argmax.size()));
        out.Set("margins", output_array<float>(env, margins.data(), margins.size()));
        if (return_logits) out.Set("logits", output_array<float>(env, logits.data(), logits.size()));
        if (!row_samplers.empty()) out.Set("tokens", output_array<int32_t>(env, sampled.data(), sampled.size()));
        if (!row_logprobs_n.empty()) {
            out.Set("logprobs", output_array<float>(env, chosen_logprobs.data(), chosen_logprobs.size()));
            out.Set("topTokens", output_array<int32_t>(env, top_tokens.data(), top_tokens.size()));
            out.Set("topLogprobs", output_array<float>(env, top_logprobs.data(), top_logprobs.size()));
        }
        deferred.Resolve(out);
    }

    void OnError(const Napi::Error & error) override {
        owner->busy = false;
        deferred.Reject(make_error(Env(), error_code::decode_failed, error.Message()).Value());
    }

private:
    static constexpr int32_t rpc_lost = -200;
    Napi::Promise::Deferred deferred;
    Context * owner;
    Napi::ObjectReference owner_ref;
    std::vector<int32_t> tokens, positions, seq_ids;
    std::vector<uint8_t> wants;
    bool return_logits;
    int32_t status = 0;
    std::string reason;
    std::vector<int32_t> argmax;
    std::vector<float> margins;
    std::vector<float> logits;
    std::vector<NativeSampler *> row_samplers;  // per output row, nullptr = argmax; empty when none asked
    std::vector<int32_t> row_logprobs_n;        // per output row, -1 = none; empty when none asked
    int32_t top_stride;
    std::vector<int32_t> sampled;
    std::vector<float> chosen_logprobs;
    std::vector<int32_t> top_tokens;
    std::vector<float> top_logprobs;
};

template <typename T>
std::vector<T> copy_array(Napi::Env env, const Napi::Value & value, napi_typedarray_type type, const char * name) {
    if (!value.IsTypedArray()) throw_error(env, error_code::invalid_argument, std::string(name) + " has the wrong array type");
    const auto typed = value.As<Napi::TypedArray>();  // (one napi_get_typedarray_info, without the data pointer)
    if (typed.TypedArrayType() != type) throw_error(env, error_code::invalid_argument, std::string(name) + " has the wrong array type");
#if defined(__EMSCRIPTEN__)
    // Asking emnapi for a JavaScript array's data pointer mallocs a copy of it in linear memory, kept in a WeakMap and
    // freed by a FinalizationRegistry when the array is collected: one of each per array, four to six arrays per
    // decode call (emnapi's getArrayBufferPointer: 6.7 % of tiny's decode profile, scripts/profile-wasm.mjs). The host
    // copies the bytes straight into the vector instead (host-imports.h); the data pointer stays the fallback.
    std::vector<T> out(typed.ElementLength());
    if (out.empty() || hybrid_llm_copy_view(value, out.data(), static_cast<uint32_t>(out.size() * sizeof(T))) == 0) return out;
#endif
    auto array = value.As<Napi::TypedArrayOf<T>>();
    return std::vector<T>(array.Data(), array.Data() + array.ElementLength());
}

}  // namespace

// decode(tokens: Int32Array, positions: Int32Array, seqIds: Int32Array, wantLogits: Uint8Array, returnLogits: boolean,
//        samplers?: Int32Array, logprobs?: Int32Array)
//   → Promise<{ argmax: Int32Array, margins: Float32Array, logits?: Float32Array, tokens?: Int32Array,
//               logprobs?: Float32Array, topTokens?: Int32Array, topLogprobs?: Float32Array }>, one entry per output row.
// samplers: a sampler handle per output row (-1 = argmax): `tokens` is then the sampled token per row (-1 when nothing
// was allowed). logprobs: per output row, -1 = none, n ≥ 0 = the chosen token's log-probability and the n most likely
// (topTokens / topLogprobs, rows × max n, padded with -1 / NaN).
// Everything llama.cpp would abort on (a batch over n_batch, a sequence id ≥ n_seq_max, a token outside the vocabulary)
// is refused here, before llama_decode; llama.cpp itself refuses inconsistent positions with status -1.
Napi::Value Context::Decode(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    llama_context * c = get(env);
    if (info.Length() < 4) throw_error(env, error_code::invalid_argument, "decode(tokens, positions, seqIds, wantLogits[, returnLogits])");
    auto tokens = copy_array<int32_t>(env, info[0], napi_int32_array, "tokens");
    auto positions = copy_array<int32_t>(env, info[1], napi_int32_array, "positions");
    auto seq_ids = copy_array<int32_t>(env, info[2], napi_int32_array, "seqIds");
    auto wants = copy_array<uint8_t>(env, info[3], napi_uint8_array, "wantLogits");
    const bool return_logits = info.Length() > 4 && info[4].ToBoolean();
    const size_t n = tokens.size();
    if (n == 0) throw_error(env, error_code::invalid_argument, "the batch is empty");
    if (positions.size() != n || seq_ids.size() != n || wants.size() != n) {
        throw_error(env, error_code::invalid_argument, "tokens, positions, seqIds and wantLogits must have the same length");
    }
    if (n > llama_api.llama_n_batch(c)) {
        throw_error(env, error_code::invalid_argument, "batch of " + std::to_string(n) + " tokens exceeds the context's batch size " + std::to_string(llama_api.llama_n_batch(c)));
    }
    const int32_t n_seq_max = static_cast<int32_t>(llama_api.llama_n_seq_max(c));
    for (size_t i = 0; i < n; ++i) {
        if (tokens[i] < 0 || tokens[i] >= static_cast<int32_t>(n_vocab)) {
            throw_error(env, error_code::invalid_argument, "token " + std::to_string(tokens[i]) + " at row " + std::to_string(i) + " is outside the vocabulary");
        }
        if (seq_ids[i] < 0 || seq_ids[i] >= n_seq_max) {
            throw_error(env, error_code::invalid_argument, "sequence id " + std::to_string(seq_ids[i]) + " at row " + std::to_string(i) + " is outside [0, " + std::to_string(n_seq_max) + ")");
        }
        if (positions[i] < 0) throw_error(env, error_code::invalid_argument, "negative position at row " + std::to_string(i));
    }
    size_t n_outputs = 0;
    for (uint8_t want : wants) n_outputs += want ? 1 : 0;
    std::vector<NativeSampler *> row_samplers;
    if (info.Length() > 5 && !info[5].IsUndefined() && !info[5].IsNull()) {
        auto handles = copy_array<int32_t>(env, info[5], napi_int32_array, "samplers");
        if (handles.size() != n_outputs) throw_error(env, error_code::invalid_argument, "samplers must have one entry per output row");
        for (int32_t handle : handles) {
            if (handle == -1) {
                row_samplers.push_back(nullptr);
                continue;
            }
            auto found = samplers.find(handle);
            if (found == samplers.end()) throw_error(env, error_code::invalid_argument, "no sampler " + std::to_string(handle) + " in this context");
            row_samplers.push_back(found->second.get());
        }
    }
    std::vector<int32_t> row_logprobs;
    int32_t top_stride = 0;
    if (info.Length() > 6 && !info[6].IsUndefined() && !info[6].IsNull()) {
        row_logprobs = copy_array<int32_t>(env, info[6], napi_int32_array, "logprobs");
        if (row_logprobs.size() != n_outputs) throw_error(env, error_code::invalid_argument, "logprobs must have one entry per output row");
        for (int32_t top : row_logprobs) {
            if (top < -1 || top > 1024) throw_error(env, error_code::invalid_argument, "logprobs entries must be in [-1, 1024]");
            top_stride = std::max(top_stride, top);
        }
    }
    busy = true;
    auto * worker = new DecodeWorker(env, this, Value(), std::move(tokens), std::move(positions), std::move(seq_ids), std::move(wants), return_logits,
                                     std::move(row_samplers), std::move(row_logprobs), top_stride);
    Napi::Promise promise = worker->promise();
    worker->Queue();
    return promise;
}

namespace {
int32_t seq_arg(Napi::Env env, const Napi::CallbackInfo & info, size_t index, llama_context * c) {
    if (info.Length() <= index || !info[index].IsNumber()) throw_error(env, error_code::invalid_argument, "a sequence id is required");
    const double value = info[index].As<Napi::Number>().DoubleValue();
    const double max = llama_api.llama_n_seq_max(c);
    if (!(value >= 0 && value < max) || std::floor(value) != value) {
        throw_error(env, error_code::invalid_argument, "sequence id " + std::to_string(value) + " is outside [0, " + std::to_string(static_cast<int>(max)) + ")");
    }
    return static_cast<int32_t>(value);
}
int32_t pos_arg(Napi::Env env, const Napi::CallbackInfo & info, size_t index) {
    if (info.Length() <= index || info[index].IsUndefined()) return -1;  // open end
    const double value = info[index].As<Napi::Number>().DoubleValue();
    if (!(value >= -1 && value <= INT32_MAX) || std::floor(value) != value) throw_error(env, error_code::invalid_argument, "positions must be integers ≥ -1");
    return static_cast<int32_t>(value);
}
}  // namespace

Napi::Value Context::SeqRemove(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    llama_context * c = get(env);
    const int32_t seq = seq_arg(env, info, 0, c);
    return Napi::Boolean::New(env, llama_api.llama_memory_seq_rm(llama_api.llama_get_memory(c), seq, pos_arg(env, info, 1), pos_arg(env, info, 2)));
}

Napi::Value Context::SeqCopy(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    llama_context * c = get(env);
    const int32_t src = seq_arg(env, info, 0, c);
    const int32_t dst = seq_arg(env, info, 1, c);
    llama_api.llama_memory_seq_cp(llama_api.llama_get_memory(c), src, dst, pos_arg(env, info, 2), pos_arg(env, info, 3));
    return env.Undefined();
}

Napi::Value Context::SeqKeep(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    llama_context * c = get(env);
    llama_api.llama_memory_seq_keep(llama_api.llama_get_memory(c), seq_arg(env, info, 0, c));
    return env.Undefined();
}

Napi::Value Context::SeqAdd(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    llama_context * c = get(env);
    const int32_t seq = seq_arg(env, info, 0, c);
    const int32_t p0 = pos_arg(env, info, 1);
    const int32_t p1 = pos_arg(env, info, 2);
    if (info.Length() < 4 || !info[3].IsNumber()) throw_error(env, error_code::invalid_argument, "seqAdd needs a delta");
    llama_api.llama_memory_seq_add(llama_api.llama_get_memory(c), seq, p0, p1, info[3].As<Napi::Number>().Int32Value());
    return env.Undefined();
}

Napi::Value Context::PosMin(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    llama_context * c = get(env);
    return Napi::Number::New(env, llama_api.llama_memory_seq_pos_min(llama_api.llama_get_memory(c), seq_arg(env, info, 0, c)));
}

Napi::Value Context::PosMax(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    llama_context * c = get(env);
    return Napi::Number::New(env, llama_api.llama_memory_seq_pos_max(llama_api.llama_get_memory(c), seq_arg(env, info, 0, c)));
}

Napi::Value Context::Clear(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    llama_context * c = get(env);
    llama_api.llama_memory_clear(llama_api.llama_get_memory(c), info.Length() < 1 || info[0].ToBoolean());
    return env.Undefined();
}

// getState(seq, flags) → Uint8Array. flags: 1 = partial (recurrent / SWA part only), 2 = on device.
Napi::Value Context::GetState(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    llama_context * c = get(env);
    const int32_t seq = seq_arg(env, info, 0, c);
    const uint32_t flags = info.Length() > 1 ? info[1].As<Napi::Number>().Uint32Value() & 3u : 0u;
    const size_t size = llama_api.llama_state_seq_get_size_ext(c, seq, flags);
    Napi::Uint8Array out = new_state_buffer(env, size);
    const std::vector<uint64_t> rpc_before = rpc_failures(model->rpc_endpoints);
    const size_t written = llama_api.llama_state_seq_get_data_ext(c, out.Data(), size, seq, flags);
    // State held on an RPC server that was lost reads as zeros: not a state to restore later.
    if (rpc_failures(model->rpc_endpoints) != rpc_before) throw_error(env, error_code::crashed, rpc_lost_message(model->rpc_endpoints, rpc_before));
    if (written != size) throw_error(env, error_code::decode_failed, "llama.cpp wrote " + std::to_string(written) + " of " + std::to_string(size) + " state bytes");
    return publish(env, out);
}

// setState(seq, bytes, flags) → bytes read. Throws when llama.cpp refuses the bytes (it then clears the sequence).
Napi::Value Context::SetState(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    llama_context * c = get(env);
    const int32_t seq = seq_arg(env, info, 0, c);
    if (info.Length() < 2 || !info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
        throw_error(env, error_code::invalid_argument, "setState needs a Uint8Array");
    }
    auto bytes = info[1].As<Napi::Uint8Array>();
    const uint32_t flags = info.Length() > 2 ? info[2].As<Napi::Number>().Uint32Value() & 3u : 0u;
    log_take_problems();
    const std::vector<uint64_t> rpc_before = rpc_failures(model->rpc_endpoints);
    const size_t read = llama_api.llama_state_seq_set_data_ext(c, bytes.Data(), bytes.ByteLength(), seq, flags);
    if (rpc_failures(model->rpc_endpoints) != rpc_before) throw_error(env, error_code::crashed, rpc_lost_message(model->rpc_endpoints, rpc_before));
    if (read == 0) {
        const std::string reason = log_take_problems();
        throw_error(env, error_code::invalid_argument, "llama.cpp refused the state bytes" + (reason.empty() ? "" : ": " + reason));
    }
    return Napi::Number::New(env, static_cast<double>(read));
}

// allocation() → [{ bufferType, model, context, compute }] exact bytes per buffer type, or null when this libllama
// does not export llama_get_memory_breakdown.
Napi::Value Context::Allocation(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    llama_context * c = created(env);
    if (llama_api.get_memory_breakdown == nullptr) return env.Null();
    const hybrid_llm_memory_breakdown breakdown = llama_api.get_memory_breakdown(c);
    Napi::Array out = Napi::Array::New(env);
    uint32_t i = 0;
    for (const auto & [buft, data] : breakdown) {
        Napi::Object row = Napi::Object::New(env);
        row.Set("bufferType", llama_api.ggml_backend_buft_name(buft));
        row.Set("model", static_cast<double>(data.model));
        row.Set("context", static_cast<double>(data.context));
        row.Set("compute", static_cast<double>(data.compute));
        out.Set(i++, row);
    }
    return out;
}

Napi::Value Context::SetThreads(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    llama_context * c = get(env);
    const int32_t threads = info[0].As<Napi::Number>().Int32Value();
    if (threads < 1) throw_error(env, error_code::invalid_argument, "threads must be ≥ 1");
    llama_api.llama_set_n_threads(c, threads, threads);
    row_threads = static_cast<unsigned>(threads);
    return env.Undefined();
}

// createSampler(config) → handle. config: { temperature, topK, topP, minP, typicalP, repetitionPenalty, presencePenalty,
// frequencyPenalty, penaltyLastN, seed, biasTokens?: Int32Array, biasValues?: Float32Array, grammar?: string }.
Napi::Value Context::CreateSampler(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    get(env);
    if (info.Length() < 1 || !info[0].IsObject()) throw_error(env, error_code::invalid_argument, "createSampler(config) needs a config object");
    std::unique_ptr<NativeSampler> sampler(sampler_from_config(env, info[0].As<Napi::Object>(), llama_api.llama_model_get_vocab(model->get(env)), n_vocab));
    const int32_t handle = next_sampler;
    next_sampler = next_sampler == INT32_MAX ? 1 : next_sampler + 1;
    samplers[handle] = std::move(sampler);
    return Napi::Number::New(env, handle);
}

namespace {
int32_t sampler_arg(Napi::Env env, const Napi::CallbackInfo & info) {
    if (info.Length() < 1 || !info[0].IsNumber()) throw_error(env, error_code::invalid_argument, "a sampler handle is required");
    return info[0].As<Napi::Number>().Int32Value();
}
}  // namespace

// freeSampler(handle) → whether it existed.
Napi::Value Context::FreeSampler(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    get(env);
    return Napi::Boolean::New(env, samplers.erase(sampler_arg(env, info)) > 0);
}

// acceptSampler(handle, tokens: Int32Array): feeds tokens to the sampler's state (penalties, grammar) as if it had
// sampled them, e.g. to rebuild a request's sampler on a reopened context. Throws when the grammar refuses a token.
Napi::Value Context::AcceptSampler(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    get(env);
    auto found = samplers.find(sampler_arg(env, info));
    if (found == samplers.end()) throw_error(env, error_code::invalid_argument, "no such sampler in this context");
    if (info.Length() < 2) throw_error(env, error_code::invalid_argument, "acceptSampler(handle, tokens) needs tokens");
    auto tokens = copy_array<int32_t>(env, info[1], napi_int32_array, "tokens");
    NativeSampler & sampler = *found->second;
    for (int32_t token : tokens) {
        if (token < 0 || token >= static_cast<int32_t>(n_vocab)) throw_error(env, error_code::invalid_argument, "token " + std::to_string(token) + " is outside the vocabulary");
        if (!sampler_accepts(sampler, token, n_vocab)) throw_error(env, error_code::invalid_argument, "the sampler's grammar does not allow token " + std::to_string(token) + " here");
        try {
            llama_api.llama_sampler_accept(sampler.filter, token);
            llama_api.llama_sampler_accept(sampler.pick, token);
        } catch (const std::exception & error) {
            throw_error(env, error_code::invalid_argument, std::string("llama.cpp refused token ") + std::to_string(token) + ": " + error.what());
        }
    }
    return env.Undefined();
}

Napi::Value Context::SamplerCount(const Napi::CallbackInfo & info) {
    return Napi::Number::New(info.Env(), static_cast<double>(samplers.size()));
}

Napi::Value Context::Dispose(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    if (busy) throw_error(env, error_code::busy, "the context is busy: await its decode before disposing");
    samplers.clear();
    row_pool.resize(1);
    sample_scratch.clear();
    if (ctx != nullptr) {
        llama_api.llama_free(ctx);
        ctx = nullptr;
    }
    release_model();
    return env.Undefined();
}

#include "model.h"
#include "sampler.h"

#include <algorithm>
#include <cstdio>
#include <new>
#include <string>
#include <vector>

#include "byte-source.h"
#include "common.h"
#include "rpc.h"

Napi::Function Model::Define(Napi::Env env) {
    return DefineClass(env, "Model", {
        InstanceMethod("load", &Model::Load),
        InstanceMethod("abort", &Model::Abort),
        InstanceMethod("info", &Model::Info),
        InstanceMethod("tokenize", &Model::Tokenize),
        InstanceMethod("detokenize", &Model::Detokenize),
        InstanceMethod("tokenPieces", &Model::TokenPieces),
        InstanceMethod("grammarError", &Model::GrammarError),
        InstanceMethod("dispose", &Model::Dispose),
    });
}

Model::Model(const Napi::CallbackInfo & info) : Napi::ObjectWrap<Model>(info) {
    require_initialized(info.Env());
}

Model::~Model() {
    // Reached only when JavaScript dropped the object without dispose(): contexts hold a reference, so none is alive.
    if (model != nullptr && !loading) llama_api.llama_model_free(model);
}

llama_model * Model::get(Napi::Env env) const {
    if (loading) throw_error(env, error_code::busy, "the model is still loading");
    if (model == nullptr) throw_error(env, error_code::disposed, "the model is not loaded or was disposed");
    return model;
}

namespace {

struct ProgressData {
    Napi::ThreadSafeFunction on_progress;
    bool has_progress = false;
    std::atomic<bool> * abort_requested = nullptr;
    float last_reported = -1.0f;
};

bool progress_callback(float progress, void * user_data) {
    auto * data = static_cast<ProgressData *>(user_data);
    // Report every 1 % at most: llama.cpp calls this per tensor.
    if (data->has_progress && (progress - data->last_reported >= 0.01f || progress >= 1.0f)) {
        data->last_reported = progress;
        auto * value = new float(progress);
        data->on_progress.NonBlockingCall(value, [](Napi::Env env, Napi::Function callback, float * p) {
            callback.Call({Napi::Number::New(env, *p)});
            delete p;
        });
    }
    return !data->abort_requested->load();
}

// Layers on llama.cpp's RPC backend: the servers' devices (after any local GPU) and how the layers split over them.
struct RpcOptions {
    std::string library;
    std::vector<std::string> servers;
    std::vector<float> tensor_split;  // one weight per device, empty = llama.cpp's default (by free memory)
};

RpcOptions read_rpc_options(Napi::Env env, const Napi::Object & options) {
    RpcOptions rpc;
    if (!options.Has("rpc") || options.Get("rpc").IsUndefined()) return rpc;
    if (!options.Get("rpc").IsObject()) throw_error(env, error_code::invalid_argument, "rpc must be an object");
    Napi::Object object = options.Get("rpc").As<Napi::Object>();
    if (!object.Get("library").IsString() || !object.Get("servers").IsArray()) {
        throw_error(env, error_code::invalid_argument, "rpc needs library (a path) and servers (host:port strings)");
    }
    rpc.library = object.Get("library").As<Napi::String>().Utf8Value();
    Napi::Array servers = object.Get("servers").As<Napi::Array>();
    for (uint32_t i = 0; i < servers.Length(); ++i) {
        if (!servers.Get(i).IsString()) throw_error(env, error_code::invalid_argument, "rpc.servers must hold host:port strings");
        rpc.servers.push_back(servers.Get(i).As<Napi::String>().Utf8Value());
    }
    if (rpc.servers.empty()) throw_error(env, error_code::invalid_argument, "rpc.servers is empty");
    if (object.Has("tensorSplit") && object.Get("tensorSplit").IsArray()) {
        Napi::Array split = object.Get("tensorSplit").As<Napi::Array>();
        for (uint32_t i = 0; i < split.Length(); ++i) {
            const double weight = split.Get(i).IsNumber() ? split.Get(i).As<Napi::Number>().DoubleValue() : -1;
            if (!(weight >= 0 && weight < 1e9)) throw_error(env, error_code::invalid_argument, "rpc.tensorSplit must hold weights >= 0");
            rpc.tensor_split.push_back(static_cast<float>(weight));
        }
    }
    return rpc;
}

// Every token's piece (llama_token_to_piece with `special`), one after another; false past 4 GiB of pieces or when
// memory runs out (`out` is left empty: an exception here would end the process, from a worker thread or a method).
bool build_token_pieces(const llama_vocab * vocab, bool special, PieceTable & out) try {
    const int32_t n_tokens = llama_api.llama_vocab_n_tokens(vocab);
    out.offsets.assign(static_cast<size_t>(n_tokens) + 1, 0);
    out.bytes.clear();
    out.bytes.reserve(static_cast<size_t>(n_tokens) * 8);
    char buffer[256];
    for (int32_t token = 0; token < n_tokens; ++token) {
        int32_t n = llama_api.llama_token_to_piece(vocab, token, buffer, sizeof(buffer), 0, special);
        if (n < 0) {
            std::string piece(static_cast<size_t>(-n), '\0');
            n = llama_api.llama_token_to_piece(vocab, token, piece.data(), static_cast<int32_t>(piece.size()), 0, special);
            out.bytes.append(piece.data(), n < 0 ? 0 : static_cast<size_t>(n));
        } else {
            out.bytes.append(buffer, static_cast<size_t>(n));
        }
        if (out.bytes.size() > UINT32_MAX) {
            out = PieceTable{};
            return false;
        }
        out.offsets[static_cast<size_t>(token) + 1] = static_cast<uint32_t>(out.bytes.size());
    }
    return true;
} catch (const std::bad_alloc &) {
    out = PieceTable{};
    return false;
}

class LoadWorker : public Napi::AsyncWorker {
public:
    LoadWorker(Napi::Env env, Model * owner, Napi::Object owner_object, std::string path, Napi::Value bytes,
               int32_t gpu_layers, bool use_mmap, bool no_alloc, Napi::Value on_progress, RpcOptions rpc)
        : Napi::AsyncWorker(env), deferred(Napi::Promise::Deferred::New(env)), owner(owner), path(std::move(path)),
          gpu_layers(gpu_layers), use_mmap(use_mmap), no_alloc(no_alloc), rpc(std::move(rpc)) {
        owner_ref = Napi::Persistent(owner_object);
        // Bytes (or, on Wasm, a path the host reads for us): see ByteSource for where they live while loading.
        if (bytes.IsTypedArray() || (!no_alloc && bytes.IsString())) from_source = source.take(env, bytes) && !source.empty();
        progress.abort_requested = &owner->abort_requested;
        if (on_progress.IsFunction()) {
            progress.on_progress = Napi::ThreadSafeFunction::New(env, on_progress.As<Napi::Function>(), "hybrid-llm load progress", 0, 1);
            progress.has_progress = true;
        }
    }

    Napi::Promise promise() { return deferred.Promise(); }

    void Execute() override {
        llama_model_params params = llama_api.llama_model_default_params();
        params.n_gpu_layers = gpu_layers;
        params.progress_callback = progress_callback;
        params.progress_callback_user_data = &progress;
        log_take_problems();
        const std::vector<uint64_t> rpc_before = rpc_failures(rpc.servers);
        if (!rpc.servers.empty() && !use_rpc_devices(params)) return;
        if (from_source) {
            // Bytes, or on Wasm a stream the host serves: no mmap, no lazy reads (they need mmap).
            params.load_mode = LLAMA_LOAD_MODE_NONE;
            params.lazy_mode = LLAMA_LAZY_MODE_OFF;
            FILE * file = source.open();
            if (file == nullptr) {
                source.release();
                SetError("could not open the model bytes as a stream");
                return;
            }
            result = llama_api.llama_model_load_from_file_ptr(file, params);
            fclose(file);
            source.release();  // llama.cpp holds its own copy of the weights now
        } else if (no_alloc) {
            // Metadata only: llama.cpp reads the header, checks each tensor lies within the file (a sparse file
            // passes), and simulates every allocation; nothing may be mapped.
            params.no_alloc = true;
            params.load_mode = LLAMA_LOAD_MODE_NONE;
            params.lazy_mode = LLAMA_LAZY_MODE_OFF;
            result = llama_api.llama_model_load_from_file(path.c_str(), params);
        } else {
            params.load_mode = use_mmap ? LLAMA_LOAD_MODE_AUTO : LLAMA_LOAD_MODE_NONE;
            result = llama_api.llama_model_load_from_file(path.c_str(), params);
        }
        if (result != nullptr && !rpc.servers.empty() && rpc_failures(rpc.servers) != rpc_before) {
            // A server went away while the weights were sent: what it holds cannot be trusted.
            llama_api.llama_model_free(result);
            result = nullptr;
            SetError(rpc_lost_message(rpc.servers, rpc_before));
            return;
        }
        if (result != nullptr && !no_alloc) {
            // Here, off the main thread: the engine needs a token's bytes for every token it generates.
            const llama_vocab * vocab = llama_api.llama_model_get_vocab(result);
            // (One that cannot be built here is tried again when first asked for, and fails there with an error.)
            for (const bool special : {false, true}) build_token_pieces(vocab, special, pieces[special]);
        }
        if (result == nullptr) {
            const std::string reason = log_take_problems();
            SetError(owner->abort_requested ? "aborted" : reason.empty() ? "llama.cpp could not load the model" : reason);
        }
    }

    void OnOK() override {
        finish();
        owner->model = result;
        owner->pieces[0] = std::move(pieces[0]);
        owner->pieces[1] = std::move(pieces[1]);
        owner->rpc_endpoints = rpc.servers;
        owner->no_alloc = no_alloc;
        deferred.Resolve(Env().Undefined());
    }

    void OnError(const Napi::Error & error) override {
        finish();
        const bool aborted = owner->abort_requested.exchange(false);
        deferred.Reject(make_error(Env(), aborted ? error_code::aborted : error_code::load_failed, error.Message()).Value());
    }

private:
    // Local GPUs first (llama.cpp's own default device list), then every device of the RPC servers; the split, when
    // given, has one weight per device. Sets an error and returns false when a server cannot be used.
    bool use_rpc_devices(llama_model_params & params) {
        bool has_gpu = false;
        for (size_t i = 0; i < llama_api.ggml_backend_dev_count(); ++i) {
            has_gpu |= llama_api.ggml_backend_dev_type(llama_api.ggml_backend_dev_get(i)) == GGML_BACKEND_DEVICE_TYPE_GPU;
        }
        for (size_t i = 0; i < llama_api.ggml_backend_dev_count(); ++i) {
            ggml_backend_dev_t dev = llama_api.ggml_backend_dev_get(i);
            const auto type = llama_api.ggml_backend_dev_type(dev);
            if (type == GGML_BACKEND_DEVICE_TYPE_GPU || (!has_gpu && type == GGML_BACKEND_DEVICE_TYPE_IGPU)) devices.push_back(dev);
        }
        const std::string error = rpc_add_servers(rpc.library, rpc.servers, devices);
        if (!error.empty()) {
            SetError(error);
            return false;
        }
        if (!rpc.tensor_split.empty()) {
            if (rpc.tensor_split.size() != devices.size() || devices.size() > llama_api.llama_max_devices()) {
                SetError("rpc.tensorSplit has " + std::to_string(rpc.tensor_split.size()) + " weights for " + std::to_string(devices.size()) +
                         " devices (local GPUs, then each server's devices)");
                return false;
            }
            split.assign(llama_api.llama_max_devices(), 0.0f);
            std::copy(rpc.tensor_split.begin(), rpc.tensor_split.end(), split.begin());
            params.tensor_split = split.data();
        }
        devices.push_back(nullptr);
        params.devices = devices.data();
        return true;
    }

    void finish() {
        owner->loading = false;
        if (progress.has_progress) progress.on_progress.Release();
    }

    Napi::Promise::Deferred deferred;
    Model * owner;
    Napi::ObjectReference owner_ref;
    std::string path;
    ByteSource source;
    bool from_source = false;
    int32_t gpu_layers;
    bool use_mmap;
    bool no_alloc;
    RpcOptions rpc;
    std::vector<ggml_backend_dev_t> devices;
    std::vector<float> split;
    ProgressData progress;
    llama_model * result = nullptr;
    PieceTable pieces[2];  // without and with special
};

}  // namespace

// load(source: string | Uint8Array, { gpuLayers, mmap, noAlloc, onProgress }) → Promise<void>. noAlloc (path only):
// metadata only, for contexts that report their allocation and never compute.
Napi::Value Model::Load(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    if (model != nullptr || loading) throw_error(env, error_code::busy, "the model is already loaded or loading");
    if (info.Length() < 1 || !(info[0].IsString() || info[0].IsTypedArray())) {
        throw_error(env, error_code::invalid_argument, "load() needs a path or a Uint8Array");
    }
    Napi::Object options = info.Length() > 1 && info[1].IsObject() ? info[1].As<Napi::Object>() : Napi::Object::New(env);
    const int32_t gpu_layers = options.Has("gpuLayers") ? options.Get("gpuLayers").As<Napi::Number>().Int32Value() : 0;
    const bool use_mmap = !options.Has("mmap") || options.Get("mmap").ToBoolean();
    RpcOptions rpc = read_rpc_options(env, options);
    const bool no_alloc = options.Has("noAlloc") && options.Get("noAlloc").ToBoolean();
    if (no_alloc && !info[0].IsString()) throw_error(env, error_code::invalid_argument, "noAlloc needs a path source");
    loading = true;
    abort_requested = false;
    auto * worker = new LoadWorker(env, this, Value(), info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "",
                                   info[0], gpu_layers, use_mmap, no_alloc, options.Get("onProgress"), std::move(rpc));
    Napi::Promise promise = worker->promise();
    worker->Queue();
    return promise;
}

Napi::Value Model::Abort(const Napi::CallbackInfo & info) {
    abort_requested = loading.load();
    return info.Env().Undefined();
}

Napi::Value Model::Info(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    llama_model * m = get(env);
    const llama_vocab * vocab = llama_api.llama_model_get_vocab(m);
    Napi::Object out = Napi::Object::New(env);
    char description[256] = {0};
    llama_api.llama_model_desc(m, description, sizeof(description));
    out.Set("description", description);
    out.Set("vocabSize", llama_api.llama_vocab_n_tokens(vocab));
    out.Set("contextLength", llama_api.llama_model_n_ctx_train(m));
    out.Set("embeddingLength", llama_api.llama_model_n_embd(m));
    out.Set("layerCount", llama_api.llama_model_n_layer(m));
    out.Set("sizeBytes", static_cast<double>(llama_api.llama_model_size(m)));
    out.Set("parameterCount", static_cast<double>(llama_api.llama_model_n_params(m)));
    out.Set("isRecurrent", llama_api.llama_model_is_recurrent(m));
    out.Set("isHybrid", llama_api.llama_model_is_hybrid(m));
    out.Set("bosToken", llama_api.llama_vocab_bos(vocab));
    out.Set("eosToken", llama_api.llama_vocab_eos(vocab));
    out.Set("eotToken", llama_api.llama_vocab_eot(vocab));
    out.Set("addBos", llama_api.llama_vocab_get_add_bos(vocab));
    const char * chat_template = llama_api.llama_model_chat_template(m, nullptr);
    out.Set("chatTemplate", chat_template == nullptr ? env.Null() : Napi::String::New(env, chat_template));
    const int32_t n_vocab = llama_api.llama_vocab_n_tokens(vocab);
    std::vector<int32_t> eog_tokens;
    for (int32_t t = 0; t < n_vocab; ++t) {
        if (llama_api.llama_vocab_is_eog(vocab, t)) eog_tokens.push_back(t);
    }
    out.Set("endOfGenerationTokens", output_array<int32_t>(env, eog_tokens.data(), eog_tokens.size()));
    return out;
}

// tokenize(text, addSpecial, parseSpecial) → Int32Array
// grammarError(gbnf) → null when the grammar parses (start rule "root"), else llama.cpp's reason.
Napi::Value Model::GrammarError(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    llama_model * m = get(env);
    if (info.Length() < 1 || !info[0].IsString()) throw_error(env, error_code::invalid_argument, "grammarError() needs a string");
    const std::string reason = grammar_error(llama_api.llama_model_get_vocab(m), info[0].As<Napi::String>().Utf8Value());
    return reason.empty() ? env.Null() : Napi::String::New(env, reason);
}

Napi::Value Model::Tokenize(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    llama_model * m = get(env);
    if (info.Length() < 1 || !info[0].IsString()) throw_error(env, error_code::invalid_argument, "tokenize() needs a string");
    const std::string text = info[0].As<Napi::String>().Utf8Value();
    const bool add_special = info.Length() > 1 && info[1].ToBoolean();
    const bool parse_special = info.Length() > 2 && info[2].ToBoolean();
    if (text.size() > static_cast<size_t>(INT32_MAX / 2)) throw_error(env, error_code::invalid_argument, "text too long to tokenize");
    const llama_vocab * vocab = llama_api.llama_model_get_vocab(m);
    std::vector<llama_token> tokens(text.size() + 4);
    int32_t n = llama_api.llama_tokenize(vocab, text.data(), static_cast<int32_t>(text.size()), tokens.data(),
                                         static_cast<int32_t>(tokens.size()), add_special, parse_special);
    if (n < 0) {
        if (n == INT32_MIN) throw_error(env, error_code::invalid_argument, "tokenization overflowed");
        tokens.resize(-n);
        n = llama_api.llama_tokenize(vocab, text.data(), static_cast<int32_t>(text.size()), tokens.data(),
                                     static_cast<int32_t>(tokens.size()), add_special, parse_special);
    }
    return output_array<int32_t>(env, tokens.data(), static_cast<size_t>(n));
}

static std::vector<llama_token> read_tokens(Napi::Env env, const Napi::Value & value, int32_t n_vocab) {
    if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
        throw_error(env, error_code::invalid_argument, "tokens must be an Int32Array");
    }
    auto array = value.As<Napi::Int32Array>();
    std::vector<llama_token> tokens(array.ElementLength());
    for (size_t i = 0; i < tokens.size(); ++i) {
        if (array[i] < 0 || array[i] >= n_vocab) {
            throw_error(env, error_code::invalid_argument, "token " + std::to_string(array[i]) + " at index " + std::to_string(i) +
                                                                 " is outside the vocabulary [0, " + std::to_string(n_vocab) + ")");
        }
        tokens[i] = array[i];
    }
    return tokens;
}

// detokenize(tokens: Int32Array, removeSpecial, unparseSpecial) → string
Napi::Value Model::Detokenize(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    llama_model * m = get(env);
    const llama_vocab * vocab = llama_api.llama_model_get_vocab(m);
    const std::vector<llama_token> tokens = read_tokens(env, info[0], llama_api.llama_vocab_n_tokens(vocab));
    const bool remove_special = info.Length() > 1 && info[1].ToBoolean();
    const bool unparse_special = info.Length() > 2 && info[2].ToBoolean();
    std::string text(tokens.size() * 8 + 16, '\0');
    int32_t n = llama_api.llama_detokenize(vocab, tokens.data(), static_cast<int32_t>(tokens.size()), text.data(),
                                           static_cast<int32_t>(text.size()), remove_special, unparse_special);
    if (n < 0) {
        text.resize(-n);
        n = llama_api.llama_detokenize(vocab, tokens.data(), static_cast<int32_t>(tokens.size()), text.data(),
                                       static_cast<int32_t>(text.size()), remove_special, unparse_special);
    }
    text.resize(n < 0 ? 0 : n);
    return Napi::String::New(env, text);
}

// tokenPieces(special) → { bytes: Uint8Array, offsets: Uint32Array }: every token's piece, token t's at
// bytes[offsets[t], offsets[t + 1]). One call instead of one per token: the engine needs each generated token's bytes,
// and a call that returns a new ArrayBuffer costs ~15 µs, most of a step's JavaScript at 8 rows. Built when the model
// loaded (off the main thread), or here the first time for a model loaded with noAlloc.
Napi::Value Model::TokenPieces(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    llama_model * m = get(env);
    const bool special = info.Length() > 0 && info[0].ToBoolean();
    PieceTable & table = pieces[special];
    if (table.offsets.empty() && !build_token_pieces(llama_api.llama_model_get_vocab(m), special, table)) {
        throw_error(env, error_code::invalid_argument, "the vocabulary's pieces do not fit in memory (or exceed 4 GiB)");
    }
    Napi::Object result = Napi::Object::New(env);
    result.Set("bytes", output_array<uint8_t>(env, reinterpret_cast<const uint8_t *>(table.bytes.data()), table.bytes.size()));
    result.Set("offsets", output_array<uint32_t>(env, table.offsets.data(), table.offsets.size()));
    return result;
}

Napi::Value Model::Dispose(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    if (loading) throw_error(env, error_code::busy, "the model is still loading: abort() it first");
    if (children > 0) throw_error(env, error_code::busy, "the model still has live contexts: dispose them first");
    if (model != nullptr) {
        llama_api.llama_model_free(model);
        model = nullptr;
        pieces[0] = PieceTable{};
        pieces[1] = PieceTable{};
    }
    return env.Undefined();
}

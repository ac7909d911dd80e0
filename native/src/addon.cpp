// hybrid-llm's Node-API binding over llama.h: the same source builds the native addon (Node) and, through
// emnapi, the Wasm module. Module-level functions: init (load llama.cpp), devices, systemInfo, takeLog.
#include <napi.h>

#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>

#include "common.h"
#include "context.h"
#include "fast-pick.h"
#include "llama-api.h"
#include "model.h"

namespace {

// init(libraryDir: string) → void. Loads llama.cpp (dlopen on native) and every ggml backend beside it.
Napi::Value Init(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    const std::string dir = info.Length() > 0 && info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
    const bool first = !llama_api.loaded;
    const std::string error = llama_api.load(dir);
    if (!error.empty()) throw_error(env, error_code::load_failed, error);
    if (first) {
        log_install();
#if !defined(HYBRID_LLM_STATIC_LLAMA)
        llama_api.ggml_backend_load_all_from_path(dir.c_str());
#endif
        llama_api.llama_backend_init();
    }
    return env.Undefined();
}

// devices() → [{ name, description, type: "cpu" | "gpu" | "igpu" | "accel" | "meta", freeBytes, totalBytes }]
Napi::Value Devices(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    require_initialized(env);
    Napi::Array out = Napi::Array::New(env);
    const size_t count = llama_api.ggml_backend_dev_count();
    for (size_t i = 0; i < count; ++i) {
        ggml_backend_dev_t dev = llama_api.ggml_backend_dev_get(i);
        size_t free_bytes = 0, total_bytes = 0;
        llama_api.ggml_backend_dev_memory(dev, &free_bytes, &total_bytes);
        const char * type = "cpu";
        switch (llama_api.ggml_backend_dev_type(dev)) {
            case GGML_BACKEND_DEVICE_TYPE_GPU: type = "gpu"; break;
            case GGML_BACKEND_DEVICE_TYPE_IGPU: type = "igpu"; break;
            case GGML_BACKEND_DEVICE_TYPE_ACCEL: type = "accel"; break;
            case GGML_BACKEND_DEVICE_TYPE_CPU: type = "cpu"; break;
            default: type = "other"; break;
        }
        Napi::Object row = Napi::Object::New(env);
        row.Set("name", llama_api.ggml_backend_dev_name(dev));
        row.Set("description", llama_api.ggml_backend_dev_description(dev));
        row.Set("type", type);
        row.Set("freeBytes", static_cast<double>(free_bytes));
        row.Set("totalBytes", static_cast<double>(total_bytes));
        out.Set(static_cast<uint32_t>(i), row);
    }
    return out;
}

Napi::Value SystemInfo(const Napi::CallbackInfo & info) {
    require_initialized(info.Env());
    return Napi::String::New(info.Env(), std::string(llama_api.llama_print_system_info()) + "FAST_PICK = " + fast_pick_sweep() + " | ");
}

// takeLog() → everything llama.cpp logged since the last call.
Napi::Value TakeLog(const Napi::CallbackInfo & info) {
    return Napi::String::New(info.Env(), log_take_all());
}

// echoLog(on) → mirror llama.cpp's log to stderr (debugging).
Napi::Value EchoLog(const Napi::CallbackInfo & info) {
    log_set_echo(info.Length() > 0 && info[0].ToBoolean());
    return info.Env().Undefined();
}

// throwForTesting(kind) → throws a C++ exception that is not a Napi::Error ("bad_alloc", "runtime_error", or anything
// else: a non-std value), as llama.cpp or the standard library may inside any binding call. The boundary must turn it
// into a JavaScript error; uncaught, it would terminate the process. For the binding's tests.
Napi::Value ThrowForTesting(const Napi::CallbackInfo & info) {
    const std::string kind = info.Length() > 0 && info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
    if (kind == "bad_alloc") throw std::bad_alloc();
    if (kind == "runtime_error") throw std::runtime_error("injected runtime_error");
    throw 42;
}

#if !defined(__EMSCRIPTEN__)
// problemLogForTesting() → [first, second]: two threads log a problem each, the second while the first's is still
// untaken, then each takes its problems — as two workers loading or decoding at once do. Each must get its own
// (llama.cpp's reasons are quoted in errors; one worker must never report another's).
Napi::Value ProblemLogForTesting(const Napi::CallbackInfo & info) {
    std::mutex mutex;
    std::condition_variable changed;
    int stage = 0;
    std::string first, second;
    auto advance_to = [&](int next) {
        std::lock_guard<std::mutex> lock(mutex);
        stage = next;
        changed.notify_all();
    };
    auto wait_for = [&](int wanted) {
        std::unique_lock<std::mutex> lock(mutex);
        changed.wait(lock, [&] { return stage >= wanted; });
    };
    std::thread a([&] {
        log_take_problems();
        log_emit_error("problem of the first thread\n");
        advance_to(1);
        wait_for(2);
        first = log_take_problems();
        advance_to(3);
    });
    std::thread b([&] {
        wait_for(1);
        log_take_problems();
        log_emit_error("problem of the second thread\n");
        advance_to(2);
        wait_for(3);
        second = log_take_problems();
    });
    a.join();
    b.join();
    Napi::Array out = Napi::Array::New(info.Env(), 2);
    out.Set(0u, first);
    out.Set(1u, second);
    return out;
}
#endif

#if defined(HYBRID_LLM_STATIC_LLAMA)
// abortForTesting() → aborts the way a failed GGML_ASSERT does. Wasm only: there an abort is a trap the host survives,
// and the Wasm backend's tests use it to prove that (natively it would end the process, so it does not exist).
Napi::Value AbortForTesting(const Napi::CallbackInfo &) {
    abort();
}
#endif

Napi::Object Register(Napi::Env env, Napi::Object exports) {
    exports.Set("init", Napi::Function::New(env, Init));
    exports.Set("devices", Napi::Function::New(env, Devices));
    exports.Set("systemInfo", Napi::Function::New(env, SystemInfo));
    exports.Set("takeLog", Napi::Function::New(env, TakeLog));
    exports.Set("echoLog", Napi::Function::New(env, EchoLog));
    exports.Set("Model", Model::Define(env));
    exports.Set("Context", Context::Define(env));
    exports.Set("bindingVersion", Napi::Number::New(env, 1));
    exports.Set("throwForTesting", Napi::Function::New(env, ThrowForTesting));
#if !defined(__EMSCRIPTEN__)
    exports.Set("problemLogForTesting", Napi::Function::New(env, ProblemLogForTesting));
#endif
#if defined(HYBRID_LLM_STATIC_LLAMA)
    exports.Set("abortForTesting", Napi::Function::New(env, AbortForTesting));
#endif
    return exports;
}

}  // namespace

NODE_API_MODULE(hybrid_llm, Register)

// Shared pieces of the binding: llama.cpp log capture and error helpers.
#pragma once

#include <napi.h>

#include <algorithm>
#include <string>

#if defined(__EMSCRIPTEN__)
#include <emnapi.h>
#endif

// Error codes carried to JavaScript as `error.code`, mapped to typed errors by the backend package.
namespace error_code {
inline constexpr const char * invalid_argument = "HYBRID_LLM_INVALID_ARGUMENT";
inline constexpr const char * load_failed = "HYBRID_LLM_LOAD_FAILED";
inline constexpr const char * context_failed = "HYBRID_LLM_CONTEXT_FAILED";
inline constexpr const char * decode_failed = "HYBRID_LLM_DECODE_FAILED";
inline constexpr const char * no_memory_slot = "HYBRID_LLM_NO_MEMORY_SLOT";
inline constexpr const char * disposed = "HYBRID_LLM_DISPOSED";
inline constexpr const char * busy = "HYBRID_LLM_BUSY";
inline constexpr const char * aborted = "HYBRID_LLM_ABORTED";
inline constexpr const char * not_initialized = "HYBRID_LLM_NOT_INITIALIZED";
// What the model computes on is gone (an RPC server was lost): dispose the model and load it again.
inline constexpr const char * crashed = "HYBRID_LLM_CRASHED";
}  // namespace error_code

// Throws a JS Error with `code` set.
[[noreturn]] void throw_error(Napi::Env env, const char * code, const std::string & message);
Napi::Error make_error(Napi::Env env, const char * code, const std::string & message);

// llama.cpp's log, captured (thread-safe) so errors can quote llama.cpp's own reason and tests can read
// allocation lines. Lines at WARN and ERROR level are also kept apart as "recent problems".
void log_install();
std::string log_take_all();
std::string log_take_problems();
void log_set_echo(bool echo);
// Logs `text` at ERROR level as llama.cpp would (through the installed callback): for the binding's own tests.
void log_emit_error(const char * text);

// Throws unless llama.cpp has been loaded (init()).
void require_initialized(Napi::Env env);

// Makes writes into a typed array created here visible to JavaScript. Natively a no-op. On Wasm (emnapi) the data
// pointer of a JavaScript-owned buffer is a copy in wasm memory: copy it back. The array's ArrayBuffer is synced, not
// the view: emnapi 1.11 tells a view from a buffer by catching a TypeError, a stack capture per call (2-3 % of a
// small model's decode in Wasm, scripts/profile-wasm.mjs); the view sees the buffer's new bytes.
template <typename T>
Napi::TypedArrayOf<T> publish(Napi::Env env, Napi::TypedArrayOf<T> array) {
#if defined(__EMSCRIPTEN__)
    if (array.ElementLength() == 0) return array;
    if (array.ByteOffset() == 0) {  // (emnapi applies the offset to the JavaScript side only)
        napi_value buffer = array.ArrayBuffer();
        emnapi_sync_memory(env, false, &buffer, 0, array.ByteLength());
        return array;
    }
    napi_value value = array;
    emnapi_sync_memory(env, false, &value, 0, NAPI_AUTO_LENGTH);
    return Napi::TypedArrayOf<T>(env, value);
#else
    (void) env;
    return array;
#endif
}

// A new typed array holding a copy of `data`, visible to JavaScript on every platform.
template <typename T>
Napi::TypedArrayOf<T> output_array(Napi::Env env, const T * data, size_t count) {
    Napi::TypedArrayOf<T> array = Napi::TypedArrayOf<T>::New(env, count);
    if (count > 0) std::copy(data, data + count, array.Data());
    return publish(env, array);
}

#include "common.h"

#include <cstdio>
#include <mutex>

#include "llama-api.h"

Napi::Error make_error(Napi::Env env, const char * code, const std::string & message) {
    Napi::Error error = Napi::Error::New(env, message);
    error.Set("code", Napi::String::New(env, code));
    return error;
}

void throw_error(Napi::Env env, const char * code, const std::string & message) {
    throw make_error(env, code, message);
}

namespace {
std::mutex log_mutex;
std::string log_all;
// Problems are kept per thread: llama.cpp logs on the thread doing the work, so concurrent loads and decodes (each
// on its own worker thread) each read their own reasons, never another's.
thread_local std::string log_problems;
bool log_echo = false;
constexpr size_t log_limit = 4 << 20;  // keep the newest 4 MiB: a long-running server must not grow without bound

void trim(std::string & text) {
    if (text.size() > log_limit) text.erase(0, text.size() - log_limit);
}

void on_log(ggml_log_level level, const char * text, void *) {
    if (level == GGML_LOG_LEVEL_ERROR || level == GGML_LOG_LEVEL_WARN) {
        log_problems += text;
        trim(log_problems);
    }
    std::lock_guard<std::mutex> lock(log_mutex);
    log_all += text;
    trim(log_all);
    if (log_echo) fputs(text, stderr);
}
}  // namespace

void log_emit_error(const char * text) {
    on_log(GGML_LOG_LEVEL_ERROR, text, nullptr);
}

void log_install() {
    llama_api.llama_log_set(on_log, nullptr);
}

std::string log_take_all() {
    std::lock_guard<std::mutex> lock(log_mutex);
    std::string out;
    out.swap(log_all);
    return out;
}

std::string log_take_problems() {
    std::string out;
    out.swap(log_problems);
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    return out;
}

void log_set_echo(bool echo) {
    std::lock_guard<std::mutex> lock(log_mutex);
    log_echo = echo;
}

void require_initialized(Napi::Env env) {
    if (!llama_api.loaded) throw_error(env, error_code::not_initialized, "llama.cpp is not loaded: call init(libraryDir) first");
}

#include "rpc.h"

#include <mutex>

#if defined(__EMSCRIPTEN__) || defined(HYBRID_LLM_STATIC_LLAMA)

std::string rpc_add_servers(const std::string &, const std::vector<std::string> &, std::vector<ggml_backend_dev_t> &) {
    return "the RPC backend is not available in this build";
}

std::vector<uint64_t> rpc_failures(const std::vector<std::string> & endpoints) { return std::vector<uint64_t>(endpoints.size(), 0); }

#else

#include <dlfcn.h>

namespace {

using add_server_fn = ggml_backend_reg_t (*)(const char * endpoint);
using failures_fn = uint64_t (*)(const char * endpoint);
using load_fn = ggml_backend_reg_t (*)(const char * path);
using dev_count_fn = size_t (*)(ggml_backend_reg_t reg);
using dev_get_fn = ggml_backend_dev_t (*)(ggml_backend_reg_t reg, size_t index);
using proc_fn = void * (*)(ggml_backend_reg_t reg, const char * name);

std::mutex rpc_mutex;
std::string loaded_library;
add_server_fn add_server = nullptr;
failures_fn failures = nullptr;
dev_count_fn dev_count = nullptr;
dev_get_fn dev_get = nullptr;

// Called with rpc_mutex held.
std::string load_locked(const std::string & library) {
    if (add_server != nullptr) {
        return library == loaded_library ? "" : "the RPC backend is already loaded from " + loaded_library + " in this process";
    }
    if (llama_api.handle == nullptr) return "llama.cpp is not loaded";
    // ggml's registry functions live in libggml / libggml-base, dependencies of the libllama already loaded.
    auto load = reinterpret_cast<load_fn>(dlsym(llama_api.handle, "ggml_backend_load"));
    auto proc = reinterpret_cast<proc_fn>(dlsym(llama_api.handle, "ggml_backend_reg_get_proc_address"));
    dev_count = reinterpret_cast<dev_count_fn>(dlsym(llama_api.handle, "ggml_backend_reg_dev_count"));
    dev_get = reinterpret_cast<dev_get_fn>(dlsym(llama_api.handle, "ggml_backend_reg_dev_get"));
    if (load == nullptr || proc == nullptr || dev_count == nullptr || dev_get == nullptr) return "this llama.cpp build lacks ggml's backend registry";
    ggml_backend_reg_t reg = load(library.c_str());
    if (reg == nullptr) return "ggml_backend_load could not load " + library;
    add_server = reinterpret_cast<add_server_fn>(proc(reg, "ggml_backend_rpc_add_server"));
    failures = reinterpret_cast<failures_fn>(proc(reg, "hybrid_llm_rpc_failures"));
    if (add_server == nullptr || failures == nullptr) {
        add_server = nullptr;
        return library + " is not hybrid-llm's build of the RPC backend (no hybrid_llm_rpc_failures): an unpatched one aborts the process when a worker is lost";
    }
    loaded_library = library;
    return "";
}

}  // namespace

std::string rpc_add_servers(const std::string & library, const std::vector<std::string> & endpoints,
                            std::vector<ggml_backend_dev_t> & devices) {
    std::lock_guard<std::mutex> lock(rpc_mutex);
    const std::string error = load_locked(library);
    if (!error.empty()) return error;
    for (const std::string & endpoint : endpoints) {
        const uint64_t before = failures(endpoint.c_str());
        ggml_backend_reg_t reg = add_server(endpoint.c_str());
        if (reg == nullptr || failures(endpoint.c_str()) != before) {
            return "could not reach RPC server " + endpoint + " (is rpc-server running there, of the same llama.cpp release?)";
        }
        const size_t count = dev_count(reg);
        for (size_t i = 0; i < count; ++i) devices.push_back(dev_get(reg, i));
    }
    return "";
}

std::vector<uint64_t> rpc_failures(const std::vector<std::string> & endpoints) {
    std::lock_guard<std::mutex> lock(rpc_mutex);
    std::vector<uint64_t> counts(endpoints.size(), 0);
    if (failures == nullptr) return counts;
    for (size_t i = 0; i < endpoints.size(); ++i) counts[i] = failures(endpoints[i].c_str());
    return counts;
}

#endif

std::string rpc_lost_message(const std::vector<std::string> & endpoints, const std::vector<uint64_t> & before) {
    const std::vector<uint64_t> now = rpc_failures(endpoints);
    std::string list;
    for (size_t i = 0; i < endpoints.size(); ++i) {
        if (i >= before.size() || now[i] != before[i]) list += (list.empty() ? "" : ", ") + endpoints[i];
    }
    return "the connection to RPC server " + (list.empty() ? std::string("?") : list) +
           " was lost: the model's layers there are gone; dispose the model and load it again";
}

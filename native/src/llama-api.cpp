#include "llama-api.h"

#include <string>

LlamaApi llama_api;

#if defined(HYBRID_LLM_STATIC_LLAMA)

// Declared in src/llama-ext.h, defined in the statically linked libllama.
struct llama_memory_breakdown_data;
hybrid_llm_memory_breakdown llama_get_memory_breakdown(const llama_context * ctx);

std::string LlamaApi::load(const std::string &) {
#define HYBRID_LLM_ASSIGN(name) this->name = &::name;
    HYBRID_LLM_LLAMA_FUNCTIONS(HYBRID_LLM_ASSIGN)
#undef HYBRID_LLM_ASSIGN
    get_memory_breakdown = &llama_get_memory_breakdown;
    loaded = true;
    return "";
}

#else

#include <dirent.h>
#include <dlfcn.h>

namespace {

// The versioned file name (libllama.v0.4.0.so) differs between releases: take whatever libllama*.so is there.
std::string find_library(const std::string & dir, const std::string & prefix, const std::string & suffix) {
    DIR * handle = opendir(dir.c_str());
    if (handle == nullptr) return "";
    std::string found;
    while (dirent * entry = readdir(handle)) {
        const std::string name = entry->d_name;
        if (name.rfind(prefix, 0) == 0 && name.size() > suffix.size() &&
            name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0 && name.find("common") == std::string::npos) {
            found = name;
            break;
        }
    }
    closedir(handle);
    return found.empty() ? "" : dir + "/" + found;
}

}  // namespace

std::string LlamaApi::load(const std::string & dir) {
    if (loaded) {
        return dir == library_dir ? "" : "llama.cpp is already loaded from " + library_dir + " in this process";
    }
#if defined(__APPLE__)
    const std::string path = find_library(dir, "libllama", ".dylib");
#else
    const std::string path = find_library(dir, "libllama", ".so");
#endif
    if (path.empty()) return "no libllama shared library in " + dir;
    void * handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) return std::string("dlopen failed: ") + dlerror();

    std::string missing;
#define HYBRID_LLM_RESOLVE(name)                                                          \
    this->name = reinterpret_cast<decltype(&::name)>(dlsym(handle, #name));               \
    if (this->name == nullptr) missing += std::string(missing.empty() ? "" : ", ") + #name;
    HYBRID_LLM_LLAMA_FUNCTIONS(HYBRID_LLM_RESOLVE)
#undef HYBRID_LLM_RESOLVE
    // C++ symbol (llama-ext.h): optional, only needed for exact allocation figures.
    get_memory_breakdown = reinterpret_cast<hybrid_llm_get_memory_breakdown_fn>(
        dlsym(handle, "_Z26llama_get_memory_breakdownPK13llama_context"));
    if (!missing.empty()) {
        dlclose(handle);
        return "libllama in " + dir + " lacks: " + missing;
    }
    library_dir = dir;
    this->handle = handle;
    loaded = true;
    return "";
}

#endif

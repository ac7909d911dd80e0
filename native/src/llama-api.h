// The llama.cpp / ggml C functions the binding calls, gathered in one table.
//
// Native (Node): libllama is dlopen()ed at run time from a directory chosen in JavaScript (CPU, CUDA, Vulkan or
// Metal build of node-llama-cpp's prebuilt binaries, or a source build), so one addon serves every GPU flavour.
// Wasm (emnapi): llama.cpp is linked statically and the table points straight at the functions
// (HYBRID_LLM_STATIC_LLAMA). Everything else in the binding is the same code.
#pragma once

#include <map>
#include <string>

#include "ggml-backend.h"
#include "llama.h"

#define HYBRID_LLM_LLAMA_FUNCTIONS(X)      \
    X(llama_backend_init)                  \
    X(llama_log_set)                       \
    X(llama_print_system_info)             \
    X(llama_supports_gpu_offload)          \
    X(llama_model_default_params)          \
    X(llama_context_default_params)        \
    X(llama_model_load_from_file)          \
    X(llama_model_load_from_file_ptr)      \
    X(llama_model_free)                    \
    X(llama_model_get_vocab)               \
    X(llama_model_n_ctx_train)             \
    X(llama_model_n_embd)                  \
    X(llama_model_n_layer)                 \
    X(llama_model_size)                    \
    X(llama_model_n_params)                \
    X(llama_model_is_recurrent)            \
    X(llama_model_is_hybrid)               \
    X(llama_model_chat_template)           \
    X(llama_model_desc)                    \
    X(llama_model_meta_val_str)            \
    X(llama_vocab_n_tokens)                \
    X(llama_vocab_bos)                     \
    X(llama_vocab_eos)                     \
    X(llama_vocab_eot)                     \
    X(llama_vocab_is_eog)                  \
    X(llama_vocab_get_add_bos)             \
    X(llama_tokenize)                      \
    X(llama_token_to_piece)                \
    X(llama_detokenize)                    \
    X(llama_init_from_model)               \
    X(llama_free)                          \
    X(llama_n_ctx)                         \
    X(llama_n_ctx_seq)                     \
    X(llama_n_batch)                       \
    X(llama_n_ubatch)                      \
    X(llama_n_seq_max)                     \
    X(llama_get_memory)                    \
    X(llama_memory_clear)                  \
    X(llama_memory_seq_rm)                 \
    X(llama_memory_seq_cp)                 \
    X(llama_memory_seq_keep)               \
    X(llama_memory_seq_add)                \
    X(llama_memory_seq_pos_min)            \
    X(llama_memory_seq_pos_max)            \
    X(llama_state_seq_get_size_ext)        \
    X(llama_state_seq_get_data_ext)        \
    X(llama_state_seq_set_data_ext)        \
    X(llama_batch_init)                    \
    X(llama_batch_free)                    \
    X(llama_decode)                        \
    X(llama_get_logits_ith)                \
    X(llama_sampler_chain_default_params)  \
    X(llama_sampler_chain_init)            \
    X(llama_sampler_chain_add)             \
    X(llama_sampler_apply)                 \
    X(llama_sampler_accept)                \
    X(llama_sampler_free)                  \
    X(llama_sampler_init_greedy)           \
    X(llama_sampler_init_dist)             \
    X(llama_sampler_init_top_k)            \
    X(llama_sampler_init_top_p)            \
    X(llama_sampler_init_min_p)            \
    X(llama_sampler_init_typical)          \
    X(llama_sampler_init_temp)             \
    X(llama_sampler_init_penalties)        \
    X(llama_sampler_init_logit_bias)       \
    X(llama_sampler_init_grammar)          \
    X(llama_set_n_threads)                 \
    X(llama_synchronize)                   \
    X(llama_max_devices)                   \
    X(ggml_backend_load_all_from_path)     \
    X(ggml_backend_dev_count)              \
    X(ggml_backend_dev_get)                \
    X(ggml_backend_dev_name)               \
    X(ggml_backend_dev_description)        \
    X(ggml_backend_dev_type)               \
    X(ggml_backend_dev_memory)             \
    X(ggml_backend_buft_name)

// llama.cpp's staging C++ API (src/llama-ext.h), declared here with the same layout: the only way to read the
// exact bytes llama.cpp allocated per buffer type (model, context = KV + recurrent state, compute).
struct hybrid_llm_memory_breakdown_data {
    size_t model = 0;
    size_t context = 0;
    size_t compute = 0;
};
using hybrid_llm_memory_breakdown = std::map<ggml_backend_buffer_type_t, hybrid_llm_memory_breakdown_data>;
using hybrid_llm_get_memory_breakdown_fn = hybrid_llm_memory_breakdown (*)(const llama_context *);

struct LlamaApi {
#define HYBRID_LLM_DECLARE(name) decltype(&::name) name = nullptr;
    HYBRID_LLM_LLAMA_FUNCTIONS(HYBRID_LLM_DECLARE)
#undef HYBRID_LLM_DECLARE
    hybrid_llm_get_memory_breakdown_fn get_memory_breakdown = nullptr;

    bool loaded = false;
    void * handle = nullptr;  // the dlopen()ed libllama (native only): optional symbols, ggml's registry (rpc.cpp)
    std::string library_dir;

    // Loads the functions from `<dir>/libllama*.so` (or links them statically on Wasm). Returns an error message,
    // empty on success.
    std::string load(const std::string & dir);
};

extern LlamaApi llama_api;

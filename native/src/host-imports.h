// The Wasm module's imports from its host, the binding's own (emnapi's napi_* / emnapi_* are separate). Supplied by
// packages/wasm/src/byte-sources.ts (byteSourceImports) to both modules; wasm/build.mjs forwards the same names to the
// multi-threaded one. packages/wasm/src/byte-sources.test.ts checks that the three lists agree.
#pragma once

#if defined(__EMSCRIPTEN__)
#include <napi.h>

#include <cstdint>

extern "C" {
// Model bytes read in chunks from outside linear memory (byte-source.cpp). open: the id of the bytes or path behind
// `value`, or a negative number when the host cannot serve it; size: their length; read: copies up to `length` bytes
// at `offset` into `target`, returns the count (0 at the end) or a negative number on error; close: the host forgets
// them.
__attribute__((import_module("env"), import_name("hybrid_llm_source_open"))) int32_t hybrid_llm_source_open(napi_value value);
__attribute__((import_module("env"), import_name("hybrid_llm_source_size"))) double hybrid_llm_source_size(int32_t id);
__attribute__((import_module("env"), import_name("hybrid_llm_source_read"))) int32_t hybrid_llm_source_read(int32_t id, double offset, void * target, uint32_t length);
__attribute__((import_module("env"), import_name("hybrid_llm_source_close"))) void hybrid_llm_source_close(int32_t id);
// A typed array's `length` bytes copied to `target` in linear memory (context.cpp's copy_array): 0, or nonzero when
// the host cannot (the caller then takes emnapi's data pointer).
__attribute__((import_module("env"), import_name("hybrid_llm_copy_view"))) int32_t hybrid_llm_copy_view(napi_value value, void * target, uint32_t length);
}
#endif

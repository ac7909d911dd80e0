// Model bytes given to Model.load() as a FILE * for llama_model_load_from_file_ptr().
#pragma once

#include <napi.h>

#include <cstdint>
#include <cstdio>
#include <vector>

// Natively: a copy of the caller's Uint8Array, taken on the JavaScript thread (the caller's buffer may be detached or
// changed while the worker thread reads), opened with fmemopen().
//
// On Wasm: the bytes stay in JavaScript, outside linear memory, and llama.cpp reads them through a stdio cookie whose
// read callback calls an imported JavaScript function (hybrid_llm_source_read) that copies [offset, offset + len) into
// the stdio buffer. Linear memory then holds the weights once, not the file and the weights. The JavaScript side
// (packages/wasm/src/byte-sources.ts) also accepts a path, read with positioned reads from the file. When the host
// does not provide the imports (they answer -ENOSYS), the Wasm build falls back to the copy.
class ByteSource {
public:
    ByteSource() = default;
    ByteSource(const ByteSource &) = delete;
    ByteSource & operator=(const ByteSource &) = delete;
    ~ByteSource() { release(); }

    // On the JavaScript thread. `value` is a TypedArray (bytes) or, on Wasm only, a string (a path the host reads);
    // returns false when a string cannot be served that way (natively always for a string).
    bool take(Napi::Env env, Napi::Value value);
    bool empty() const { return size == 0; }
    // A stream over the bytes (nullptr when it cannot be opened). Close it before release().
    FILE * open();
    // Frees the copy or tells the host it may drop the bytes; idempotent.
    void release();

private:
    std::vector<uint8_t> copy;
    int32_t host_id = -1;  // Wasm: the host's id of the bytes, -1 when the copy is used
    uint64_t size = 0;
    uint64_t position = 0;

    static ssize_t read_cookie(void * cookie, char * buffer, size_t length);
    static int seek_cookie(void * cookie, off_t * offset, int whence);
};

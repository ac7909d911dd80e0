// Host buffers for sequence states (getState): tens of MiB each for a hybrid model's recurrent state.
#pragma once

#include <napi.h>

#include <cstddef>

// A new, JavaScript-owned Uint8Array of `size` bytes for llama.cpp to write a state into. Natively on Linux, a large
// one is mapped with transparent huge pages asked for (madvise): writing 48 MiB into fresh memory otherwise takes
// ~12,000 page faults, which cost far more than the copy itself (measured on the development VM: 400-560 ms with
// 4 KiB pages, 35-250 ms with huge pages, against 3-18 ms for llama.cpp to write the bytes).
// Elsewhere (Wasm, other systems), a plain typed array.
Napi::Uint8Array new_state_buffer(Napi::Env env, size_t size);

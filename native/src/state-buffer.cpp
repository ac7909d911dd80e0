#include "state-buffer.h"

#if defined(__linux__) && !defined(__EMSCRIPTEN__)
#include <sys/mman.h>

#include <cstdint>

namespace {

constexpr size_t huge_page = size_t(2) << 20;

struct Mapping {
    void * base;
    size_t length;
};

}  // namespace

Napi::Uint8Array new_state_buffer(Napi::Env env, size_t size) {
    // Small states gain nothing from huge pages; keep them on the ordinary allocator.
    if (size < 4 * huge_page) return Napi::Uint8Array::New(env, size);
    // Over-map by one huge page so that the data starts on a 2 MiB boundary (huge pages only back aligned ranges).
    const size_t length = (size + huge_page - 1) / huge_page * huge_page + huge_page;
    void * base = mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) return Napi::Uint8Array::New(env, size);
    auto * data = reinterpret_cast<void *>((reinterpret_cast<uintptr_t>(base) + huge_page - 1) & ~(uintptr_t(huge_page) - 1));
    madvise(data, length - huge_page, MADV_HUGEPAGE);  // a hint: without THP the mapping still works, page by page
    auto * mapping = new Mapping{base, length};
    Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(
        env, data, size,
        [](Napi::Env finalize_env, void *, Mapping * hint) {
            Napi::MemoryManagement::AdjustExternalMemory(finalize_env, -static_cast<int64_t>(hint->length));
            munmap(hint->base, hint->length);
            delete hint;
        },
        mapping);
    // V8 does not see memory outside its heap: tell it, so that dropped states are collected under memory pressure.
    Napi::MemoryManagement::AdjustExternalMemory(env, static_cast<int64_t>(length));
    return Napi::Uint8Array::New(env, size, buffer, 0);
}

#else

Napi::Uint8Array new_state_buffer(Napi::Env env, size_t size) {
    return Napi::Uint8Array::New(env, size);
}

#endif

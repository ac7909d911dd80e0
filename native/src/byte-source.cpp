#include "byte-source.h"
#include "host-imports.h"

#include <algorithm>
#include <cerrno>

bool ByteSource::take(Napi::Env env, Napi::Value value) {
    release();
#if defined(__EMSCRIPTEN__)
    // No Napi::Uint8Array here: asking emnapi for the data pointer copies the whole buffer into linear memory.
    const int32_t id = hybrid_llm_source_open(value);
    if (id >= 0) {
        host_id = id;
        size = static_cast<uint64_t>(hybrid_llm_source_size(id));
        return true;
    }
#endif
    if (!value.IsTypedArray()) return false;
    auto array = value.As<Napi::Uint8Array>();
    copy.assign(array.Data(), array.Data() + array.ByteLength());
    size = copy.size();
    (void) env;
    return true;
}

FILE * ByteSource::open() {
    position = 0;
    if (host_id < 0) return copy.empty() ? nullptr : fmemopen(copy.data(), copy.size(), "rb");
#if defined(__EMSCRIPTEN__)
    return fopencookie(this, "rb", cookie_io_functions_t{&ByteSource::read_cookie, nullptr, &ByteSource::seek_cookie, nullptr});
#else
    return nullptr;
#endif
}

void ByteSource::release() {
    std::vector<uint8_t>().swap(copy);
#if defined(__EMSCRIPTEN__)
    if (host_id >= 0) hybrid_llm_source_close(host_id);
#endif
    host_id = -1;
    size = 0;
}

ssize_t ByteSource::read_cookie(void * cookie, char * buffer, size_t length) {
#if defined(__EMSCRIPTEN__)
    auto * self = static_cast<ByteSource *>(cookie);
    if (self->position >= self->size) return 0;
    const uint64_t left = self->size - self->position;
    const uint32_t want = static_cast<uint32_t>(std::min<uint64_t>({length, left, 1u << 30}));
    const int32_t got = hybrid_llm_source_read(self->host_id, static_cast<double>(self->position), buffer, want);
    if (got < 0) {
        errno = EIO;
        return -1;
    }
    self->position += static_cast<uint64_t>(got);
    return got;
#else
    (void) cookie;
    (void) buffer;
    (void) length;
    return -1;
#endif
}

int ByteSource::seek_cookie(void * cookie, off_t * offset, int whence) {
    auto * self = static_cast<ByteSource *>(cookie);
    int64_t base = 0;
    if (whence == SEEK_CUR) base = static_cast<int64_t>(self->position);
    else if (whence == SEEK_END) base = static_cast<int64_t>(self->size);
    else if (whence != SEEK_SET) return errno = EINVAL, -1;
    const int64_t target = base + static_cast<int64_t>(*offset);
    if (target < 0) return errno = EINVAL, -1;
    self->position = static_cast<uint64_t>(target);
    *offset = static_cast<off_t>(target);
    return 0;
}

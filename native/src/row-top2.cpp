#include "row-top2.h"

#include <cmath>
#include <cstdlib>
#include <cstring>

#include "vector-loop.h"

// The vector passes on x86-64 (HYBRID_LLM_PORTABLE_SWEEP / HYBRID_LLM_NO_AVX512_SWEEP: a harness builds the narrower
// ones, as for fast_pick's sweep).
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(HYBRID_LLM_PORTABLE_SWEEP)
#define HYBRID_LLM_ROW_TOP2_X86 1
#include <immintrin.h>
#endif

// The scan every decode row gets (greedy and margins), so it is short: on x86-64 two vector passes, each a reduction
// whose loop-carried chains are one max long: the largest value (NaN never wins), then, knowing it, the largest value
// below it, how many hold it and the first that does. The runner-up is the best again when two hold it, else the
// largest below. A row with no value above −inf (all −inf or NaN) has no best: index 0 and −inf, −inf. Elsewhere
// (Wasm), one pass of 24 lanes; every path gives the same result (`bench-fast-pick.mjs --asan` compares them on rows
// with NaN, −inf, +inf and ties).
namespace {

constexpr RowTop2 kNoBest{0, -INFINITY, -INFINITY};

// The portable scan: each of kLanes lanes keeps its own best (first index on a tie) and runner-up over the values
// t ≡ lane (mod kLanes), with the same strict comparisons as a scalar scan (NaN never wins); the lanes are merged at
// the end. 24 lanes: six SIMD128 vectors per step; real vocabularies leave a tail, which the same update takes.
constexpr uint32_t kLanes = 24;

struct Lanes {
    float best[kLanes];
    float second[kLanes];
    uint32_t index[kLanes];
};

HYBRID_LLM_INLINE void update(Lanes & lanes, uint32_t lane, float v, uint32_t t) {
    const bool better = v > lanes.best[lane];
    const bool runner = v > lanes.second[lane];
    lanes.second[lane] = better ? lanes.best[lane] : (runner ? v : lanes.second[lane]);
    lanes.index[lane] = better ? t : lanes.index[lane];
    lanes.best[lane] = better ? v : lanes.best[lane];
}

HYBRID_LLM_VECTOR_LOOP void scan(Lanes & out, const float * __restrict row, uint32_t full) {
    Lanes lanes = out;  // a local copy: the compiler keeps it in registers (through `out` it would have to assume the row
                        // aliases it, and store every lane back each step: a scalar loop)
    for (uint32_t t = 0; t < full; t += kLanes) {
        const float * block = row + t;  // a pointer step, not 32-bit index arithmetic (which could wrap): plain loads
        for (uint32_t lane = 0; lane < kLanes; ++lane) update(lanes, lane, block[lane], t + lane);
    }
    out = lanes;
}

RowTop2 row_top2_portable(const float * row, uint32_t n) {
    Lanes lanes;
    for (uint32_t lane = 0; lane < kLanes; ++lane) {
        lanes.best[lane] = -INFINITY;
        lanes.second[lane] = -INFINITY;
        lanes.index[lane] = 0;
    }
    const uint32_t full = n - n % kLanes;
    scan(lanes, row, full);
    for (uint32_t t = full; t < n; ++t) update(lanes, t - full, row[t], t);
    // The best lane (the smallest index among equal values), then the runner-up: that lane's own, or another's best.
    uint32_t winner = 0;
    for (uint32_t lane = 1; lane < kLanes; ++lane) {
        const bool higher = lanes.best[lane] > lanes.best[winner];
        const bool tie_earlier = lanes.best[lane] == lanes.best[winner] && lanes.index[lane] < lanes.index[winner];
        if (higher || tie_earlier) winner = lane;
    }
    float second = lanes.second[winner];
    for (uint32_t lane = 0; lane < kLanes; ++lane) {
        if (lane != winner && lanes.best[lane] > second) second = lanes.best[lane];
    }
    if (!(lanes.best[winner] > -INFINITY)) return kNoBest;
    return {lanes.index[winner], plus_zero(lanes.best[winner]), plus_zero(second)};
}

#if defined(HYBRID_LLM_ROW_TOP2_X86)
// The tail of a row (fewer values than a vector) in both passes: one value at a time, the same comparisons.
float tail_max(const float * row, uint32_t from, uint32_t n, float best) {
    for (uint32_t t = from; t < n; ++t) best = row[t] > best ? row[t] : best;
    return best;
}

// The same with AVX2 (MAXPS has the same NaN rule): the largest of eight lanes.
__attribute__((target("avx2"))) float hmax256(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
    return _mm_cvtss_f32(m);
}

// The AVX-512 intrinsics used here in their masked forms, all lanes on: GCC 12's plain forms start from
// _mm512_undefined_*(), which -Wall reports as used uninitialized.
__attribute__((target("avx512f"))) inline __m512 max512(__m512 a, __m512 b) { return _mm512_mask_max_ps(a, 0xFFFF, a, b); }

// The largest of sixteen lanes.
__attribute__((target("avx512f"))) float hmax512(__m512 v) {
    const __m512 swapped = _mm512_mask_shuffle_f32x4(v, 0xFFFF, v, v, 0x4E);  // the 256-bit halves exchanged
    const __m256d low = _mm512_mask_extractf64x4_pd(_mm256_setzero_pd(), 0xFF, _mm512_castps_pd(max512(v, swapped)), 0);
    return hmax256(_mm256_castpd_ps(low));
}

// MAXPS(v, acc) is v > acc ? v : acc: a NaN value leaves the accumulator as it was.
__attribute__((target("avx512f"))) float row_max_avx512(const float * row, uint32_t n) {
    const uint32_t full = n - n % 64;
    __m512 a = _mm512_set1_ps(-INFINITY), b = a, c = a, d = a;
    for (uint32_t t = 0; t < full; t += 64) {
        a = max512(_mm512_loadu_ps(row + t), a);
        b = max512(_mm512_loadu_ps(row + t + 16), b);
        c = max512(_mm512_loadu_ps(row + t + 32), c);
        d = max512(_mm512_loadu_ps(row + t + 48), d);
    }
    return tail_max(row, full, n, hmax512(max512(max512(a, b), max512(c, d))));
}

__attribute__((target("avx512f"))) RowTop2 row_top2_avx512(const float * row, uint32_t n) {
    const float max = row_max_avx512(row, n);
    if (!(max > -INFINITY)) return kNoBest;
    const __m512 vmax = _mm512_set1_ps(max);
    const uint32_t full16 = n - n % 16;
    BelowMax out;
    __m512 below = _mm512_set1_ps(-INFINITY);
    for (uint32_t t = 0; t < full16; t += 16) {
        const __m512 v = _mm512_loadu_ps(row + t);
        below = _mm512_mask_max_ps(below, _mm512_cmp_ps_mask(v, vmax, _CMP_LT_OQ), v, below);
        out.note(t, _mm512_cmp_ps_mask(v, vmax, _CMP_EQ_OQ));
    }
    out.below = hmax512(below);
    out.tail(row, full16, n, max);
    return out.top2(max);
}

__attribute__((target("avx2"))) float row_max_avx2(const float * row, uint32_t n) {
    const uint32_t full = n - n % 32;
    __m256 a = _mm256_set1_ps(-INFINITY), b = a, c = a, d = a;
    for (uint32_t t = 0; t < full; t += 32) {
        a = _mm256_max_ps(_mm256_loadu_ps(row + t), a);
        b = _mm256_max_ps(_mm256_loadu_ps(row + t + 8), b);
        c = _mm256_max_ps(_mm256_loadu_ps(row + t + 16), c);
        d = _mm256_max_ps(_mm256_loadu_ps(row + t + 24), d);
    }
    return tail_max(row, full, n, hmax256(_mm256_max_ps(_mm256_max_ps(a, b), _mm256_max_ps(c, d))));
}

__attribute__((target("avx2"))) RowTop2 row_top2_avx2(const float * row, uint32_t n) {
    const float max = row_max_avx2(row, n);
    if (!(max > -INFINITY)) return kNoBest;
    const __m256 vmax = _mm256_set1_ps(max);
    const __m256 none = _mm256_set1_ps(-INFINITY);
    const uint32_t full8 = n - n % 8;
    BelowMax out;
    __m256 below = none;
    for (uint32_t t = 0; t < full8; t += 8) {
        const __m256 v = _mm256_loadu_ps(row + t);
        below = _mm256_max_ps(_mm256_blendv_ps(none, v, _mm256_cmp_ps(v, vmax, _CMP_LT_OQ)), below);
        out.note(t, static_cast<unsigned>(_mm256_movemask_ps(_mm256_cmp_ps(v, vmax, _CMP_EQ_OQ))));
    }
    out.below = hmax256(below);
    out.tail(row, full8, n, max);
    return out.top2(max);
}

// By the CPU, or narrower where HYBRID_LLM_FAST_PICK_SWEEP says (read when the addon loads; the tests force each).
enum class Path { portable, avx2, avx512 };
const Path path = [] {
    __builtin_cpu_init();
    const char * forced = std::getenv("HYBRID_LLM_FAST_PICK_SWEEP");
    if (forced != nullptr && std::strcmp(forced, "portable") == 0) return Path::portable;
    if (forced != nullptr && std::strcmp(forced, "avx2") == 0 && __builtin_cpu_supports("avx2")) return Path::avx2;
#if !defined(HYBRID_LLM_NO_AVX512_SWEEP)
    if (__builtin_cpu_supports("avx512f")) return Path::avx512;
#endif
    if (__builtin_cpu_supports("avx2")) return Path::avx2;
    return Path::portable;
}();
#endif

}  // namespace

RowTop2 row_top2(const float * row, uint32_t n) {
#if defined(HYBRID_LLM_ROW_TOP2_X86)
    if (path == Path::avx512) return row_top2_avx512(row, n);
    if (path == Path::avx2) return row_top2_avx2(row, n);
#endif
    return row_top2_portable(row, n);
}

float row_max(const float * row, uint32_t n) {
#if defined(HYBRID_LLM_ROW_TOP2_X86)
    if (path == Path::avx512) return plus_zero(row_max_avx512(row, n));
    if (path == Path::avx2) return plus_zero(row_max_avx2(row, n));
#endif
    return row_top2_portable(row, n).best_value;
}

#include "fast-pick.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <optional>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(HYBRID_LLM_PORTABLE_SWEEP)
#define HYBRID_LLM_X86_SWEEPS 1
#include <immintrin.h>
#elif defined(__wasm_simd128__) && !defined(HYBRID_LLM_PORTABLE_SWEEP)
#include <wasm_simd128.h>
#endif

#include "llama.h"
#include "vector-loop.h"

// How it matches llama.cpp's chain (llama-sampler.cpp at the pinned release), step by step, on the candidates
// x = logit − max (the max is 0):
//   top-k:  the k largest, sorted descending;                       here: a prefix of the depth-bucketed order
//   top-p:  p_i = expf(x_i) / Σ, cumulated in sorted order until ≥ p; here: bucket sums and a scan of one bucket,
//           over the candidates within 12 logits of the max when the nucleus ends there (nucleus_pick)
//   min-p:  keeps x ≥ logf(min_p) (sorted: a prefix; else in token order);  here: the same
//   temp:   x /= T;  dist: w_i = expf(x_i / T), one uniform_real_distribution<double> draw u, and the first candidate,
//           in the array's order (sorted when top-k or top-p ran, else token order), whose running sum reaches u Σw.
// The depth buckets (kPerLogit per logit below the max) keep the sorted order between buckets, so only the one bucket
// a cumulative sum ends in is sorted. Same order, same weights up to the last bit of exp, same single draw per token:
// the same token for the same seed, except where two candidates tie on the exact same logit (std::sort's order) or
// a running sum lands within rounding of a boundary: sums here are in double, as the draw's are in llama.cpp, but its
// top-p cumulates floats, which on a wide, flat nucleus differs in ~0.4 % of draws (bench-fast-pick --spread 3,18).
//
// The one sweep over the row keeps the candidates shallower than the depth past which even the whole vocabulary would
// hold < 1e-7 of the best candidate's mass (at the flattest temperature the chain computes): what it leaves out
// moves no probability by more than float rounding. The bucket path prunes further, from the bucket counts.
//
// Every chain without top-k (top-p alone, the server's common chain, and token order: the OpenAI defaults) first tries
// a cheaper sweep (bounded_nucleus_pick): it needs e^x only for the candidates within 12 logits of the max, and only
// bounds on what the others weigh, which decide the token in nearly every row of the fixture (and of a peaked model);
// else the gather sweep decides.
//
// Where the time goes, on a 131,072-token row: the sweep (a compare and two packed stores per 16 logits), one exp per
// gathered candidate for top-p's total, and the bucket path over the nucleus's neighbourhood. The real-vocab
// fixture's rows gather ~20,000; rows with a trained model's spread gather nearly all (bench-fast-pick --spread).
// The bounded sweep instead does five vector operations per 16 logits and no stores, and exp over ~150-700 (the
// fixture's near candidates).

// The vectorized loops: HYBRID_LLM_VECTOR_LOOP (vector-loop.h).

namespace {

constexpr int kChunk = 256;             // logits per vectorized block
constexpr int kPerLogit = 16;           // depth buckets per logit (at the prune scale)
constexpr int kBuckets = 64 * kPerLogit;  // live buckets; the last also holds everything deeper
constexpr double kTail = 1e-7;          // the pruned mass bound, relative to the best candidate

// Where the top-p path looks for the nucleus first (x = logit − max, at temperature 1): among the candidates at least
// this deep (a trained model's row has hundreds to a few thousand there, of its 100,000+). A nucleus reaching deeper,
// or more than kMaxNucleus candidates above it, is left to the bucket path over every candidate.
constexpr float kNucleusFloor = -12.0f;
constexpr size_t kMaxNucleus = 16384;

// The bounded sweep's stand-in for e^x below the floor (mass_bound): e^x = 2^t, t = x / ln 2, and the float whose bits
// are the integer floor(2^23 (t + 127)) is 2^k (1 + f), k = floor(t), f = t − k, which lies between 2^t and 1.0615 × 2^t
// (the chord of the convex 2^f over [0, 1] is at most 1.061476 × it, at f = 1 / ln 2 − 1). x is clamped at −87 (so the
// integer stays positive: 2^23 (127 − 87 / ln 2) > 0), and the arithmetic's rounding (the product and the sum near 2^30,
// ±192 units of 2^−23 in t, a relative 1.6e−5) is inside kBoundSlack.
constexpr float kBoundScale = 12102203.0f;    // 2^23 / ln 2
constexpr float kBoundBias = 1065353216.0f;   // 127 × 2^23
constexpr float kBoundClamp = -87.0f;
constexpr double kBoundChord = 1.0615;
constexpr double kBoundSlack = 1e-4;

using Candidate = FastPickScratch::Candidate;

// What the sweep notes besides the candidates, for the top-p path: the blocks of logits holding one shallower than
// `limit` (depth units, as the sweep's own limit), as the output position each such block's candidates start at.
// Branch-free: every block writes its position, the count moves past the marked ones (and on past kMaxNearBlocks,
// where the writes stop moving: then too many are near for the top-p path to want them).
constexpr size_t kMaxNearBlocks = 4096;
struct NearBlocks {
    float limit = 0;
    uint32_t * starts = nullptr;  // room for kMaxNearBlocks + 1
    size_t count = 0;
    size_t width = 0;  // the most candidates one block puts out (its logits)
    bool wanted = true;  // whether the pick reads the marks (top-p without top-k): the x86 sweeps skip them otherwise
};

// The marking, on a local copy of the count (through the struct, every vector store in a sweep, which may alias
// anything, would make the compiler reload and store it).
HYBRID_LLM_INLINE void mark_near(uint32_t * starts, size_t & count, size_t position, bool near) {
    starts[count < kMaxNearBlocks ? count : kMaxNearBlocks] = static_cast<uint32_t>(position);
    count += near ? 1 : 0;
}

// e^x for x ≤ 0 (clamped at −86, where it is 2^−124): Cody–Waite reduction and Cephes' expf polynomial, a few ulp
// from libm's expf, written so the compiler vectorizes it (no branches, no calls).
HYBRID_LLM_INLINE float exp_neg(float x) {
    x = x > -86.0f ? x : -86.0f;
    const float k = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;  // round(x / ln 2): |x / ln 2| < 2^22
    const float r = (x - k * 0.693359375f) + k * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t bits;
    std::memcpy(&bits, &p, sizeof bits);
    bits += static_cast<int32_t>(k) * (1 << 23);
    std::memcpy(&p, &bits, sizeof p);
    return p;
}

// The depth bucket of x = logit − max: floor(−x × scale), clamped to [0, kBuckets − 1]. Monotone: a larger logit
// never lands in a deeper bucket.
HYBRID_LLM_INLINE int depth_bucket(float x, float scale) {
    float depth = -x * scale;
    depth = depth > 0.0f ? depth : 0.0f;
    depth = depth < static_cast<float>(kBuckets - 1) ? depth : static_cast<float>(kBuckets - 1);
    return static_cast<int>(depth);
}

// Whether each of kChunk logits is shallower than `limit` buckets below the max (never −inf or NaN); returns whether
// any is shallower than `near`.
HYBRID_LLM_VECTOR_LOOP_512 bool chunk_keep(const float * logits, float max_logit, float scale, float limit, float near, uint8_t * keep) {
    uint8_t any = 0;
    for (int i = 0; i < kChunk; ++i) {
        const float depth = -(logits[i] - max_logit) * scale;
        keep[i] = depth < limit ? 1 : 0;
        any |= depth < near ? 1 : 0;
    }
    return any != 0;
}

// Their depth buckets (branch-free, vectorized where the target can).
HYBRID_LLM_VECTOR_LOOP_512 void gathered_depths(const float * xs, size_t n, float scale, uint16_t * buckets) {
    for (size_t i = 0; i < n; ++i) buckets[i] = static_cast<uint16_t>(depth_bucket(xs[i], scale));
}

// The one sweep over the whole row: the token ids and x = logit − max of the logits shallower than `limit` buckets,
// in token order (branch-free: every id is written, the cursor moves past the kept ones). Only the test runs over the
// whole row; the buckets are computed afterwards for the kept ones (gathered_depths). Every path does the same float
// operations, so it keeps the same candidates with the same x. Room for n_vocab + kChunk entries in each output.
size_t gather_portable(const float * logits, uint32_t n_vocab, float max_logit, float scale, float limit, int32_t * ids, float * xs, NearBlocks & near) {
    alignas(64) uint8_t keep[kChunk];
    alignas(64) float padded[kChunk];
    near.width = kChunk;
    size_t n = 0;
    for (uint32_t first = 0; first < n_vocab; first += kChunk) {
        const float * block = logits + first;
        if (n_vocab - first < kChunk) {
            std::fill(padded, padded + kChunk, -INFINITY);
            std::copy(logits + first, logits + n_vocab, padded);
            block = padded;
        }
        mark_near(near.starts, near.count, n, chunk_keep(block, max_logit, scale, limit, near.limit, keep));
        for (int i = 0; i < kChunk; ++i) {
            ids[n] = static_cast<int32_t>(first + i);
            n += keep[i];
        }
    }
    for (size_t i = 0; i < n; ++i) xs[i] = logits[ids[i]] - max_logit;
    return n;
}

// The bounded sweep, for chains without top-k (bounded_nucleus_pick): instead of gathering every candidate above the
// prune depth (for top-p's total, or a walk in token order), it notes where the near ones are (at or above
// kNucleusFloor: the blocks of the sweep's width holding one, and which of their lanes), and bounds what all the others
// weigh with a sum of mass_bound, which is between e^x and 1.0615 e^x: no exp and no stores for the ~20,000-130,000
// deep candidates, and no branch (whether a block holds a near candidate is as unpredictable as it is rare).
// extract_near then gathers the near ones.
struct NearSweep {
    size_t blocks = 0;  // blocks holding a near candidate, noted in `masks`
    double far = 0;     // Σ mass_bound(y) over every other logit of the row that weighs anything
};

// What a bounded sweep weighs, at y = x × inv_t (x = logit − max): the near candidates have y ≥ kNucleusFloor and
// x ≥ min_x; every other logit with x ≥ min_x is bounded by mass_bound(y); those below min_x weigh nothing (min-p).
// Top-p alone: inv_t 1 (its total is at temperature 1), no min_x. Token order: 1 / temperature, min-p's floor, and
// the bounds' sums per chunk of kChunk tokens too (chunk_far, room for one per chunk).
struct BoundedWeights {
    float max_logit;
    float inv_t = 1.0f;
    float min_x = -INFINITY;
    double * chunk_far = nullptr;
};

// A block's near lanes, noted branch-free: every block writes its entry (first token id, lane mask), and the count moves
// past the ones with a near lane.
HYBRID_LLM_INLINE void note_near(uint64_t * masks, size_t & count, uint32_t first, unsigned lanes) {
    masks[count] = first | (static_cast<uint64_t>(lanes) << 32);
    count += lanes != 0 ? 1 : 0;
}

// The near candidates of the noted blocks, in token order: ids, and x = logit − max as the gather sweep computes it.
size_t extract_near(const uint64_t * masks, size_t blocks, const float * logits, float max_logit, int32_t * ids, float * xs) {
    size_t n = 0;
    for (size_t b = 0; b < blocks; ++b) {
        const uint32_t first = static_cast<uint32_t>(masks[b]);
        uint32_t lanes = static_cast<uint32_t>(masks[b] >> 32);
        do {  // (sparse rows: mostly one lane, so the loop is predictable)
            const uint32_t id = first + static_cast<uint32_t>(__builtin_ctz(lanes));
            ids[n] = static_cast<int32_t>(id);
            xs[n] = logits[id] - max_logit;
            ++n;
            lanes &= lanes - 1;
        } while (lanes != 0);
    }
    return n;
}

HYBRID_LLM_INLINE float mass_bound(float x) {
    x = x > kBoundClamp ? x : kBoundClamp;  // (NaN: the clamp; what it adds, 2^−125, changes no bound)
    const int32_t bits = static_cast<int32_t>(x * kBoundScale + kBoundBias);
    float s;
    std::memcpy(&s, &bits, sizeof s);
    return s;
}

// One block of kChunk logits: mass_bound of those below the floor, 0 for the near ones, which are flagged 1; whether
// any is near.
HYBRID_LLM_VECTOR_LOOP_512 bool chunk_bounds(const float * block, const BoundedWeights & weigh, float * bounds, uint8_t * near_flags) {
    const float max_logit = weigh.max_logit;
    const float inv_t = weigh.inv_t;
    const float min_x = weigh.min_x;
    uint8_t any = 0;
    for (int i = 0; i < kChunk; ++i) {
        const float x = block[i] - max_logit;
        const float y = x * inv_t;
        const bool kept = x >= min_x;
        const bool near = kept & (y >= kNucleusFloor);
        any |= near ? 1 : 0;
        near_flags[i] = near ? 1 : 0;
        bounds[i] = kept & !near ? mass_bound(y) : 0.0f;
    }
    return any != 0;
}

// Eight 0/1 flags (bytes, the first lowest: little-endian, as x86 and Wasm are) as eight bits: the multiply moves flag
// j to bit 56 + j, with nothing below carrying into them.
HYBRID_LLM_INLINE unsigned flag_bits(const uint8_t * flags) {
    static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "flag_bits reads bytes as a little-endian word");
    uint64_t word;
    std::memcpy(&word, flags, sizeof word);
    return static_cast<unsigned>((word * 0x0102040810204080ull) >> 56);
}

// Their sum, in 16 float lanes (16 terms a lane; the blocks are added in double).
HYBRID_LLM_VECTOR_LOOP_512 double chunk_sum(const float * bounds) {
    float lanes[16] = {};
    for (int i = 0; i < kChunk; i += 16) {
        for (int j = 0; j < 16; ++j) lanes[j] += bounds[i + j];
    }
    double sum = 0;
    for (float lane : lanes) sum += lane;
    return sum;
}

// Portable (and Wasm): blocks of 16 lanes, noted only within the chunks holding a near candidate.
NearSweep bounded_portable(const float * logits, uint32_t n_vocab, const BoundedWeights & weigh, uint64_t * masks) {
    alignas(64) float padded[kChunk];
    alignas(64) float bounds[kChunk];
    alignas(64) uint8_t near_flags[kChunk];
    NearSweep out;
    size_t blocks = 0;
    for (uint32_t first = 0; first < n_vocab; first += kChunk) {
        const float * block = logits + first;
        if (n_vocab - first < kChunk) {
            std::fill(padded, padded + kChunk, -INFINITY);
            std::copy(logits + first, logits + n_vocab, padded);
            block = padded;
        }
        const bool marked = chunk_bounds(block, weigh, bounds, near_flags);
        const double far = chunk_sum(bounds);
        out.far += far;
        if (weigh.chunk_far != nullptr) weigh.chunk_far[first / kChunk] = far;
        if (!marked) continue;
        for (int i = 0; i < kChunk; i += 16) {
            note_near(masks, blocks, first + static_cast<uint32_t>(i), flag_bits(near_flags + i) | flag_bits(near_flags + i + 8) << 8);
        }
    }
    out.blocks = blocks;
    return out;
}

#if defined(HYBRID_LLM_X86_SWEEPS)
// The same sweep with AVX2: per 8 logits, the kept lanes' ids and x are packed to the front (a permutation from a table
// indexed by the keep mask) and stored whole; the cursor moves by the kept count. The same float operations as
// chunk_keep (a subtraction, a negation, a multiplication; no FMA), so the same ids.
struct PackTable {
    alignas(32) int32_t lanes[256][8];
    PackTable() {
        for (int mask = 0; mask < 256; ++mask) {
            int n = 0;
            for (int lane = 0; lane < 8; ++lane) {
                if (mask & (1 << lane)) lanes[mask][n++] = lane;
            }
            for (; n < 8; ++n) lanes[mask][n] = 0;
        }
    }
};
const PackTable pack_table;

template <bool kAtMax, bool kNear>
__attribute__((target("avx2"))) size_t gather_avx2(const float * logits, uint32_t n_vocab, float max_logit, float scale, float limit, int32_t * ids, float * xs, NearBlocks & near, BelowMax * at_max) {
    const __m256 vmax = _mm256_set1_ps(max_logit);
    const __m256 vscale = _mm256_set1_ps(scale);
    const __m256 vlimit = _mm256_set1_ps(limit);
    const __m256 vnear = _mm256_set1_ps(near.limit);
    uint32_t * const starts = near.starts;
    size_t near_count = 0;
    near.width = 8;
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256 none = _mm256_set1_ps(-INFINITY);
    __m256 below = none;
    const __m256i step = _mm256_set1_epi32(8);
    __m256i vid = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    size_t n = 0;
    alignas(32) float padded[8];
    const uint32_t full = n_vocab - n_vocab % 8;
    for (uint32_t first = 0; first < n_vocab; first += 8) {
        const float * block = logits + first;
        if (first >= full) {
            std::fill(padded, padded + 8, -INFINITY);
            std::copy(logits + first, logits + n_vocab, padded);
            block = padded;
        }
        const __m256 v = _mm256_loadu_ps(block);
        if constexpr (kAtMax) {
            below = _mm256_max_ps(_mm256_blendv_ps(none, v, _mm256_cmp_ps(v, vmax, _CMP_LT_OQ)), below);
            at_max->note(first, static_cast<unsigned>(_mm256_movemask_ps(_mm256_cmp_ps(v, vmax, _CMP_EQ_OQ))));
        }
        const __m256 x = _mm256_sub_ps(v, vmax);
        const __m256 depth = _mm256_mul_ps(_mm256_xor_ps(x, sign), vscale);  // −x × scale
        const int mask = _mm256_movemask_ps(_mm256_cmp_ps(depth, vlimit, _CMP_LT_OQ));
        if constexpr (kNear) mark_near(starts, near_count, n, _mm256_movemask_ps(_mm256_cmp_ps(depth, vnear, _CMP_LT_OQ)) != 0);
        // Branch-free (whether a block keeps anything is unpredictable): an empty mask stores lanes the cursor
        // does not move past.
        const __m256i perm = _mm256_load_si256(reinterpret_cast<const __m256i *>(pack_table.lanes[mask]));
        _mm256_storeu_ps(xs + n, _mm256_permutevar8x32_ps(x, perm));
        _mm256_storeu_si256(reinterpret_cast<__m256i *>(ids + n), _mm256_permutevar8x32_epi32(vid, perm));
        n += static_cast<size_t>(__builtin_popcount(static_cast<unsigned>(mask)));
        vid = _mm256_add_epi32(vid, step);
    }
    near.count = near_count;
    if constexpr (kAtMax) {
        alignas(32) float lanes[8];
        _mm256_store_ps(lanes, below);
        at_max->merge_below(lanes, 8);
    }
    return n;
}

// AVX-512: 16 logits a step, the kept ids and x packed by vpcompressd / vcompressps (into a register, then one store: a compressing
// store to memory is slow on some cores). The same float operations again.
template <bool kAtMax, bool kNear>
__attribute__((target("avx512f"))) size_t gather_avx512(const float * logits, uint32_t n_vocab, float max_logit, float scale, float limit, int32_t * ids, float * xs, NearBlocks & near, BelowMax * at_max) {
    const __m512 vmax = _mm512_set1_ps(max_logit);
    const __m512 vscale = _mm512_set1_ps(scale);
    const __m512 vlimit = _mm512_set1_ps(limit);
    const __m512 vnear = _mm512_set1_ps(near.limit);
    uint32_t * const starts = near.starts;
    size_t near_count = 0;
    near.width = 16;
    const __m512i sign = _mm512_set1_epi32(static_cast<int32_t>(0x80000000u));
    __m512 below = _mm512_set1_ps(-INFINITY);
    const __m512i step = _mm512_set1_epi32(16);
    __m512i vid = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    size_t n = 0;
    const uint32_t full = n_vocab - n_vocab % 16;
    for (uint32_t first = 0; first < n_vocab; first += 16) {
        __m512 v;
        if (first < full) {
            v = _mm512_loadu_ps(logits + first);
        } else {  // the tail: the missing lanes read as −inf, which is never kept
            const __mmask16 valid = static_cast<__mmask16>((1u << (n_vocab - first)) - 1);
            v = _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), valid, logits + first);
        }
        if constexpr (kAtMax) {  // (the tail's −inf lanes are below the max, and change nothing)
            below = _mm512_mask_max_ps(below, _mm512_cmp_ps_mask(v, vmax, _CMP_LT_OQ), v, below);
            at_max->note(first, _mm512_cmp_ps_mask(v, vmax, _CMP_EQ_OQ));
        }
        const __m512 x = _mm512_sub_ps(v, vmax);
        const __m512 negated = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(x), sign));
        const __m512 depth = _mm512_mul_ps(negated, vscale);
        const __mmask16 keep = _mm512_cmp_ps_mask(depth, vlimit, _CMP_LT_OQ);
        if constexpr (kNear) mark_near(starts, near_count, n, _mm512_cmp_ps_mask(depth, vnear, _CMP_LT_OQ) != 0);
        _mm512_storeu_ps(xs + n, _mm512_maskz_compress_ps(keep, x));
        _mm512_storeu_si512(ids + n, _mm512_maskz_compress_epi32(keep, vid));
        n += static_cast<size_t>(__builtin_popcount(static_cast<unsigned>(keep)));
        vid = _mm512_add_epi32(vid, step);
    }
    near.count = near_count;
    if constexpr (kAtMax) {
        alignas(64) float lanes[16];
        _mm512_store_ps(lanes, below);
        at_max->merge_below(lanes, 16);
    }
    return n;
}

// The bounded sweep (bounded_portable) with AVX2 and AVX-512: the same comparisons lane by lane, each vector's near
// lanes noted branch-free (note_near), and the mass bound summed in two vectors of float lanes per block of kChunk
// logits, the blocks in double.
template <bool kTokenOrder>
__attribute__((target("avx2"))) NearSweep bounded_avx2(const float * logits, uint32_t n_vocab, const BoundedWeights & weigh, uint64_t * masks) {
    const __m256 vmax = _mm256_set1_ps(weigh.max_logit);
    const __m256 vinv_t = _mm256_set1_ps(weigh.inv_t);
    const __m256 vmin_x = _mm256_set1_ps(weigh.min_x);
    const __m256 vfloor = _mm256_set1_ps(kNucleusFloor);
    const __m256 vclamp = _mm256_set1_ps(kBoundClamp);
    const __m256 vbound_scale = _mm256_set1_ps(kBoundScale);
    const __m256 vbound_bias = _mm256_set1_ps(kBoundBias);
    NearSweep out;
    size_t blocks = 0;
    alignas(32) float padded[8];
    const uint32_t full = n_vocab - n_vocab % 8;
    for (uint32_t chunk = 0; chunk < n_vocab; chunk += kChunk) {
        const uint32_t end = std::min<uint32_t>(n_vocab, chunk + kChunk);
        __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
        for (uint32_t first = chunk; first < end; first += 16) {  // two vectors a step, as bounded_avx512
#pragma GCC unroll 2
            for (int u = 0; u < 2; ++u) {
                const uint32_t at = first + 8 * u;
                const float * block = logits + at;
                if (at >= full) {  // the tail (and past the end): −inf lanes
                    std::fill(padded, padded + 8, -INFINITY);
                    if (at < n_vocab) std::copy(logits + at, logits + n_vocab, padded);
                    block = padded;
                }
                const __m256 x = _mm256_sub_ps(_mm256_loadu_ps(block), vmax);
                __m256 y = x;
                __m256 near = _mm256_cmp_ps(x, vfloor, _CMP_GE_OQ);
                __m256 skip = near;  // lanes the bound leaves out: the near ones, and in token order what min-p drops
                if constexpr (kTokenOrder) {
                    y = _mm256_mul_ps(x, vinv_t);
                    const __m256 kept = _mm256_cmp_ps(x, vmin_x, _CMP_GE_OQ);
                    near = _mm256_and_ps(kept, _mm256_cmp_ps(y, vfloor, _CMP_GE_OQ));
                    skip = _mm256_or_ps(near, _mm256_xor_ps(kept, _mm256_castsi256_ps(_mm256_set1_epi32(-1))));
                }
                note_near(masks, blocks, at, static_cast<unsigned>(_mm256_movemask_ps(near)));
                // max(y, clamp) is the clamp for NaN (MAXPS returns its second operand when either is NaN)
                const __m256 t = _mm256_add_ps(_mm256_mul_ps(_mm256_max_ps(y, vclamp), vbound_scale), vbound_bias);
                acc[u] = _mm256_add_ps(acc[u], _mm256_andnot_ps(skip, _mm256_castsi256_ps(_mm256_cvttps_epi32(t))));
            }
        }
        const __m256 sum = _mm256_add_ps(acc[0], acc[1]);
        const __m256d wide = _mm256_add_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(sum)), _mm256_cvtps_pd(_mm256_extractf128_ps(sum, 1)));
        alignas(32) double lanes[4];
        _mm256_store_pd(lanes, wide);
        const double chunk_sum = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
        if (weigh.chunk_far != nullptr) weigh.chunk_far[chunk / kChunk] = chunk_sum;
        out.far += chunk_sum;
    }
    out.blocks = blocks;
    return out;
}

template <bool kTokenOrder>
__attribute__((target("avx512f"))) NearSweep bounded_avx512(const float * logits, uint32_t n_vocab, const BoundedWeights & weigh, uint64_t * masks) {
    const __m512 vmax = _mm512_set1_ps(weigh.max_logit);
    const __m512 vinv_t = _mm512_set1_ps(weigh.inv_t);
    const __m512 vmin_x = _mm512_set1_ps(weigh.min_x);
    const __m512 vfloor = _mm512_set1_ps(kNucleusFloor);
    const __m512 vclamp = _mm512_set1_ps(kBoundClamp);
    const __m512 vbound_scale = _mm512_set1_ps(kBoundScale);
    const __m512 vbound_bias = _mm512_set1_ps(kBoundBias);
    __m512d far = _mm512_setzero_pd();
    NearSweep out;
    size_t blocks = 0;  // (a local: through `out`, every store to `masks` would make the compiler reload it)
    const uint32_t full = n_vocab - n_vocab % 16;
    for (uint32_t chunk = 0; chunk < n_vocab; chunk += kChunk) {
        const uint32_t end = std::min<uint32_t>(n_vocab, chunk + kChunk);
        __m512 acc[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()};
        // Two vectors a step, each into its own sum (half as long a chain). Past the end: −inf lanes.
        for (uint32_t first = chunk; first < end; first += 32) {
#pragma GCC unroll 2
            for (int u = 0; u < 2; ++u) {
                const uint32_t at = first + 16 * u;
                __m512 v;
                if (at < full) {
                    v = _mm512_loadu_ps(logits + at);
                } else {  // the tail: the missing lanes read as −inf (never near; their bound is 2^−125)
                    const uint32_t left = at < n_vocab ? n_vocab - at : 0;
                    v = _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), static_cast<__mmask16>((1u << left) - 1), logits + at);
                }
                const __m512 x = _mm512_sub_ps(v, vmax);
                // The lanes to add are compared again, the complement (NaN included), rather than negating the near
                // mask through a register; in token order both leave out what min-p drops (and NaN).
                __m512 y = x;
                __mmask16 near;
                __mmask16 deep;
                if constexpr (kTokenOrder) {
                    y = _mm512_mul_ps(x, vinv_t);
                    const __mmask16 kept = _mm512_cmp_ps_mask(x, vmin_x, _CMP_GE_OQ);
                    near = _mm512_mask_cmp_ps_mask(kept, y, vfloor, _CMP_GE_OQ);
                    deep = _mm512_mask_cmp_ps_mask(kept, y, vfloor, _CMP_NGE_UQ);
                } else {
                    near = _mm512_cmp_ps_mask(x, vfloor, _CMP_GE_OQ);
                    deep = _mm512_cmp_ps_mask(x, vfloor, _CMP_NGE_UQ);
                }
                note_near(masks, blocks, at, near);
                // (one rounding, where the other sweeps round twice: both inside kBoundSlack)
                const __m512 t = _mm512_fmadd_ps(_mm512_max_ps(y, vclamp), vbound_scale, vbound_bias);
                acc[u] = _mm512_mask_add_ps(acc[u], deep, acc[u], _mm512_castsi512_ps(_mm512_cvttps_epi32(t)));
            }
        }
        const __m512 sum = _mm512_add_ps(acc[0], acc[1]);
        const __m512d wide = _mm512_add_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(sum)),
                                           _mm512_cvtps_pd(_mm256_castsi256_ps(_mm512_extracti64x4_epi64(_mm512_castps_si512(sum), 1))));
        if constexpr (kTokenOrder) {
            if (weigh.chunk_far != nullptr) weigh.chunk_far[chunk / kChunk] = _mm512_reduce_add_pd(wide);
        }
        far = _mm512_add_pd(far, wide);
    }
    out.far = _mm512_reduce_add_pd(far);
    out.blocks = blocks;
    return out;
}

enum class Sweep { portable, avx2, avx512 };
const Sweep sweep = [] {  // at load time: the CPU model must be initialized first (GCC's rule for constructors)
    __builtin_cpu_init();
    // Tests run the narrower branches on a wider CPU (test/sampling-fast-pick-sweeps.test.ts); read when the addon loads.
    const char * forced = std::getenv("HYBRID_LLM_FAST_PICK_SWEEP");
    if (forced != nullptr && std::strcmp(forced, "portable") == 0) return Sweep::portable;
    if (forced != nullptr && std::strcmp(forced, "avx2") == 0 && __builtin_cpu_supports("avx2")) return Sweep::avx2;
#if !defined(HYBRID_LLM_NO_AVX512_SWEEP)  // (a harness may test the AVX2 branch on an AVX-512 machine)
    if (__builtin_cpu_supports("avx512f")) return Sweep::avx512;
#endif
    if (__builtin_cpu_supports("avx2")) return Sweep::avx2;
    return Sweep::portable;
}();

const char * sweep_name() {
    return sweep == Sweep::avx512 ? "avx512" : sweep == Sweep::avx2 ? "avx2" : "portable";
}

// The AVX-512 or AVX2 sweep, marking near blocks only where the pick reads them (the marking's loop-carried count
// costs ~15 % of a sweep: 5-9 us per 131,072-token row).
template <bool kAtMax>
size_t gather_x86(const float * logits, uint32_t n_vocab, float max_logit, float scale, float limit, int32_t * ids, float * xs, NearBlocks & near, BelowMax * at_max) {
    if (sweep == Sweep::avx512) {
        return near.wanted ? gather_avx512<kAtMax, true>(logits, n_vocab, max_logit, scale, limit, ids, xs, near, at_max)
                           : gather_avx512<kAtMax, false>(logits, n_vocab, max_logit, scale, limit, ids, xs, near, at_max);
    }
    return near.wanted ? gather_avx2<kAtMax, true>(logits, n_vocab, max_logit, scale, limit, ids, xs, near, at_max)
                       : gather_avx2<kAtMax, false>(logits, n_vocab, max_logit, scale, limit, ids, xs, near, at_max);
}

size_t gather_ids(const float * logits, uint32_t n_vocab, float max_logit, float scale, float limit, int32_t * ids, float * xs, NearBlocks & near) {
    if (sweep != Sweep::portable) return gather_x86<false>(logits, n_vocab, max_logit, scale, limit, ids, xs, near, nullptr);
    return gather_portable(logits, n_vocab, max_logit, scale, limit, ids, xs, near);
}

// The bounded sweep on this CPU.
NearSweep bounded_sweep(const float * logits, uint32_t n_vocab, const BoundedWeights & weigh, uint64_t * masks) {
    const bool token_order = weigh.chunk_far != nullptr;
    if (sweep == Sweep::avx512) {
        return token_order ? bounded_avx512<true>(logits, n_vocab, weigh, masks) : bounded_avx512<false>(logits, n_vocab, weigh, masks);
    }
    if (sweep == Sweep::avx2) return token_order ? bounded_avx2<true>(logits, n_vocab, weigh, masks) : bounded_avx2<false>(logits, n_vocab, weigh, masks);
    return bounded_portable(logits, n_vocab, weigh, masks);
}
#elif defined(__wasm_simd128__) && !defined(HYBRID_LLM_PORTABLE_SWEEP)
// The sweep with Wasm SIMD (the modules are built with -msimd128): per 4 logits, the kept lanes' ids and x are packed
// to the front by a byte shuffle from a table indexed by the keep mask, and stored whole; the cursor moves by the kept
// count. The same float operations as chunk_keep (a subtraction, a negation, a multiplication), so the same result.
struct PackTable {
    alignas(16) uint8_t bytes[16][16];
    PackTable() {
        for (int mask = 0; mask < 16; ++mask) {
            int n = 0;
            for (int lane = 0; lane < 4; ++lane) {
                if (!(mask & (1 << lane))) continue;
                for (int b = 0; b < 4; ++b) bytes[mask][4 * n + b] = static_cast<uint8_t>(4 * lane + b);
                ++n;
            }
            for (; n < 4; ++n) {
                for (int b = 0; b < 4; ++b) bytes[mask][4 * n + b] = static_cast<uint8_t>(b);
            }
        }
    }
};
const PackTable pack_table;

const char * sweep_name() { return "simd128"; }

size_t gather_ids(const float * logits, uint32_t n_vocab, float max_logit, float scale, float limit, int32_t * ids, float * xs, NearBlocks & near) {
    const v128_t vmax = wasm_f32x4_splat(max_logit);
    const v128_t vscale = wasm_f32x4_splat(scale);
    const v128_t vlimit = wasm_f32x4_splat(limit);
    const v128_t vnear = wasm_f32x4_splat(near.limit);
    uint32_t * const starts = near.starts;
    size_t near_count = 0;
    near.width = 4;
    const v128_t step = wasm_i32x4_splat(4);
    v128_t vid = wasm_i32x4_make(0, 1, 2, 3);
    size_t n = 0;
    const uint32_t full = n_vocab - n_vocab % 4;
    for (uint32_t first = 0; first < full; first += 4) {
        const v128_t x = wasm_f32x4_sub(wasm_v128_load(logits + first), vmax);
        const v128_t depth = wasm_f32x4_mul(wasm_f32x4_neg(x), vscale);
        const uint32_t mask = wasm_i32x4_bitmask(wasm_f32x4_lt(depth, vlimit));
        mark_near(starts, near_count, n, wasm_i32x4_bitmask(wasm_f32x4_lt(depth, vnear)) != 0);
        const v128_t shuffle = wasm_v128_load(pack_table.bytes[mask]);
        wasm_v128_store(xs + n, wasm_i8x16_swizzle(x, shuffle));
        wasm_v128_store(ids + n, wasm_i8x16_swizzle(vid, shuffle));
        n += static_cast<size_t>(__builtin_popcount(mask));
        vid = wasm_i32x4_add(vid, step);
    }
    for (uint32_t t = full; t < n_vocab; ++t) {
        const float x = logits[t] - max_logit;
        ids[n] = static_cast<int32_t>(t);
        xs[n] = x;
        mark_near(starts, near_count, n, -x * scale < near.limit);  // a block of one (width 4 covers it)
        n += -x * scale < limit ? 1 : 0;
    }
    near.count = near_count;
    return n;
}
#else
const char * sweep_name() { return "portable"; }

size_t gather_ids(const float * logits, uint32_t n_vocab, float max_logit, float scale, float limit, int32_t * ids, float * xs, NearBlocks & near) {
    return gather_portable(logits, n_vocab, max_logit, scale, limit, ids, xs, near);
}
#endif

#if !defined(HYBRID_LLM_X86_SWEEPS)
NearSweep bounded_sweep(const float * logits, uint32_t n_vocab, const BoundedWeights & weigh, uint64_t * masks) {
    return bounded_portable(logits, n_vocab, weigh, masks);
}
#endif

// w_i = e^(x_i / temperature), or 0 where x_i < min_x.
HYBRID_LLM_VECTOR_LOOP_512 void weights(const Candidate * candidates, size_t n, float temperature, float min_x, float * out) {
    for (size_t i = 0; i < n; ++i) {
        const float x = candidates[i].x;
        const float w = exp_neg(x / temperature);
        out[i] = x >= min_x ? w : 0.0f;
    }
}

// The same over the gathered candidates in token order, 0 for the pruned ones (depth bucket ≥ cut, tested on the
// depth as depth_bucket computes it, all in float so that the loop vectorizes).
HYBRID_LLM_VECTOR_LOOP_512 void gathered_weights(const float * xs, size_t n, float scale, int cut, float temperature, float min_x, float * out) {
    const float cut_depth = static_cast<float>(cut);
    for (size_t i = 0; i < n; ++i) {
        const float x = xs[i];
        const float w = exp_neg(x / temperature);
        float depth = -x * scale;
        depth = depth < static_cast<float>(kBuckets - 1) ? depth : static_cast<float>(kBuckets - 1);
        const bool kept = (x >= min_x) & (depth < cut_depth);
        out[i] = kept ? w : 0.0f;
    }
}

// Σ w over a range, in 16 double lanes (so it vectorizes; float lanes drift by ~1e-6 over 131,072 weights, enough
// to move a token-order draw over a flat row to a neighbour in ~4 % of draws where llama.cpp sums in double).
HYBRID_LLM_VECTOR_LOOP_512 double range_sum(const float * w, size_t n) {
    double lanes[16] = {};
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        for (int j = 0; j < 16; ++j) lanes[j] += w[i + j];
    }
    double sum = 0;
    for (double lane : lanes) sum += lane;
    for (; i < n; ++i) sum += w[i];
    return sum;
}

// Σ e^x over the gathered candidates: the same e^x as weights() at temperature 1 (x / 1 is x), in 16 double lanes
// (so it vectorizes, with the same lane sums on every target).
HYBRID_LLM_VECTOR_LOOP_512 double exp_sum(const float * xs, size_t n) {
    double lanes[16] = {};
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        for (int j = 0; j < 16; ++j) lanes[j] += exp_neg(xs[i + j]);
    }
    double sum = 0;
    for (double lane : lanes) sum += lane;
    for (; i < n; ++i) sum += exp_neg(xs[i]);
    return sum;
}

const double * depth_bounds() {  // e^(−b / kPerLogit): the most a candidate in bucket b weighs next to the best
    static const auto * table = [] {
        auto * t = new double[kBuckets];
        for (int b = 0; b < kBuckets; ++b) t[b] = std::exp(-static_cast<double>(b) / kPerLogit);
        return t;
    }();
    return table;
}

// Scratch vectors only grow: resizing one down and up again would fill the regrown part with zeros every row.
template <typename T>
void grow(std::vector<T> & v, size_t n) {
    if (v.size() < n) v.resize(n);
}

bool by_logit(const Candidate & a, const Candidate & b) { return a.x > b.x || (a.x == b.x && a.id < b.id); }

// A set of candidates for the bucket path: all the sweep gathered (prune from their bucket counts, top-p's total from
// them), or the near ones only, for top-p alone (subset_outside ≥ 0: what the other gathered candidates hold at
// temperature 1, or bounds on it, [subset_outside, subset_outside_hi]; nothing pruned).
struct BucketSet {
    float scale;           // depth buckets per logit
    float limit;           // no candidate is this many buckets deep
    size_t outside;        // how many of the row's logits the sweep left out (each under e^−deep)
    double deep;
    double subset_outside;  // < 0: the whole set
    double subset_outside_hi;  // ≥ subset_outside
};

// The bucket path: sets `token` and returns true, or returns false having drawn no random number: for a subset whose
// nucleus may reach past it, or whose bounds on what lies outside leave the nucleus's end undecided.
bool bucket_pick(FastPick & pick, const float * xs, const int32_t * ids, size_t n_gathered, const BucketSet & set, FastPickScratch & scratch, int32_t & token);

// Top-p without top-k, where the nucleus is shallow (as in a trained model's rows): its total is one exp pass over
// every gathered candidate, and only those within kNucleusFloor of the max (from the blocks the sweep marked near)
// go through the bucket path, with the others' mass counted past its last bucket. false (and no random number used)
// when there are too many of them or the nucleus may reach deeper: the bucket path over every candidate then draws.
bool nucleus_pick(FastPick & pick, const int32_t * ids, const float * xs, size_t n_gathered, const NearBlocks & near, float scale, float limit, double deep,
                  FastPickScratch & scratch, int32_t & token) {
    if (!near.wanted || near.count > kMaxNearBlocks) return false;
    auto & near_x = scratch.near_x;
    auto & near_ids = scratch.near_ids;
    grow(near_x, kMaxNucleus + kChunk);
    grow(near_ids, kMaxNucleus + kChunk);
    size_t m = 0;
    size_t cursor = 0;  // blocks may overlap in output positions (a block's candidates are at most `width`): each once
    for (size_t b = 0; b < near.count; ++b) {
        const size_t hi = std::min<size_t>(n_gathered, near.starts[b] + near.width);
        const size_t lo = std::max<size_t>(cursor, near.starts[b]);
        if (m + (hi > lo ? hi - lo : 0) > kMaxNucleus) return false;
        for (size_t i = lo; i < hi; ++i) {  // branch-free: every candidate written, the cursor moves past the near ones
            near_x[m] = xs[i];
            near_ids[m] = ids[i];
            m += xs[i] >= kNucleusFloor ? 1 : 0;
        }
        cursor = std::max(cursor, hi);
    }
    const double outside = std::max(0.0, exp_sum(xs, n_gathered) - exp_sum(near_x.data(), m));
    return bucket_pick(pick, near_x.data(), near_ids.data(), m, BucketSet{scale, limit, 0, deep, outside, outside}, scratch, token);
}

}  // namespace

const char * fast_pick_sweep() { return sweep_name(); }

FastPick::FastPick(uint32_t seed) {
    if (seed == LLAMA_DEFAULT_SEED) seed = std::random_device()();
    rng.seed(seed);
}

namespace {

// The sweep's parameters for a pick chain, with its scratch grown to a row.
struct SweepSetup {
    float scale;  // depth buckets per logit at the flattest temperature the chain computes
    double deep;  // the depth (in logits at that temperature) past which even n_vocab candidates hold under kTail
    float limit;  // the same in buckets: the sweep keeps what is shallower
    NearBlocks near;
};

SweepSetup sweep_setup(const FastPick & pick, uint32_t n_vocab, FastPickScratch & scratch) {
    SweepSetup setup;
    setup.scale = kPerLogit / std::max(1.0f, pick.temperature);
    setup.deep = std::log(n_vocab / kTail);
    setup.limit = static_cast<float>(setup.deep * kPerLogit);
    grow(scratch.gathered_ids, n_vocab + kChunk);
    grow(scratch.gathered_x, n_vocab + kChunk);
    grow(scratch.near_starts, kMaxNearBlocks + 1);
    setup.near.limit = -kNucleusFloor * setup.scale * 1.0625f;  // a little past the floor: nucleus_pick's x ≥ floor test decides
    setup.near.starts = scratch.near_starts.data();
    setup.near.wanted = pick.top_k <= 0 && pick.top_p < 1.0f;  // the chains pick_gathered hands to nucleus_pick
    return setup;
}

int32_t pick_gathered(FastPick & pick, uint32_t n_vocab, const SweepSetup & setup, size_t n_gathered, FastPickScratch & scratch);

// Top-p alone, from the bounded sweep: the near candidates go through the bucket path as in nucleus_pick, but what the
// others weigh is known only between bounds (from their mass_bound sum) instead of from an exp of each. Where the
// bounds leave the nucleus's end undecided, or too many candidates are near, false and no random number used: the
// gather sweep and nucleus_pick then decide with the exact total. Where they decide, it is the token nucleus_pick
// would draw, since the total it would compute lies within the bounds: the bounds take in exp_neg's few ulp, the sums'
// rounding, and the deep logits the gather sweep prunes (under kTail together).
// With `top2`, also the row's row_top2, from the near candidates: the max and every value within 12 logits of it are
// among them, so its second pass is needed only where nothing but the max is (a peaked row).
enum class Bounded { decided, undecided, wide };
Bounded bounded_decide(FastPick & pick, const float * logits, uint32_t n_vocab, float max_logit, const SweepSetup & setup, FastPickScratch & scratch,
                       RowTop2 * top2, int32_t & token);

// HYBRID_LLM_FAST_PICK_BOUNDED=off (read when the addon loads): never, for an A/B of one build (bench:sampling
// --bounded-ab, bench-fast-pick --no-bounded). The token is the same either way.
const bool bounded_enabled = [] {
    const char * value = std::getenv("HYBRID_LLM_FAST_PICK_BOUNDED");
    return value == nullptr || std::strcmp(value, "off") != 0;
}();

// (FastPick::bounded_backoff: after an undecided row the sweep sits out a few.) Where top-p's nucleus surely reaches
// past the near candidates, the gather path is told so (setup.near.wanted off): nucleus_pick would fail there, after
// an exp over every gathered candidate, and the bucket path over all of them draws at once; the sweep paid for itself,
// so it does not sit out the next rows.
bool bounded_nucleus_pick(FastPick & pick, const float * logits, uint32_t n_vocab, float max_logit, SweepSetup & setup, FastPickScratch & scratch,
                          RowTop2 * top2, int32_t & token) {
    if (!bounded_enabled || !scratch.bounded || pick.top_k > 0) return false;
    if (pick.bounded_wait > 0) {
        --pick.bounded_wait;
        return false;
    }
    ++scratch.bounded_rows;
    const Bounded result = bounded_decide(pick, logits, n_vocab, max_logit, setup, scratch, top2, token);
    if (result != Bounded::decided) ++scratch.bounded_undecided;
    if (result == Bounded::wide) setup.near.wanted = false;
    pick.bounded_backoff = result != Bounded::undecided ? 0 : std::min<uint32_t>(64, std::max<uint32_t>(1, 2 * pick.bounded_backoff));
    pick.bounded_wait = pick.bounded_backoff;
    return result == Bounded::decided;
}

// The bounded sweep and its near candidates (in scratch.near_ids / near_x): their count, or none when there are too
// many (as nucleus_pick: too many near blocks — these are at most the ones the x86 and Wasm gather sweeps mark, which
// also count those with a logit a little past the floor — or near candidates, of which nucleus_pick holds the same:
// `too_many`; the exact path then draws).
std::optional<size_t> bounded_near(const float * logits, uint32_t n_vocab, const BoundedWeights & weigh, FastPickScratch & scratch, NearSweep & sweep,
                                   bool & too_many) {
    too_many = false;
    grow(scratch.near_masks, n_vocab / 8 + 2);
    sweep = bounded_sweep(logits, n_vocab, weigh, scratch.near_masks.data());
    if (sweep.blocks > kMaxNearBlocks) return std::nullopt;
    grow(scratch.near_x, sweep.blocks * 16);
    grow(scratch.near_ids, sweep.blocks * 16);
    const size_t count = extract_near(scratch.near_masks.data(), sweep.blocks, logits, weigh.max_logit, scratch.near_ids.data(), scratch.near_x.data());
    too_many = count > kMaxNucleus;
    if (count == 0 || too_many) return std::nullopt;
    return count;
}

// The row's row_top2 from its near candidates: the max and every value above the near ones' floor are among them,
// so its second pass is needed only where nothing but the max is (a peaked row).
RowTop2 near_top2(const float * logits, uint32_t n_vocab, float max_logit, const int32_t * ids, size_t count) {
    BelowMax at_max;
    for (size_t i = 0; i < count; ++i) {  // the original values: two may differ and share one x = logit − max
        const uint32_t id = static_cast<uint32_t>(ids[i]);
        const float v = logits[id];
        at_max.below = v < max_logit && v > at_max.below ? v : at_max.below;
        at_max.note(id, v == max_logit ? 1u : 0u);
    }
    return at_max.below == -INFINITY ? row_top2(logits, n_vocab) : at_max.top2(max_logit);
}

// Top-p alone: the bucket path on the near candidates, with what the others hold between bounds. Wide: the others
// surely hold more than the nucleus leaves out (nucleus_pick's test, with the least they may hold and the most the
// near ones may sum to), so nucleus_pick would fail.
Bounded bounded_top_p(FastPick & pick, const SweepSetup & setup, FastPickScratch & scratch, const NearSweep & sweep, size_t count, int32_t & token) {
    const double rounding = 1e-11 * static_cast<double>(count + 1);  // exp_sum's double lanes, in nucleus_pick
    const double lo = std::max(0.0, sweep.far * (1.0 - kBoundSlack) / kBoundChord - kTail - rounding);
    const double hi = sweep.far * (1.0 + kBoundSlack) + rounding + 1e-30;  // (exp_neg clamps at −86, mass_bound at −87)
    const double inside_hi = exp_sum(scratch.near_x.data(), count) * (1.0 + 1e-9) + rounding;
    if (lo > 0.99 * (1.0 - pick.top_p) * (inside_hi + lo)) return Bounded::wide;
    const BucketSet set{setup.scale, setup.limit, 0, setup.deep, lo, hi};
    return bucket_pick(pick, scratch.near_x.data(), scratch.near_ids.data(), count, set, scratch, token) ? Bounded::decided : Bounded::undecided;
}

// Token order (temperature and min-p alone: the OpenAI defaults): llama.cpp draws u Σw and walks every candidate in
// token order to the first whose running sum reaches it. The near candidates' weights are exact (the gather path's
// own exp), the others' only bounded, per chunk of kChunk tokens; the draw is decided when, for every total and
// running sum within the bounds, one near candidate holds the target. Else false, with the random number put back.
Bounded bounded_token_order(FastPick & pick, const SweepSetup & setup, FastPickScratch & scratch, const NearSweep & sweep, size_t count, float min_x, int32_t & token) {
    const int32_t * ids = scratch.near_ids.data();
    auto & w = scratch.weights;
    grow(w, count);
    gathered_weights(scratch.near_x.data(), count, setup.scale, kBuckets, pick.temperature, min_x, w.data());  // as pick_gathered
    double inside = 0;
    for (size_t i = 0; i < count; ++i) inside += w[i];
    const double lo_factor = (1.0 - kBoundSlack) / kBoundChord;
    const double hi_factor = 1.0 + kBoundSlack;
    const double z_hi = inside + sweep.far * hi_factor;
    // The gather path's sums in double (a relative 1e-12 is far past their rounding), and the deep logits it prunes
    // (kTail together, anywhere in the row).
    const double pad = 1e-12 * z_hi + 1e-30;
    const double z_lo = inside + sweep.far * lo_factor - kTail - pad;
    const std::mt19937 saved = pick.rng;
    std::uniform_real_distribution<double> uniform(0.0f, 1.0f);
    const double u = uniform(pick.rng);
    const double target_lo = u * z_lo - pad;
    const double target_hi = u * z_hi + pad;
    const double * chunk_far = scratch.chunk_far.data();
    double near_before = 0;
    double far_before_lo = 0;
    double far_before_hi = 0;
    size_t chunk = 0;  // the chunks before it are in far_before
    for (size_t j = 0; j < count; ++j) {
        const size_t own = static_cast<size_t>(ids[j]) / kChunk;
        for (; chunk < own; ++chunk) {
            far_before_lo += chunk_far[chunk] * lo_factor;
            far_before_hi += chunk_far[chunk] * hi_factor;
        }
        // The running sum before candidate j: its own chunk's bounded candidates may lie before it too.
        const double before_lo = near_before + far_before_lo - kTail - pad;
        const double before_hi = near_before + far_before_hi + chunk_far[own] * hi_factor + pad;
        if (before_hi >= target_lo) break;  // the target may lie before j, among bounded candidates: undecided
        if (before_lo + w[j] >= target_hi) {
            token = ids[j];
            return Bounded::decided;
        }
        near_before += w[j];
    }
    pick.rng = saved;  // the gather path draws this number again
    return Bounded::undecided;
}

Bounded bounded_decide(FastPick & pick, const float * logits, uint32_t n_vocab, float max_logit, const SweepSetup & setup, FastPickScratch & scratch,
                       RowTop2 * top2, int32_t & token) {
    const bool token_order = pick.top_p >= 1.0f;
    const float min_x = pick.min_p > 0.0f ? std::log(pick.min_p) : -INFINITY;
    BoundedWeights weigh{max_logit};
    if (token_order) {
        grow(scratch.chunk_far, (n_vocab + kChunk - 1) / kChunk);
        weigh = BoundedWeights{max_logit, 1.0f / pick.temperature, min_x, scratch.chunk_far.data()};
    }
    NearSweep sweep;
    bool too_many = false;
    const std::optional<size_t> count = bounded_near(logits, n_vocab, weigh, scratch, sweep, too_many);
    // Too many near candidates: nucleus_pick, which holds the same ones, would fail too.
    if (!count) return too_many && !token_order ? Bounded::wide : Bounded::undecided;
    const Bounded result = token_order ? bounded_token_order(pick, setup, scratch, sweep, *count, min_x, token)
                                       : bounded_top_p(pick, setup, scratch, sweep, *count, token);
    if (result == Bounded::decided && top2 != nullptr) *top2 = near_top2(logits, n_vocab, max_logit, scratch.near_ids.data(), *count);
    return result;
}

}  // namespace

int32_t fast_pick(FastPick & pick, const float * logits, uint32_t n_vocab, float max_logit, FastPickScratch & scratch) {
    if (!std::isfinite(max_logit)) return -1;
    SweepSetup setup = sweep_setup(pick, n_vocab, scratch);
    int32_t token = -1;
    if (bounded_nucleus_pick(pick, logits, n_vocab, max_logit, setup, scratch, nullptr, token)) return token;
    const size_t n_gathered = gather_ids(logits, n_vocab, max_logit, setup.scale, setup.limit, scratch.gathered_ids.data(), scratch.gathered_x.data(), setup.near);
    return pick_gathered(pick, n_vocab, setup, n_gathered, scratch);
}

int32_t fast_pick_top2(FastPick & pick, const float * logits, uint32_t n_vocab, FastPickScratch & scratch, RowTop2 & top2) {
#if defined(HYBRID_LLM_X86_SWEEPS)
    if (sweep != Sweep::portable) {
        // row_top2's first pass, then the sweep stands in for its second (the same comparisons on the same values).
        const float max = row_max(logits, n_vocab);
        if (std::isfinite(max)) {
            SweepSetup setup = sweep_setup(pick, n_vocab, scratch);
            int32_t token = -1;
            if (bounded_nucleus_pick(pick, logits, n_vocab, max, setup, scratch, &top2, token)) return token;
            BelowMax at_max;  // the x86 sweeps note what row_top2's second pass would
            const size_t n_gathered = gather_x86<true>(logits, n_vocab, max, setup.scale, setup.limit, scratch.gathered_ids.data(), scratch.gathered_x.data(), setup.near, &at_max);
            top2 = at_max.top2(max);
            return pick_gathered(pick, n_vocab, setup, n_gathered, scratch);
        }
    }
#endif
    top2 = row_top2(logits, n_vocab);
    return fast_pick(pick, logits, n_vocab, top2.best_value, scratch);
}

namespace {

int32_t pick_gathered(FastPick & pick, uint32_t n_vocab, const SweepSetup & setup, size_t n_gathered, FastPickScratch & scratch) {
    if (n_gathered == 0) return -1;
    const float scale = setup.scale;
    const double deep = setup.deep;
    const float limit = setup.limit;
    const NearBlocks & near = setup.near;
    auto & ids = scratch.gathered_ids;
    auto & xs = scratch.gathered_x;
    const bool sorted_chain = pick.top_k > 0 || pick.top_p < 1.0f;
    const float min_x = pick.min_p > 0.0f ? std::log(pick.min_p) : -INFINITY;
    std::uniform_real_distribution<double> uniform(0.0f, 1.0f);
    auto & w = scratch.weights;

    if (!sorted_chain) {
        // llama.cpp's order is the token order: min-p filters in place, the draw cumulates in token order. The
        // gathered candidates are in token order already (all of them: what the sweep left out holds < kTail).
        grow(w, n_gathered);
        gathered_weights(xs.data(), n_gathered, scale, kBuckets, pick.temperature, min_x, w.data());
        const double total = range_sum(w.data(), n_gathered);
        const double target = total * uniform(pick.rng);
        double cum = 0;
        for (size_t lo = 0; lo < n_gathered; lo += kChunk) {
            const size_t hi = std::min(n_gathered, lo + kChunk);
            const double sum = range_sum(w.data() + lo, hi - lo);
            if (cum + sum < target) {
                cum += sum;
                continue;
            }
            for (size_t i = lo; i < hi; ++i) {
                cum += w[i];
                if (w[i] > 0 && cum >= target) return ids[i];
            }
        }
        // Rounding left the target past the sum: the last candidate, as llama.cpp falls back.
        size_t last = n_gathered - 1;
        while (last > 0 && w[last] <= 0) --last;
        return ids[last];
    }
    if (pick.top_k <= 0) {
        int32_t token = -1;
        if (nucleus_pick(pick, ids.data(), xs.data(), n_gathered, near, scale, limit, deep, scratch, token)) return token;
    }

    // The bucket path: top-k, or a nucleus too deep or too wide for nucleus_pick.
    int32_t token = -1;
    bucket_pick(pick, xs.data(), ids.data(), n_gathered, BucketSet{scale, limit, n_vocab - n_gathered, deep, -1.0, -1.0}, scratch, token);
    return token;
}

bool bucket_pick(FastPick & pick, const float * xs, const int32_t * ids, size_t n_gathered, const BucketSet & set, FastPickScratch & scratch, int32_t & token) {
    const float scale = set.scale;
    const bool subset = set.subset_outside >= 0;
    const float min_x = pick.min_p > 0.0f ? std::log(pick.min_p) : -INFINITY;
    std::uniform_real_distribution<double> uniform(0.0f, 1.0f);
    auto & w = scratch.weights;
    auto & gathered_buckets = scratch.gathered_buckets;
    grow(gathered_buckets, n_gathered + kChunk);
    gathered_depths(xs, n_gathered, scale, gathered_buckets.data());

    // Every kept candidate is shallower than `limit` buckets: only the first n_buckets can be non-empty (~450 of the
    // 1024 for real vocabularies), and only those are cleared and scanned.
    const int n_buckets = std::min(kBuckets, static_cast<int>(set.limit) + 1);
    constexpr int stride = kBuckets + 1;
    grow(scratch.histogram, 4 * stride);
    uint32_t * h = scratch.histogram.data();
    for (int k = 0; k < 4; ++k) std::fill(h + k * stride, h + k * stride + n_buckets + 1, 0u);
    const uint16_t * bk = gathered_buckets.data();
    size_t i4 = 0;
    for (; i4 + 4 <= n_gathered; i4 += 4) {  // four interleaved histograms: no store-to-load chain between neighbours
        ++h[bk[i4]];
        ++h[stride + bk[i4 + 1]];
        ++h[2 * stride + bk[i4 + 2]];
        ++h[3 * stride + bk[i4 + 3]];
    }
    for (; i4 < n_gathered; ++i4) ++h[bk[i4]];
    uint32_t * count = h;  // summed into the first histogram
    for (int b = 0; b < n_buckets; ++b) count[b] += h[stride + b] + h[2 * stride + b] + h[3 * stride + b];
    const double * bound = depth_bounds();
    int cut = subset ? n_buckets : 1;  // buckets [0, cut) are kept (a subset is kept whole: what it leaves out is counted)
    double tail = static_cast<double>(set.outside) * std::exp(-set.deep);
    for (int b = n_buckets - 1; b >= 0 && !subset; --b) {
        tail += count[b] * bound[b];
        if (tail >= kTail) {
            cut = b + 1;
            break;
        }
    }

    if (pick.top_k > 0) {  // top-k keeps a prefix of k: the buckets past the k-th candidate's never matter
        uint32_t seen = 0;
        for (int b = 0; b < cut; ++b) {
            seen += count[b];
            if (seen >= static_cast<uint32_t>(pick.top_k)) {
                cut = b + 1;
                break;
            }
        }
    }
    // Sorted chains: the kept set is always a prefix [0, n) of the order "bucket, then logit descending within it".
    // Only the buckets the chain can reach are put in that order (a counting sort of their candidates), and a bucket
    // is sorted within only when a cut or the draw ends inside it.
    auto & start = scratch.start;
    start.assign(n_buckets + 2, 0);
    for (int b = 0; b <= n_buckets; ++b) start[b + 1] = start[b] + count[b];
    const size_t n_kept_all = start[cut];

    // Top-p alone (the common chain): its total is the sum over every kept candidate, which needs no order; and
    // since bucket b's candidates each weigh at most e^(−b / scale) (at temperature 1), the bucket counts bound the
    // mass past any bucket: the nucleus (mass ≥ top_p) ends before the first bucket past which at most (1 − top_p)
    // of the total can lie. Only the buckets up to there are ordered.
    int reach = cut;  // buckets [0, reach) are ordered in `kept`
    double top_p_total = 0;
    double top_p_total_hi = 0;  // with bounds on what a subset leaves outside: the total at the upper bound
    if (pick.top_p < 1.0f && pick.top_k <= 0) {
        grow(w, n_gathered);
        gathered_weights(xs, n_gathered, scale, cut, 1.0f, -INFINITY, w.data());
        const double inside = range_sum(w.data(), n_gathered);
        top_p_total = inside + (subset ? set.subset_outside : 0.0);
        top_p_total_hi = inside + (subset ? set.subset_outside_hi : 0.0);
        // 1 % under the budget: far more than exp's few ulp and the float sums' rounding.
        const double budget = 0.99 * (1.0 - pick.top_p) * top_p_total;
        // A subset: what the rest holds is past every bucket here; if that alone may reach the nucleus, it is not
        // complete in the subset (the caller then orders every candidate). The test at the upper bound: outside −
        // budget grows with outside, so where it passes there, it passes for any value within the bounds.
        if (subset && set.subset_outside_hi > 0.99 * (1.0 - pick.top_p) * top_p_total_hi) return false;
        const double step = std::exp(1.0 / scale);
        double most = std::exp(-static_cast<double>(cut - 1) / scale);  // e^(−b / scale), b from cut − 1 down
        double tail = subset ? set.subset_outside_hi : 0.0;  // (the most outside against the least budget: safe)
        for (int b = cut - 1; b > 0; --b, most *= step) {
            tail += count[b] * most;
            if (tail > budget) break;
            reach = b;  // everything from bucket b on holds at most the budget: the nucleus ends before b
        }
    }
    auto & kept = scratch.kept;
    grow(kept, n_gathered + 1);
    {
        uint32_t * cursor = h + stride;  // the second histogram is free again
        std::copy(start.begin(), start.begin() + n_buckets + 1, cursor);
        Candidate * out = kept.data();
        if (reach == cut) {  // branch-free: the candidates past the cut land past start[cut], where nothing reads them
            for (size_t i = 0; i < n_gathered; ++i) out[cursor[bk[i]]++] = {xs[i], ids[i]};
        } else {  // a few buckets: the branch is rarely taken
            for (size_t i = 0; i < n_gathered; ++i) {
                if (bk[i] < reach) out[cursor[bk[i]]++] = {xs[i], ids[i]};
            }
        }
    }
    grow(w, n_kept_all);

    auto & sorted = scratch.sorted;
    sorted.assign(cut, 0);
    auto sort_bucket = [&](int b) {
        if (sorted[b]) return;
        std::sort(kept.begin() + start[b], kept.begin() + start[b + 1], by_logit);
        sorted[b] = 1;
    };
    auto bucket_of = [&](size_t i) { return static_cast<int>(std::upper_bound(start.begin(), start.begin() + cut + 1, i) - start.begin()) - 1; };
    // The first index (in sorted order, within [0, n)) where the running sum of w reaches target; weights of the
    // bucket it sorts are recomputed in their new order.
    auto locate = [&](size_t n, float temperature, double target) -> size_t {
        double cum = 0;
        for (int b = 0; b < cut && start[b] < n; ++b) {
            const size_t lo = start[b];
            const size_t hi = std::min<size_t>(start[b + 1], n);
            const double sum = range_sum(w.data() + lo, hi - lo);
            if (cum + sum < target) {
                cum += sum;
                continue;
            }
            if (!sorted[b]) {
                sort_bucket(b);
                weights(kept.data() + lo, hi - lo, temperature, -INFINITY, w.data() + lo);
            }
            for (size_t i = lo; i < hi; ++i) {
                cum += w[i];
                if (cum >= target) return i;
            }
        }
        return n - 1;
    };

    size_t n = start[reach];
    if (pick.top_k > 0 && static_cast<size_t>(pick.top_k) < n) {
        sort_bucket(bucket_of(pick.top_k - 1));
        n = pick.top_k;
    }
    if (pick.top_p < 1.0f) {
        weights(kept.data(), n, 1.0f, -INFINITY, w.data());
        const double total = pick.top_k > 0 ? range_sum(w.data(), n) : top_p_total;
        const size_t end = locate(n, 1.0f, pick.top_p * total);
        // Bounds on the total: the nucleus ends at the same candidate for the least and the most total, so for the
        // exact one between (the running sum is monotone), or the bounds leave it undecided.
        if (pick.top_k <= 0 && top_p_total_hi != top_p_total && locate(n, 1.0f, pick.top_p * top_p_total_hi) != end) return false;
        n = end + 1;
    }
    if (pick.min_p > 0.0f) {
        // Buckets are monotone in the logit: those before min_x's bucket are kept whole, those after dropped.
        float depth = -min_x * scale;
        depth = std::min(depth, static_cast<float>(kBuckets - 1));
        const int b = static_cast<int>(depth);
        if (b < cut && start[b] < n) {
            sort_bucket(b);
            size_t i = start[b];
            const size_t hi = std::min<size_t>(start[b + 1], n);
            while (i < hi && kept[i].x >= min_x) ++i;
            n = std::max<size_t>(1, i);
        }
    }
    weights(kept.data(), n, pick.temperature, -INFINITY, w.data());
    const double total = range_sum(w.data(), n);
    token = kept[locate(n, pick.temperature, total * uniform(pick.rng))].id;
    return true;
}

}  // namespace

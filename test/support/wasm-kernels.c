// Kernel checks (and timings) for ggml's Wasm SIMD128 paths as wasm/patches/*.patch leave them, built with emcc
// against the static libraries wasm/build.mjs leaves in wasm/build/cmake-<tag> (see test/wasm-kernels.test.ts).
// Prints one JSON object per line: {"check": name, ...}. `node harness.js bench` prints timings instead.
#include "ggml.h"
#include "ggml-cpu.h"
#include "ggml-impl.h"
#include "ggml-quants.h"
#if defined(__wasm_simd128__)
#include "ggml-cpu-impl.h"
#include "simd-mappings.h"
#include "quants.h"
#include "vec.h"
#else
// Built natively (gcc, against node-llama-cpp's libggml-cpu-*.so) only for `bench`, the native side of the timings.
void quantize_row_q8_0(const float * x, void * y, int64_t k);
#endif

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint32_t bits_of(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t next_u32(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return (uint32_t) (rng >> 16); }
static float next_float(void) { return ((float) (next_u32() % 2000001) - 1000000.0f) / 1000000.0f; }

enum fa_mask { FA_MASK_NONE, FA_MASK_ZERO, FA_MASK_PATTERN };

// A flash-attention graph (ggml_flash_attn_ext, 1 thread) over an F16 K / V cache, filled from the generator: Q in
// ±2, K in ±2, V in ±4. The mask: none, all zeros (no cell masked, as in one sequence's decode step) or a pattern
// (-inf on a third of the cells, shifting with the query, other values random: a batch of sequences in one KV cache).
struct fa_graph {
    struct ggml_context * ctx;
    struct ggml_tensor * q, * k, * v, * mask, * out;
    struct ggml_cgraph * graph;
    struct ggml_cplan plan;
    float scale; // 1 / sqrt(dk), the graph's KQ scale
};

static struct fa_graph make_fa_graph(int dk, int dv, int n_kv, int n_q, int n_head, int n_head_kv, enum fa_mask masked, float max_bias, float softcap) {
    struct fa_graph fa;
    const size_t size = sizeof(float) * dk * n_head * n_q + 2 * (size_t) dk * n_kv * n_head_kv + 2 * (size_t) dv * n_kv * n_head_kv +
                        2 * (size_t) n_kv * n_q + sizeof(float) * dv * n_head * n_q + 4 * ggml_graph_overhead() + (1 << 20);
    struct ggml_init_params params = { size, NULL, false };
    fa.ctx = ggml_init(params);
    fa.q = ggml_new_tensor_4d(fa.ctx, GGML_TYPE_F32, dk, n_q, n_head, 1);
    fa.k = ggml_new_tensor_4d(fa.ctx, GGML_TYPE_F16, dk, n_kv, n_head_kv, 1);
    fa.v = ggml_new_tensor_4d(fa.ctx, GGML_TYPE_F16, dv, n_kv, n_head_kv, 1);
    fa.mask = masked != FA_MASK_NONE ? ggml_new_tensor_2d(fa.ctx, GGML_TYPE_F16, n_kv, n_q) : NULL;
    for (int i = 0; i < dk * n_q * n_head; i++) ((float *) fa.q->data)[i] = 2 * next_float();
    for (int i = 0; i < dk * n_kv * n_head_kv; i++) ((ggml_fp16_t *) fa.k->data)[i] = ggml_fp32_to_fp16(2 * next_float());
    for (int i = 0; i < dv * n_kv * n_head_kv; i++) ((ggml_fp16_t *) fa.v->data)[i] = ggml_fp32_to_fp16(4 * next_float());
    if (fa.mask) {
        for (int j = 0; j < n_q; j++) {
            for (int c = 0; c < n_kv; c++) {
                const float value = masked == FA_MASK_ZERO ? 0.0f : c % 3 == j % 3 ? -INFINITY : next_float();
                ((ggml_fp16_t *) fa.mask->data)[j * n_kv + c] = ggml_fp32_to_fp16(value);
            }
        }
    }
    fa.scale = 1.0f / sqrtf((float) dk);
    fa.out = ggml_flash_attn_ext(fa.ctx, fa.q, fa.k, fa.v, fa.mask, fa.scale, max_bias, softcap);
    fa.graph = ggml_new_graph(fa.ctx);
    ggml_build_forward_expand(fa.graph, fa.out);
    fa.plan = ggml_graph_plan(fa.graph, 1, NULL);
    fa.plan.work_data = malloc(fa.plan.work_size + 1);
    return fa;
}

static void free_fa_graph(struct fa_graph * fa) {
    free(fa->plan.work_data);
    ggml_free(fa->ctx);
}

#if defined(__wasm_simd128__)
// The row conversions ggml uses for activations (F16 matmul) and KV copies (clang vectorizes their loops for
// SIMD128) against ggml's scalar conversions, bit for bit, odd lengths for the tails.
static void check_row_conversions(void) {
    enum { N = 1003 };
    float x[N], back[N];
    ggml_fp16_t h[N];
    int mismatches = 0;
    for (int i = 0; i < N; i++) x[i] = next_float() * (i % 7 == 0 ? 70000.0f : i % 5 == 0 ? 1e-6f : 3.0f);
    ggml_cpu_fp32_to_fp16(x, h, N);
    for (int i = 0; i < N; i++) mismatches += h[i] != ggml_compute_fp32_to_fp16(x[i]);
    ggml_cpu_fp16_to_fp32(h, back, N);
    for (int i = 0; i < N; i++) mismatches += bits_of(back[i]) != bits_of(ggml_compute_fp16_to_fp32(h[i]));
    printf("{\"check\":\"row_conversions\",\"tested\":%d,\"mismatches\":%d}\n", 2 * N, mismatches);
}

// wasm/patches/0008: ggml_cpu_fp16_to_fp32 (K / V rows in flash attention, the F16 matmul panels) gives the bits of
// ggml_compute_fp16_to_fp32 (which fills the table) for every F16 value: the finite ones in one long row (the SIMD
// path), then short rows with an infinity or a NaN somewhere (the row goes through the table) or only finite values, of
// every length up to 40 (the tails). Since the table's path gives the same bits, the rows with only finite values are
// also converted in place, the halves in the upper half of the floats' buffer: one pass from the front reads each half
// before a float overwrites it, but a second pass through the table would read overwritten halves, so a finite row that
// did not take the SIMD path alone shows up as mismatches.
static int fp16_to_fp32_in_place_mismatches(const ggml_fp16_t * h, int n) {
    float * buf = malloc(sizeof(float) * (size_t) n);
    memcpy((ggml_fp16_t *) buf + n, h, sizeof(ggml_fp16_t) * (size_t) n);
    ggml_cpu_fp16_to_fp32((const ggml_fp16_t *) buf + n, buf, n);
    int mismatches = 0;
    for (int i = 0; i < n; i++) mismatches += bits_of(buf[i]) != bits_of(ggml_compute_fp16_to_fp32(h[i]));
    free(buf);
    return mismatches;
}

static void check_fp16_to_fp32_rows(void) {
    static ggml_fp16_t h[65536];
    static float y[65536];
    int tested = 0, mismatches = 0;
    int n = 0;
    for (uint32_t b = 0; b < 65536; b++) if ((b & 0x7C00) != 0x7C00) h[n++] = (ggml_fp16_t) b;
    ggml_cpu_fp16_to_fp32(h, y, n);
    for (int i = 0; i < n; i++) mismatches += bits_of(y[i]) != bits_of(ggml_compute_fp16_to_fp32(h[i]));
    mismatches += fp16_to_fp32_in_place_mismatches(h, n);
    tested += n;
    for (int len = 1; len <= 40; len++) {
        for (int rep = 0; rep < 64; rep++) {
            for (int i = 0; i < len; i++) h[i] = (ggml_fp16_t) (next_u32() & 0xFFFF);
            for (int i = 0; i < len; i++) if (rep % 2 == 0 && (h[i] & 0x7C00) == 0x7C00) h[i] ^= 0x4000; // finite only
            if (rep % 4 == 1) h[next_u32() % len] = (ggml_fp16_t) (0x7C00 | (next_u32() & 0x83FF)); // one infinity / NaN
            ggml_cpu_fp16_to_fp32(h, y, len);
            for (int i = 0; i < len; i++) mismatches += bits_of(y[i]) != bits_of(ggml_compute_fp16_to_fp32(h[i]));
            if (rep % 2 == 0 && len >= 16) mismatches += fp16_to_fp32_in_place_mismatches(h, len);
            tested += len;
        }
    }
    printf("{\"check\":\"fp16_to_fp32_rows\",\"finite\":%d,\"tested\":%d,\"mismatches\":%d}\n", n, tested, mismatches);
}

// wasm/patches/0003: the SIMD128 F16 store (flash attention's F16 accumulator goes through it) gives the scalar
// conversion's bits: zeros, subnormals, the rounding ties, overflow to infinity, infinities and NaNs, then random
// floats over the whole range of exponents.
static void check_f16x4_store(void) {
    static const uint32_t edges[] = {
        0x00000000u, 0x80000000u, 0x00000001u, 0x807FFFFFu, 0x33000000u, 0x33000001u, 0x33800000u, 0x387FC000u,
        0x387FE000u, 0x38800000u, 0x3F800000u, 0xBF801000u, 0x3F801001u, 0x3F803000u, 0x477FE000u, 0x477FEFFFu,
        0x477FF000u, 0x47800000u, 0xC7800000u, 0x7F7FFFFFu, 0x7F800000u, 0xFF800000u, 0x7FC00000u, 0xFFC00001u,
        0x7F800001u, 0x3C00F000u, 0x3C010000u, 0x3C00E000u,
    };
    enum { EDGES = sizeof(edges) / sizeof(edges[0]), RANDOM = 1 << 16 };
    int mismatches = 0, tested = 0;
    for (int i = 0; i < EDGES + RANDOM; i += 4) {
        float x[4];
        for (int lane = 0; lane < 4; lane++) {
            const int k = i + lane;
            const uint32_t bits = k < EDGES ? edges[k] : next_u32() ^ (next_u32() << 16);
            memcpy(&x[lane], &bits, sizeof bits);
        }
        ggml_fp16_t h[4];
        GGML_F16x4_STORE(h, wasm_v128_load(x));
        for (int lane = 0; lane < 4; lane++) mismatches += h[lane] != ggml_compute_fp32_to_fp16(x[lane]);
        tested += 4;
    }
    printf("{\"check\":\"f16x4_store\",\"tested\":%d,\"mismatches\":%d}\n", tested, mismatches);
}

// wasm/patches/0001: the SIMD128 activation quantizer gives the reference quantizer's bytes.
static void check_quantize_q8_0(void) {
    enum { K = 4096 };
    static float x[K];
    static block_q8_0 simd[K / QK8_0], ref[K / QK8_0];
    for (int i = 0; i < K; i++) x[i] = next_float() * (1 + i % 13);
    quantize_row_q8_0(x, simd, K);
    quantize_row_q8_0_ref(x, ref, K);
    int mismatches = 0;
    for (int b = 0; b < K / QK8_0; b++) {
        mismatches += simd[b].d != ref[b].d;
        for (int j = 0; j < QK8_0; j++) mismatches += simd[b].qs[j] != ref[b].qs[j];
    }
    printf("{\"check\":\"quantize_q8_0\",\"tested\":%d,\"mismatches\":%d}\n", K + K / QK8_0, mismatches);
}


// wasm/patches/0004: the 2x2 tiles (vec_dot with nrc == 2: rows bx bytes apart, columns by bytes apart, results at
// s[i + j*bs]) against four nrc == 1 calls on random blocks, the int8 extremes -128 / 127 included (a quantizer never
// writes -128, a file may), every nibble for Q4_0, odd and even block counts, strides with gaps. Reports the bit
// mismatches (the tiles keep the 1x1 accumulation order) and the worst relative difference.
static void check_vec_dot_2x2(enum ggml_type type) {
    const struct ggml_type_traits_cpu * traits = ggml_get_type_traits_cpu(type);
    int tested = 0, mismatches = 0;
    double worst = 0;
    static const int ks[] = { 32, 64, 288, 768, 2048 };
    for (int t = 0; t < 5; t++) {
        const int k = ks[t];
        const size_t row = ggml_row_size(type, k), col = ggml_row_size(GGML_TYPE_Q8_0, k);
        const size_t bx = row + (t % 2) * 34, by = col + (t % 3) * 34; // rows / columns not always adjacent
        for (int rep = 0; rep < 16; rep++) {
            uint8_t * x = malloc(2 * bx), * y = malloc(2 * by);
            for (size_t i = 0; i < 2 * bx; i++) x[i] = (uint8_t) next_u32();
            for (size_t i = 0; i < 2 * by; i++) y[i] = (uint8_t) next_u32();
            for (int r = 0; r < 2; r++) {
                for (int b = 0; b < k / QK8_0; b++) {
                    // finite positive and negative fp16 scales, 2^-14 .. 2^2
                    const ggml_fp16_t dx = (ggml_fp16_t) ((next_u32() % 2) << 15 | (0x0400 + next_u32() % 0x4000));
                    const ggml_fp16_t dy = (ggml_fp16_t) ((next_u32() % 2) << 15 | (0x0400 + next_u32() % 0x4000));
                    if (type == GGML_TYPE_Q8_0) ((block_q8_0 *) (x + r * bx))[b].d = dx;
                    else ((block_q4_0 *) (x + r * bx))[b].d = dx;
                    block_q8_0 * yb = &((block_q8_0 *) (y + r * by))[b];
                    yb->d = dy;
                    if (rep < 4) { // extremes: all -128 / all 127 / alternating
                        for (int j = 0; j < QK8_0; j++) yb->qs[j] = rep == 0 ? -128 : rep == 1 ? 127 : (j + r) % 2 ? 127 : -128;
                        if (type == GGML_TYPE_Q8_0) {
                            block_q8_0 * xb = &((block_q8_0 *) (x + r * bx))[b];
                            for (int j = 0; j < QK8_0; j++) xb->qs[j] = rep == 0 ? -128 : rep == 1 ? (j % 2 ? 127 : -128) : rep == 2 ? 127 : -128;
                        }
                    }
                }
            }
            float s[4], expected[4];
            const size_t bs = 2 + rep % 3;
            float out[8];
            traits->vec_dot(k, out, bs, x, bx, y, by, 2);
            s[0] = out[0]; s[1] = out[1]; s[2] = out[bs]; s[3] = out[bs + 1];
            for (int j = 0; j < 2; j++)
                for (int i = 0; i < 2; i++) traits->vec_dot(k, &expected[i + 2 * j], 0, x + i * bx, 0, y + j * by, 0, 1);
            for (int i = 0; i < 4; i++) {
                mismatches += bits_of(s[i]) != bits_of(expected[i]);
                const double d = fabs((double) s[i] - expected[i]) / fmax(fabs((double) expected[i]), 1e-30);
                if (!(d <= worst)) worst = d;
                tested++;
            }
            free(x);
            free(y);
        }
    }
    printf("{\"check\":\"vec_dot_2x2\",\"type\":\"%s\",\"nrows\":%d,\"tested\":%d,\"mismatches\":%d,\"relativeError\":%.3g}\n",
           ggml_type_name(type), (int) traits->nrows, tested, mismatches, worst);
}

// wasm/patches/0005: the F16 2x2 tile gives four nrc == 1 calls' bits: lengths with and without a tail (not a multiple
// of GGML_F16_STEP), rows and columns not adjacent, values over the f16 range short of overflow, subnormals included.
static void check_vec_dot_f16_2x2(void) {
    const struct ggml_type_traits_cpu * traits = ggml_get_type_traits_cpu(GGML_TYPE_F16);
    int tested = 0, mismatches = 0;
    static const int ks[] = { 16, 40, 257, 768, 2051 };
    for (int t = 0; t < 5; t++) {
        const int k = ks[t];
        const size_t bx = 2 * (size_t) k + (t % 2) * 6, by = 2 * (size_t) k + (t % 3) * 10; // bytes
        for (int rep = 0; rep < 16; rep++) {
            uint8_t * x = malloc(2 * bx), * y = malloc(2 * by);
            for (int r = 0; r < 2; r++) {
                for (int i = 0; i < k; i++) {
                    // sign, exponent 0..23 (subnormals .. 2^8), any mantissa: products and sums stay finite
                    const ggml_fp16_t hx = (ggml_fp16_t) ((next_u32() % 2) << 15 | (next_u32() % 24) << 10 | next_u32() % 1024);
                    const ggml_fp16_t hy = (ggml_fp16_t) ((next_u32() % 2) << 15 | (next_u32() % 24) << 10 | next_u32() % 1024);
                    memcpy(x + r * bx + 2 * i, &hx, 2);
                    memcpy(y + r * by + 2 * i, &hy, 2);
                }
            }
            const size_t bs = 2 + rep % 3;
            float out[8], expected[4];
            traits->vec_dot(k, out, bs, x, bx, y, by, 2);
            const float s[4] = { out[0], out[1], out[bs], out[bs + 1] };
            for (int j = 0; j < 2; j++)
                for (int i = 0; i < 2; i++) traits->vec_dot(k, &expected[i + 2 * j], 0, x + i * bx, 0, y + j * by, 0, 1);
            for (int i = 0; i < 4; i++) mismatches += bits_of(s[i]) != bits_of(expected[i]);
            tested += 4;
            free(x);
            free(y);
        }
    }
    printf("{\"check\":\"vec_dot_2x2\",\"type\":\"f16\",\"nrows\":%d,\"tested\":%d,\"mismatches\":%d}\n", (int) traits->nrows, tested, mismatches);
}

// wasm/patches/0007: the F16 dot with its column converted to f32 once (an F16 matmul's one-column path) gives
// ggml_vec_dot_f16's bits: lengths with and without a tail after the last 16-value step (40, 257, 2051), rows over the
// f16 range short of overflow, subnormals included.
static void check_vec_dot_f16_f32y(void) {
    int tested = 0, mismatches = 0;
    static const int ks[] = { 16, 40, 64, 128, 257, 576, 2051 };
    for (int t = 0; t < 7; t++) {
        const int k = ks[t];
        ggml_fp16_t * x = malloc(2 * (size_t) k), * y = malloc(2 * (size_t) k);
        float * y32 = malloc(4 * (size_t) k);
        for (int rep = 0; rep < 32; rep++) {
            for (int i = 0; i < k; i++) {
                x[i] = (ggml_fp16_t) ((next_u32() % 2) << 15 | (next_u32() % 24) << 10 | next_u32() % 1024);
                y[i] = (ggml_fp16_t) ((next_u32() % 2) << 15 | (next_u32() % 24) << 10 | next_u32() % 1024);
                y32[i] = GGML_CPU_FP16_TO_FP32(y[i]);
            }
            float s, expected;
            ggml_vec_dot_f16_f32y(k, &s, x, y32);
            ggml_vec_dot_f16(k, &expected, 0, x, 0, y, 0, 1);
            mismatches += bits_of(s) != bits_of(expected);
            tested++;
        }
        free(x);
        free(y);
        free(y32);
    }
    printf("{\"check\":\"vec_dot_f16_f32y\",\"tested\":%d,\"mismatches\":%d}\n", tested, mismatches);
}

// wasm/patches/0006: ggml_wasm_round_to_f16 gives GGML_CPU_FP16_TO_FP32(GGML_CPU_FP32_TO_FP16(x))'s bits: every F16
// value, the midpoints between neighbours (the ties) and one f32 step either side of them, both signs, 65504 .. 65520
// and past it, infinities, NaNs, and random bit patterns.
// Its two forms are checked on their own too, since the dispatch between them cannot change the bits: the one with the
// bit-selects on every vector, the common one on every vector whose lanes are all under 65520 in magnitude.
static int round_to_f16_finite_vectors = 0;
static int round_to_f16_mismatches(const float * x, int n) {
    int mismatches = 0;
    for (int i = 0; i + 4 <= n; i += 4) {
        const v128_t v = wasm_v128_load(x + i);
        float r[4], special[4], finite[4];
        wasm_v128_store(r, ggml_wasm_round_to_f16(v));
        wasm_v128_store(special, ggml_wasm_round_to_f16_special(v, wasm_v128_and(v, wasm_u32x4_splat(0x7FFFFFFFu))));
        wasm_v128_store(finite, ggml_wasm_round_to_f16_finite(v));
        int all_finite = 1;
        for (int l = 0; l < 4; l++) all_finite &= fabsf(x[i + l]) < 65520.0f;
        round_to_f16_finite_vectors += all_finite;
        for (int l = 0; l < 4; l++) {
            const uint32_t expected = bits_of(GGML_CPU_FP16_TO_FP32(GGML_CPU_FP32_TO_FP16(x[i + l])));
            mismatches += bits_of(r[l]) != expected;
            mismatches += bits_of(special[l]) != expected;
            mismatches += all_finite && bits_of(finite[l]) != expected;
        }
    }
    return mismatches;
}

static float float_of(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

static void check_round_to_f16(void) {
    enum { N = 4096 };
    float x[N];
    int n = 0, tested = 0, mismatches = 0;
#define ROUND_TO_F16_PUSH(v) do { x[n++] = (v); if (n == N) { mismatches += round_to_f16_mismatches(x, n); tested += n; n = 0; } } while (0)
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7C00) == 0x7C00) continue; // infinities and NaNs: below
        const float f = GGML_CPU_FP16_TO_FP32((ggml_fp16_t) h);
        const float next = (h & 0x7FFF) == 0x7BFF ? (h & 0x8000 ? -65536.0f : 65536.0f) : GGML_CPU_FP16_TO_FP32((ggml_fp16_t) (h + 1));
        const float mid = (float) (((double) f + next) / 2);
        ROUND_TO_F16_PUSH(f);
        ROUND_TO_F16_PUSH(mid);
        ROUND_TO_F16_PUSH(nextafterf(mid, 0.0f));
        ROUND_TO_F16_PUSH(nextafterf(mid, mid * 2));
    }
    const float specials[] = { 65504.0f, 65519.0f, 65519.996f, 65520.0f, 65536.0f, 1e30f, 3.4e38f, INFINITY, NAN, 1e-30f, 1e-45f, 5.9604645e-8f, 2.9802322e-8f, 2.9802326e-8f };
    for (int i = 0; i < (int) (sizeof specials / sizeof specials[0]); i++) {
        ROUND_TO_F16_PUSH(specials[i]);
        ROUND_TO_F16_PUSH(-specials[i]);
    }
    ROUND_TO_F16_PUSH(float_of(0x7F800001u)); // a signalling NaN
    ROUND_TO_F16_PUSH(float_of(0xFFC12345u));
    for (int i = 0; i < 200000; i++) ROUND_TO_F16_PUSH(float_of(next_u32() << 16 ^ next_u32()));
    while (n % 4) ROUND_TO_F16_PUSH(0.0f);
    mismatches += round_to_f16_mismatches(x, n);
    tested += n;
#undef ROUND_TO_F16_PUSH
    printf("{\"check\":\"round_to_f16\",\"tested\":%d,\"finiteVectors\":%d,\"mismatches\":%d}\n", tested, round_to_f16_finite_vectors, mismatches);
}

// wasm/patches/0006: flash attention through the graph (F16 K and V; one row per query head and token, as in decode
// steps and short prompts) gives the bits of ggml's own algorithm for it, written out here with ggml_vec_dot_f16 on an
// F16 Q and an F16 V accumulator (ggml_vec_scale_f16 / ggml_vec_mad_f16) read back at every cell, as
// ggml_compute_forward_flash_attn_ext_f16_one_chunk does without the patch. Grouped-query shapes take the patch's
// pass a group of heads at a time, others one row at a time. Optionally a mask (-inf on a third of the cells, other values random: a
// batch of sequences in one KV cache), ALiBi slopes (max_bias) and a logit softcap.
static void check_flash_attn(int dk, int dv, int n_kv, int n_q, int n_head, int n_head_kv, int masked, float max_bias, float softcap) {
    struct fa_graph fa = make_fa_graph(dk, dv, n_kv, n_q, n_head, n_head_kv, masked ? FA_MASK_PATTERN : FA_MASK_NONE, max_bias, softcap);
    const struct ggml_tensor * q = fa.q, * k = fa.k, * v = fa.v, * mask = fa.mask, * out = fa.out;
    struct ggml_cplan * plan = &fa.plan;
    const float scale = fa.scale;
    // ggml's own loop keeps an F16 V accumulator in the thread's scratch, dv floats in (VKQ16); the patch's pass never
    // writes there. Whether those bytes still hold the fill says which one ran: the bits alone could not.
    memset(plan->work_data, 0xA5, plan->work_size + 1);
    ggml_graph_compute(fa.graph, plan);
    int ggml_loop = 0;
    for (size_t i = sizeof(float) * dv; i < sizeof(float) * dv + 2 * (size_t) dv; i++) ggml_loop |= plan->work_data[i] != 0xA5;

    // one_chunk's constants
    const float kq_scale = softcap != 0.0f ? scale / softcap : scale;
    const uint32_t n_head_log2 = 1u << (uint32_t) floor(log2(n_head));
    const float m0 = powf(2.0f, -(max_bias) / n_head_log2);
    const float m1 = powf(2.0f, -(max_bias / 2.0f) / n_head_log2);
    ggml_fp16_t * q16 = malloc(2 * (size_t) dk), * vkq16 = malloc(2 * (size_t) dv);
    float * vkq32 = malloc(sizeof(float) * dv);
    int tested = 0, mismatches = 0;
    for (int j = 0; j < n_q; j++) {
        for (int h = 0; h < n_head; h++) {
            const int hk = h / (n_head / n_head_kv);
            const float slope = max_bias > 0.0f ? (uint32_t) h < n_head_log2 ? powf(m0, h + 1) : powf(m1, 2 * (h - n_head_log2) + 1) : 1.0f;
            ggml_cpu_fp32_to_fp16((const float *) q->data + ((size_t) h * n_q + j) * dk, q16, dk);
            memset(vkq16, 0, 2 * (size_t) dv);
            float S = 0.0f, M = -INFINITY;
            for (int c = 0; c < n_kv; c++) {
                const float mv = mask ? slope * GGML_CPU_FP16_TO_FP32(((const ggml_fp16_t *) mask->data)[j * n_kv + c]) : 0.0f;
                if (mv == -INFINITY) continue;
                float s;
                ggml_vec_dot_f16(dk, &s, 0, (ggml_fp16_t *) k->data + ((size_t) hk * n_kv + c) * dk, 0, q16, 0, 1);
                s = s * kq_scale;
                if (softcap != 0.0f) s = softcap * tanhf(s);
                s += mv;
                const float Mold = M;
                float ms = 1.0f, vs = 1.0f;
                if (s > M) {
                    M = s;
                    ms = expf(Mold - M);
                    ggml_vec_scale_f16(dv, vkq16, ms);
                } else {
                    vs = expf(s - M);
                }
                ggml_vec_mad_f16(dv, vkq16, (const ggml_fp16_t *) v->data + ((size_t) hk * n_kv + c) * dv, vs);
                S = S * ms + vs;
            }
            for (int d = 0; d < dv; d++) vkq32[d] = GGML_CPU_FP16_TO_FP32(vkq16[d]);
            ggml_vec_scale_f32(dv, vkq32, S == 0.0f ? 0.0f : 1.0f / S);
            for (int d = 0; d < dv; d++) {
                mismatches += bits_of(vkq32[d]) != bits_of(((const float *) out->data)[((size_t) j * n_head + h) * dv + d]);
                tested++;
            }
        }
    }
    printf("{\"check\":\"flash_attn\",\"dk\":%d,\"dv\":%d,\"nKv\":%d,\"nQ\":%d,\"heads\":%d,\"kvHeads\":%d,\"masked\":%d,\"maxBias\":%g,\"softcap\":%g,\"tested\":%d,\"mismatches\":%d,\"ggmlLoop\":%d}\n",
           dk, dv, n_kv, n_q, n_head, n_head_kv, masked, max_bias, softcap, tested, mismatches, ggml_loop);
    free(q16);
    free(vkq16);
    free(vkq32);
    free_fa_graph(&fa);
}
#endif // __wasm_simd128__

struct matmul {
    struct ggml_context * ctx;
    struct ggml_cgraph * graph;
    struct ggml_tensor * a, * b, * c;
    float * a_f32; // the weights as stored (dequantized)
    struct ggml_cplan plan;
};

static void compute(struct matmul * mm) { ggml_graph_compute(mm->graph, &mm->plan); }

// planes > 1: a batched matmul (weights k x m x planes, activations k x n x planes), as attention's K.Q without flash
// attention; plane p's rows are rows p*m.. of the weights, its columns columns p*n.. of the activations.
static struct matmul make_matmul(enum ggml_type type, int k, int m, int n, int planes) {
    struct matmul mm;
    const int rows = m * planes, cols = n * planes;
    const size_t size = ggml_row_size(type, k) * rows + (size_t) k * cols * 4 + (size_t) m * cols * 4 + 4 * ggml_graph_overhead() + (1 << 20);
    struct ggml_init_params params = { size, NULL, false };
    mm.ctx = ggml_init(params);
    mm.a = ggml_new_tensor_3d(mm.ctx, type, k, m, planes);
    mm.b = ggml_new_tensor_3d(mm.ctx, GGML_TYPE_F32, k, n, planes);
    float * w = malloc(sizeof(float) * k * rows);
    for (int i = 0; i < k * rows; i++) w[i] = next_float();
    if (type == GGML_TYPE_F32) {
        memcpy(mm.a->data, w, sizeof(float) * k * rows);
    } else {
        ggml_quantize_chunk(type, w, mm.a->data, 0, rows, k, NULL);
        ggml_get_type_traits(type)->to_float(mm.a->data, w, (int64_t) k * rows);
    }
    mm.a_f32 = w;
    for (int i = 0; i < k * cols; i++) ((float *) mm.b->data)[i] = next_float();
    mm.c = ggml_mul_mat(mm.ctx, mm.a, mm.b);
    mm.graph = ggml_new_graph(mm.ctx);
    ggml_build_forward_expand(mm.graph, mm.c);
    mm.plan = ggml_graph_plan(mm.graph, 1, NULL);
    mm.plan.work_data = malloc(mm.plan.work_size + 1);
    return mm;
}

static void free_matmul(struct matmul * mm) { free(mm->a_f32); free(mm->plan.work_data); ggml_free(mm->ctx); }

// A matmul through ggml's graph (what llama.cpp runs) against a double-precision reference over the same stored
// weights and the activations as the kernel sees them (rounded to f16, or quantized to q8_0). The error is reported
// relative to sum |a * b| of each output, the scale float32 summation error grows with.
#if defined(__wasm_simd128__)
static void check_matmul_planes(enum ggml_type type, int k, int m, int n, int planes) {
    struct matmul mm = make_matmul(type, k, m, n, planes);
    const int cols = n * planes;
    // 0007's panels sit past src1's F16 copy in the work buffer (F16 weights): whether the compute wrote there says
    // that it took them (the bits alone could not)
    memset(mm.plan.work_data, 0xA5, mm.plan.work_size + 1);
    compute(&mm);
    const size_t f16_copy = ((size_t) 2 * k * cols + 63) / 64 * 64;
    int panels_written = 0;
    if (type == GGML_TYPE_F16) {
        for (size_t i = f16_copy; i < mm.plan.work_size; i++) panels_written |= mm.plan.work_data[i] != 0xA5;
    }
    // the activations as ggml's vec_dot sees them: rounded to F16 for F16 weights, quantized to Q8_0 for Q8_0 / Q4_0
    const enum ggml_type act = type == GGML_TYPE_F16 ? GGML_TYPE_F16 : type == GGML_TYPE_F32 ? GGML_TYPE_F32 : GGML_TYPE_Q8_0;
    float * bq = malloc(sizeof(float) * k * cols);
    void * tmp = malloc(ggml_row_size(act, k) * cols);
    if (act == GGML_TYPE_F32) {
        memcpy(bq, mm.b->data, sizeof(float) * k * cols);
    } else {
        ggml_quantize_chunk(act, (const float *) mm.b->data, tmp, 0, cols, k, NULL);
        ggml_get_type_traits(act)->to_float(tmp, bq, (int64_t) k * cols);
    }
    // output i of column j (of every plane's columns) is weight row (j / n) * m + i against that column
    // F16 / Q8_0 / Q4_0: whatever kernel the graph dispatches to gives ggml's own 1x1 vec_dot's bits (a tiled kernel
    // must keep the SIMD128 vec_dot's results, which quantized-node-wasm.test.ts measured against native).
    const int tiled = type == GGML_TYPE_F16 || type == GGML_TYPE_Q8_0 || type == GGML_TYPE_Q4_0;
    int vec_dot_mismatches = 0;
    if (tiled) {
        const struct ggml_type_traits_cpu * traits = ggml_get_type_traits_cpu(type);
        const size_t row = ggml_row_size(traits->vec_dot_type, k);
        char * q = malloc(row * cols);
        for (int j = 0; j < cols; j++) ggml_get_type_traits_cpu(traits->vec_dot_type)->from_float((const float *) mm.b->data + (size_t) j * k, q + row * j, k);
        for (int j = 0; j < cols; j++) {
            for (int i = 0; i < m; i++) {
                float expected;
                traits->vec_dot(k, &expected, 0, (const char *) mm.a->data + mm.a->nb[1] * ((j / n) * m + i), 0, q + row * j, 0, 1);
                vec_dot_mismatches += bits_of(expected) != bits_of(((float *) mm.c->data)[(size_t) j * m + i]);
            }
        }
        free(q);
    }
    double worst = 0;
    for (int j = 0; j < cols; j++) {
        for (int i = 0; i < m; i++) {
            double sum = 0, scale = 0;
            for (int l = 0; l < k; l++) {
                const double p = (double) mm.a_f32[(size_t) ((j / n) * m + i) * k + l] * bq[(size_t) j * k + l];
                sum += p;
                scale += fabs(p);
            }
            const double error = fabs(((float *) mm.c->data)[(size_t) j * m + i] - sum) / scale;
            if (!(error <= worst)) worst = error;
        }
    }
    // workSize: the graph plan's work buffer (src1 converted, and 0007's F16 panels where the graph takes them)
    printf("{\"check\":\"matmul\",\"type\":\"%s\",\"k\":%d,\"m\":%d,\"n\":%d,\"planes\":%d,\"relativeError\":%.3g,\"vecDotMismatches\":%d,\"workSize\":%zu,\"panelsWritten\":%d}\n",
           ggml_type_name(type), k, m, n, planes, worst, vec_dot_mismatches, mm.plan.work_size, panels_written);
    free(bq);
    free(tmp);
    free_matmul(&mm);
}

static void check_matmul(enum ggml_type type, int k, int m, int n) { check_matmul_planes(type, k, m, n, 1); }

#endif // __wasm_simd128__

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

// One decode token's flash attention over n_kv cells of an F16 K / V cache (no cell masked), 1 thread, after warm-up.
static void bench_flash_attn(int dk, int n_head, int n_head_kv, int n_kv) {
    struct fa_graph fa = make_fa_graph(dk, dk, n_kv, 1, n_head, n_head_kv, FA_MASK_ZERO, 0.0f, 0.0f);
    for (int w = 0; w < 3; w++) ggml_graph_compute(fa.graph, &fa.plan);
    const int reps = 50;
    const double started = now_ms();
    for (int r = 0; r < reps; r++) ggml_graph_compute(fa.graph, &fa.plan);
    printf("{\"bench\":\"flash_attn\",\"dk\":%d,\"heads\":%d,\"kvHeads\":%d,\"k\":%d,\"ms\":%.4f}\n", dk, n_head, n_head_kv, n_kv, (now_ms() - started) / reps);
    free_fa_graph(&fa);
}

// bench-60m's shape: 768-wide stream, 2048-wide feed-forward. GFLOP/s per matmul, 1 thread, after warm-up.
static void bench(void) {
    const enum ggml_type types[] = { GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_Q8_0, GGML_TYPE_Q4_0 };
    const int ns[] = { 1, 64 };
    for (int t = 0; t < 4; t++) {
        for (int s = 0; s < 2; s++) {
            struct matmul mm = make_matmul(types[t], 768, 2048, ns[s], 1);
            for (int w = 0; w < 3; w++) compute(&mm);
            int reps = ns[s] == 1 ? 200 : 8;
            const double started = now_ms();
            for (int r = 0; r < reps; r++) compute(&mm);
            const double ms = (now_ms() - started) / reps;
            printf("{\"bench\":\"matmul\",\"type\":\"%s\",\"k\":768,\"m\":2048,\"n\":%d,\"ms\":%.4f,\"gflops\":%.2f}\n", ggml_type_name(types[t]), ns[s], ms, 2.0 * 768 * 2048 * ns[s] / ms / 1e6);
            free_matmul(&mm);
        }
    }
    enum { K = 768 * 64 };
    static float x[K];
    static block_q8_0 q[K / QK8_0];
    static ggml_fp16_t h[K];
    for (int i = 0; i < K; i++) x[i] = next_float();
    double started = now_ms();
    for (int r = 0; r < 200; r++) quantize_row_q8_0(x, q, K);
    printf("{\"bench\":\"quantize_row_q8_0\",\"k\":%d,\"ms\":%.4f}\n", K, (now_ms() - started) / 200);
    started = now_ms();
    for (int r = 0; r < 200; r++) ggml_cpu_fp32_to_fp16(x, h, K);
    printf("{\"bench\":\"fp32_to_fp16\",\"k\":%d,\"ms\":%.4f}\n", K, (now_ms() - started) / 200);
    started = now_ms();
    for (int r = 0; r < 200; r++) ggml_cpu_fp16_to_fp32(h, x, K);
    printf("{\"bench\":\"fp16_to_fp32\",\"k\":%d,\"ms\":%.4f}\n", K, (now_ms() - started) / 200);
    bench_flash_attn(64, 12, 4, 1024);  // bench-60m's attention
    bench_flash_attn(128, 32, 2, 1024); // the twin's (Nemotron 3 Nano's)
}

int main(int argc, char ** argv) {
    ggml_cpu_init();
    if (argc > 1 && strcmp(argv[1], "bench") == 0) {
        bench();
        return 0;
    }
#if defined(__wasm_simd128__)
    check_row_conversions();
    check_fp16_to_fp32_rows();
    check_quantize_q8_0();
    check_f16x4_store();
    const enum ggml_type types[] = { GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_Q8_0, GGML_TYPE_Q4_0 };
    for (int t = 0; t < 4; t++) {
        check_matmul(types[t], 256, 48, 1);  // decode: one column
        check_matmul(types[t], 256, 48, 13); // prefill
    }
    // odd block count (Q4_0's vec_dot ends with a scalar block), rows not a multiple of four
    check_matmul(GGML_TYPE_Q8_0, 288, 50, 3);
    check_matmul(GGML_TYPE_Q4_0, 288, 50, 3);
    // even column and row counts: the graph takes the 2x2 tiles (0004), odd Q4_0 block count included
    check_matmul(GGML_TYPE_Q8_0, 256, 48, 8);
    check_matmul(GGML_TYPE_Q4_0, 256, 48, 8);
    check_matmul(GGML_TYPE_Q8_0, 288, 50, 8);
    check_matmul(GGML_TYPE_Q4_0, 288, 50, 8);
    check_vec_dot_2x2(GGML_TYPE_Q8_0);
    check_vec_dot_2x2(GGML_TYPE_Q4_0);
    // F16 matmuls of one plane take the panels (0007), the ones above included: k = 280 leaves a tail after the last
    // 16-value step; blocks of 16 rows and columns and what is left of them (odd rows and columns, k = 282 not a
    // multiple of 4); one column (rows converted on the fly)
    check_matmul(GGML_TYPE_F16, 256, 48, 8);
    check_matmul(GGML_TYPE_F16, 280, 50, 8);
    check_matmul(GGML_TYPE_F16, 282, 37, 19);
    check_matmul(GGML_TYPE_F16, 200, 70, 40);
    check_matmul(GGML_TYPE_F16, 282, 37, 1);
    // a batched F16 matmul (two planes, as attention without flash attention) keeps ggml's loop: 0005's 2x2 tiles
    check_matmul_planes(GGML_TYPE_F16, 256, 48, 8, 2);
    check_vec_dot_f16_2x2();
    check_vec_dot_f16_f32y();
    check_round_to_f16();
    check_flash_attn(128, 128, 200, 1, 32, 2, 0, 0.0f, 0.0f); // a decode step, 16 query heads a K / V head (grouped pass)
    check_flash_attn(128, 128, 96, 5, 32, 2, 1, 0.0f, 0.0f);  // 5 sequences' decode tokens in one KV cache, masked
    check_flash_attn(64, 64, 37, 3, 12, 4, 1, 8.0f, 30.0f);   // ALiBi slopes per head, softcap
    check_flash_attn(64, 64, 37, 1, 4, 4, 0, 0.0f, 0.0f);     // no grouping: the pass one row at a time
    check_flash_attn(40, 24, 65, 2, 2, 1, 1, 0.0f, 0.0f);     // tails: 40 and 24 are not multiples of 16
    // one token and 512 cells or more: ggml splits the KV cells between threads and reduces partial results
    check_flash_attn(128, 128, 600, 1, 32, 2, 1, 0.0f, 0.0f); // grouped
    check_flash_attn(64, 64, 520, 1, 4, 4, 0, 0.0f, 0.0f);    // one row at a time
#endif
    return 0;
}

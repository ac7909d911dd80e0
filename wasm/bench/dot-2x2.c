// Microbenchmark: ggml's Wasm SIMD128 Q8_0·Q8_0 and Q4_0·Q8_0 vec_dot (1 row x 1 column per call, copied from
// llama.cpp's ggml/src/ggml-cpu/arch/wasm/quants.c for comparison only) against 2x2-tiled versions (2 weight rows x
// 2 activation columns per call, ggml's nrc == 2 route), driven by the loop of ggml_compute_forward_mul_mat_one_chunk
// (16x16 blocks) over decode-like shapes, 8 activation columns by default (argv[2]; an odd count runs its last column 1x1,
// as the odd-column route tried for 0004). Checks that the 2x2 results are bit-identical to the 1x1 ones and prints ns
// per dot. Built and run by scripts/wasm-dot-bench.mjs.
#include <wasm_simd128.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define QK 32
typedef uint16_t fp16_t;
typedef struct { fp16_t d; int8_t qs[QK]; } block_q8_0;
typedef struct { fp16_t d; uint8_t qs[QK / 2]; } block_q4_0;
typedef void (*vec_dot_t)(int n, float * restrict s, size_t bs, const void * restrict vx, size_t bx, const void * restrict vy, size_t by, int nrc);

static float table_f32_f16[1 << 16];
static float fp16_to_fp32_exact(uint16_t h) {
    const uint32_t sign = (h >> 15) & 1, exp = (h >> 10) & 31, man = h & 1023;
    float v = exp == 0 ? ldexpf((float) man, -24) : exp == 31 ? (man ? NAN : INFINITY) : ldexpf((float) (man | 1024), (int) exp - 25);
    return sign ? -v : v;
}
static inline float F16(fp16_t h) { return table_f32_f16[h]; }  // ggml_lookup_fp16_to_fp32 in the Wasm build

// ---- ggml's kernels (llama.cpp b6xxx as bundled by node-llama-cpp v0.4.0), nrc == 1 only ----
__attribute__((noinline)) static void ggml_q8_0_q8_0(int n, float * restrict s, size_t bs, const void * restrict vx, size_t bx, const void * restrict vy, size_t by, int nrc) {
    const int nb = n / QK;
    const block_q8_0 * restrict x = vx;
    const block_q8_0 * restrict y = vy;
    v128_t sumv = wasm_f32x4_splat(0.0f);
    for (int ib = 0; ib < nb; ++ib) {
        const block_q8_0 * restrict x0 = &x[ib];
        const block_q8_0 * restrict y0 = &y[ib];
        const v128_t x0_0 = wasm_v128_load(x0->qs);
        const v128_t x0_1 = wasm_v128_load(x0->qs + 16);
        const v128_t y0_0 = wasm_v128_load(y0->qs);
        const v128_t y0_1 = wasm_v128_load(y0->qs + 16);
        const v128_t x0_0l = wasm_i16x8_extend_low_i8x16(x0_0);
        const v128_t x0_0h = wasm_i16x8_extend_high_i8x16(x0_0);
        const v128_t x0_1l = wasm_i16x8_extend_low_i8x16(x0_1);
        const v128_t x0_1h = wasm_i16x8_extend_high_i8x16(x0_1);
        const v128_t y0_0l = wasm_i16x8_extend_low_i8x16(y0_0);
        const v128_t y0_0h = wasm_i16x8_extend_high_i8x16(y0_0);
        const v128_t y0_1l = wasm_i16x8_extend_low_i8x16(y0_1);
        const v128_t y0_1h = wasm_i16x8_extend_high_i8x16(y0_1);
        const v128_t dx0_0 = wasm_i32x4_dot_i16x8(x0_0l, y0_0l);
        const v128_t dx0_1 = wasm_i32x4_dot_i16x8(x0_0h, y0_0h);
        const v128_t dx1_0 = wasm_i32x4_dot_i16x8(x0_1l, y0_1l);
        const v128_t dx1_1 = wasm_i32x4_dot_i16x8(x0_1h, y0_1h);
        const v128_t sum_dots = wasm_i32x4_add(wasm_i32x4_add(dx0_0, dx0_1), wasm_i32x4_add(dx1_0, dx1_1));
        const float scale = F16(x0->d) * F16(y0->d);
        sumv = wasm_f32x4_add(sumv, wasm_f32x4_mul(wasm_f32x4_convert_i32x4(sum_dots), wasm_f32x4_splat(scale)));
    }
    *s = wasm_f32x4_extract_lane(sumv, 0) + wasm_f32x4_extract_lane(sumv, 1) +
         wasm_f32x4_extract_lane(sumv, 2) + wasm_f32x4_extract_lane(sumv, 3);
}

__attribute__((noinline)) static void ggml_q4_0_q8_0(int n, float * restrict s, size_t bs, const void * restrict vx, size_t bx, const void * restrict vy, size_t by, int nrc) {
    const int qk = QK;
    const int nb = n / qk;
    const block_q4_0 * restrict x = vx;
    const block_q8_0 * restrict y = vy;
    int ib = 0;
    float sumf = 0;
    v128_t sumv = wasm_f32x4_splat(0.0f);
    const v128_t m4b = wasm_i8x16_splat(0x0F);
    const v128_t s8b = wasm_i8x16_splat(0x8);
    for (; ib + 1 < nb; ib += 2) {
        const block_q4_0 * restrict x0 = &x[ib];
        const block_q4_0 * restrict x1 = &x[ib + 1];
        const block_q8_0 * restrict y0 = &y[ib];
        const block_q8_0 * restrict y1 = &y[ib + 1];
        v128_t v0_0 = wasm_v128_load(x0->qs);
        v128_t v0_0l = wasm_v128_and(v0_0, m4b);
        v128_t v0_0h = wasm_u8x16_shr(v0_0, 4);
        v128_t v0_0ls = wasm_i8x16_sub(v0_0l, s8b);
        v128_t v0_0hs = wasm_i8x16_sub(v0_0h, s8b);
        v128_t y0_l = wasm_v128_load(y0->qs);
        v128_t y0_h = wasm_v128_load(y0->qs + 16);
        v128_t dx0l = wasm_i16x8_extend_low_i8x16(v0_0ls);
        v128_t dx0h = wasm_i16x8_extend_high_i8x16(v0_0ls);
        v128_t dx0hl = wasm_i16x8_extend_low_i8x16(v0_0hs);
        v128_t dx0hh = wasm_i16x8_extend_high_i8x16(v0_0hs);
        v128_t dy0ll = wasm_i16x8_extend_low_i8x16(y0_l);
        v128_t dy0lh = wasm_i16x8_extend_high_i8x16(y0_l);
        v128_t dy0hl = wasm_i16x8_extend_low_i8x16(y0_h);
        v128_t dy0hh = wasm_i16x8_extend_high_i8x16(y0_h);
        v128_t dp0 = wasm_i32x4_add(
            wasm_i32x4_add(wasm_i32x4_dot_i16x8(dx0l, dy0ll), wasm_i32x4_dot_i16x8(dx0h, dy0lh)),
            wasm_i32x4_add(wasm_i32x4_dot_i16x8(dx0hl, dy0hl), wasm_i32x4_dot_i16x8(dx0hh, dy0hh)));
        v128_t v0_1 = wasm_v128_load(x1->qs);
        v128_t v0_1l = wasm_v128_and(v0_1, m4b);
        v128_t v0_1h = wasm_u8x16_shr(v0_1, 4);
        v128_t v0_1ls = wasm_i8x16_sub(v0_1l, s8b);
        v128_t v0_1hs = wasm_i8x16_sub(v0_1h, s8b);
        v128_t y1_l = wasm_v128_load(y1->qs);
        v128_t y1_h = wasm_v128_load(y1->qs + 16);
        v128_t dx1l = wasm_i16x8_extend_low_i8x16(v0_1ls);
        v128_t dx1h = wasm_i16x8_extend_high_i8x16(v0_1ls);
        v128_t dx1hl = wasm_i16x8_extend_low_i8x16(v0_1hs);
        v128_t dx1hh = wasm_i16x8_extend_high_i8x16(v0_1hs);
        v128_t dy1ll = wasm_i16x8_extend_low_i8x16(y1_l);
        v128_t dy1lh = wasm_i16x8_extend_high_i8x16(y1_l);
        v128_t dy1hl = wasm_i16x8_extend_low_i8x16(y1_h);
        v128_t dy1hh = wasm_i16x8_extend_high_i8x16(y1_h);
        v128_t dp1 = wasm_i32x4_add(
            wasm_i32x4_add(wasm_i32x4_dot_i16x8(dx1l, dy1ll), wasm_i32x4_dot_i16x8(dx1h, dy1lh)),
            wasm_i32x4_add(wasm_i32x4_dot_i16x8(dx1hl, dy1hl), wasm_i32x4_dot_i16x8(dx1hh, dy1hh)));
        float scale0 = F16(x0->d) * F16(y0->d);
        float scale1 = F16(x1->d) * F16(y1->d);
        sumv = wasm_f32x4_add(sumv, wasm_f32x4_mul(wasm_f32x4_convert_i32x4(dp0), wasm_f32x4_splat(scale0)));
        sumv = wasm_f32x4_add(sumv, wasm_f32x4_mul(wasm_f32x4_convert_i32x4(dp1), wasm_f32x4_splat(scale1)));
    }
    sumf = wasm_f32x4_extract_lane(sumv, 0) + wasm_f32x4_extract_lane(sumv, 1) +
           wasm_f32x4_extract_lane(sumv, 2) + wasm_f32x4_extract_lane(sumv, 3);
    for (; ib < nb; ++ib) {
        int sumi0 = 0, sumi1 = 0;
        for (int j = 0; j < qk/2; ++j) {
            const int v0 = (x[ib].qs[j] & 0x0F) - 8;
            const int v1 = (x[ib].qs[j] >>   4) - 8;
            sumi0 += (v0 * y[ib].qs[j]);
            sumi1 += (v1 * y[ib].qs[j + qk/2]);
        }
        sumf += (sumi0 + sumi1) * F16(x[ib].d) * F16(y[ib].d);
    }
    *s = sumf;
}

// ---- 2x2 tiles: s[i + j*bs] = x_i . y_j (ggml's nrc == 2 layout: x rows bx bytes apart, y columns by bytes apart) ----
// Each lane of each of the four accumulators sees exactly the integer sums and float operations of the 1x1 kernel,
// so the results are the same bits. Sign-extending loads (v128.load8x8_s, one pmovsxbw on x64) keep few v128
// values live: 4 float accumulators, 4 int sums, 4 operands.
static inline float hsum(v128_t v) {
    return wasm_f32x4_extract_lane(v, 0) + wasm_f32x4_extract_lane(v, 1) + wasm_f32x4_extract_lane(v, 2) + wasm_f32x4_extract_lane(v, 3);
}
#define ACC(acc, isum, scale) acc = wasm_f32x4_add(acc, wasm_f32x4_mul(wasm_f32x4_convert_i32x4(isum), wasm_f32x4_splat(scale)))

__attribute__((noinline)) static void tile_q8_0_q8_0(int n, float * restrict s, size_t bs, const void * restrict vx, size_t bx, const void * restrict vy, size_t by, int nrc) {
    if (nrc == 1) { ggml_q8_0_q8_0(n, s, bs, vx, bx, vy, by, nrc); return; } // as in the patch: nrc == 1 is the 1x1 kernel
    const int nb = n / QK;
    const block_q8_0 * restrict x0 = vx;
    const block_q8_0 * restrict x1 = (const block_q8_0 *) ((const char *) vx + bx);
    const block_q8_0 * restrict y0 = vy;
    const block_q8_0 * restrict y1 = (const block_q8_0 *) ((const char *) vy + by);
    v128_t acc00 = wasm_f32x4_splat(0.0f), acc10 = acc00, acc01 = acc00, acc11 = acc00;
    for (int ib = 0; ib < nb; ++ib) {
        v128_t i00 = wasm_i32x4_splat(0), i10 = i00, i01 = i00, i11 = i00;
        for (int q = 0; q < QK; q += 8) {
            const v128_t a0 = wasm_i16x8_load8x8(x0[ib].qs + q);
            const v128_t a1 = wasm_i16x8_load8x8(x1[ib].qs + q);
            const v128_t b0 = wasm_i16x8_load8x8(y0[ib].qs + q);
            const v128_t b1 = wasm_i16x8_load8x8(y1[ib].qs + q);
            i00 = wasm_i32x4_add(i00, wasm_i32x4_dot_i16x8(a0, b0));
            i10 = wasm_i32x4_add(i10, wasm_i32x4_dot_i16x8(a1, b0));
            i01 = wasm_i32x4_add(i01, wasm_i32x4_dot_i16x8(a0, b1));
            i11 = wasm_i32x4_add(i11, wasm_i32x4_dot_i16x8(a1, b1));
        }
        const float dx0 = F16(x0[ib].d), dx1 = F16(x1[ib].d), dy0 = F16(y0[ib].d), dy1 = F16(y1[ib].d);
        ACC(acc00, i00, dx0 * dy0);
        ACC(acc10, i10, dx1 * dy0);
        ACC(acc01, i01, dx0 * dy1);
        ACC(acc11, i11, dx1 * dy1);
    }
    s[0] = hsum(acc00); s[1] = hsum(acc10); s[bs] = hsum(acc01); s[bs + 1] = hsum(acc11);
}

// 1x1 with the same sign-extending loads: is the 2x2 tile the win, or only the loads?
__attribute__((noinline)) static void ld_q8_0_q8_0(int n, float * restrict s, size_t bs, const void * restrict vx, size_t bx, const void * restrict vy, size_t by, int nrc) {
    const int nb = n / QK;
    const block_q8_0 * restrict x = vx;
    const block_q8_0 * restrict y = vy;
    v128_t acc = wasm_f32x4_splat(0.0f);
    for (int ib = 0; ib < nb; ++ib) {
        v128_t i0 = wasm_i32x4_dot_i16x8(wasm_i16x8_load8x8(x[ib].qs), wasm_i16x8_load8x8(y[ib].qs));
        v128_t i1 = wasm_i32x4_dot_i16x8(wasm_i16x8_load8x8(x[ib].qs + 8), wasm_i16x8_load8x8(y[ib].qs + 8));
        v128_t i2 = wasm_i32x4_dot_i16x8(wasm_i16x8_load8x8(x[ib].qs + 16), wasm_i16x8_load8x8(y[ib].qs + 16));
        v128_t i3 = wasm_i32x4_dot_i16x8(wasm_i16x8_load8x8(x[ib].qs + 24), wasm_i16x8_load8x8(y[ib].qs + 24));
        ACC(acc, wasm_i32x4_add(wasm_i32x4_add(i0, i1), wasm_i32x4_add(i2, i3)), F16(x[ib].d) * F16(y[ib].d));
    }
    *s = hsum(acc);
}

// Q4_0 x rows: nibbles zero-extended to i16 by v128.load8x8_u, masked/shifted, minus 8 (the same values as ggml's).
static inline int q4_scalar(const block_q4_0 * x, const block_q8_0 * y) {
    int sumi0 = 0, sumi1 = 0;
    for (int j = 0; j < QK / 2; ++j) {
        sumi0 += ((x->qs[j] & 0x0F) - 8) * y->qs[j];
        sumi1 += ((x->qs[j] >> 4) - 8) * y->qs[j + QK / 2];
    }
    return sumi0 + sumi1;
}
__attribute__((noinline)) static void tile_q4_0_q8_0(int n, float * restrict s, size_t bs, const void * restrict vx, size_t bx, const void * restrict vy, size_t by, int nrc) {
    if (nrc == 1) { ggml_q4_0_q8_0(n, s, bs, vx, bx, vy, by, nrc); return; } // as in the patch: nrc == 1 is the 1x1 kernel
    const int nb = n / QK;
    const block_q4_0 * restrict x0 = vx;
    const block_q4_0 * restrict x1 = (const block_q4_0 *) ((const char *) vx + bx);
    const block_q8_0 * restrict y0 = vy;
    const block_q8_0 * restrict y1 = (const block_q8_0 *) ((const char *) vy + by);
    const v128_t m4 = wasm_i16x8_splat(0x0F), s8 = wasm_i16x8_splat(8);
    v128_t acc00 = wasm_f32x4_splat(0.0f), acc10 = acc00, acc01 = acc00, acc11 = acc00;
    // ggml's 1x1 kernel takes blocks two at a time and leaves an odd last block to scalar code added after the
    // horizontal sum: the same here, for the same bits.
    int ib = 0;
    for (; ib < (nb & ~1); ++ib) {
        v128_t i00 = wasm_i32x4_splat(0), i10 = i00, i01 = i00, i11 = i00;
        for (int q = 0; q < 2; ++q) {
            const v128_t r0 = wasm_u16x8_load8x8(x0[ib].qs + 8 * q), r1 = wasm_u16x8_load8x8(x1[ib].qs + 8 * q);
            // low nibbles: elements 8q..8q+7; high nibbles: elements 16+8q..16+8q+7
            const v128_t l0 = wasm_i16x8_sub(wasm_v128_and(r0, m4), s8), l1 = wasm_i16x8_sub(wasm_v128_and(r1, m4), s8);
            const v128_t bl0 = wasm_i16x8_load8x8(y0[ib].qs + 8 * q), bl1 = wasm_i16x8_load8x8(y1[ib].qs + 8 * q);
            i00 = wasm_i32x4_add(i00, wasm_i32x4_dot_i16x8(l0, bl0));
            i10 = wasm_i32x4_add(i10, wasm_i32x4_dot_i16x8(l1, bl0));
            i01 = wasm_i32x4_add(i01, wasm_i32x4_dot_i16x8(l0, bl1));
            i11 = wasm_i32x4_add(i11, wasm_i32x4_dot_i16x8(l1, bl1));
            const v128_t h0 = wasm_i16x8_sub(wasm_u16x8_shr(r0, 4), s8), h1 = wasm_i16x8_sub(wasm_u16x8_shr(r1, 4), s8);
            const v128_t bh0 = wasm_i16x8_load8x8(y0[ib].qs + 16 + 8 * q), bh1 = wasm_i16x8_load8x8(y1[ib].qs + 16 + 8 * q);
            i00 = wasm_i32x4_add(i00, wasm_i32x4_dot_i16x8(h0, bh0));
            i10 = wasm_i32x4_add(i10, wasm_i32x4_dot_i16x8(h1, bh0));
            i01 = wasm_i32x4_add(i01, wasm_i32x4_dot_i16x8(h0, bh1));
            i11 = wasm_i32x4_add(i11, wasm_i32x4_dot_i16x8(h1, bh1));
        }
        const float dx0 = F16(x0[ib].d), dx1 = F16(x1[ib].d), dy0 = F16(y0[ib].d), dy1 = F16(y1[ib].d);
        ACC(acc00, i00, dx0 * dy0);
        ACC(acc10, i10, dx1 * dy0);
        ACC(acc01, i01, dx0 * dy1);
        ACC(acc11, i11, dx1 * dy1);
    }
    float s00 = hsum(acc00), s10 = hsum(acc10), s01 = hsum(acc01), s11 = hsum(acc11);
    for (; ib < nb; ++ib) {
        s00 += q4_scalar(&x0[ib], &y0[ib]) * F16(x0[ib].d) * F16(y0[ib].d);
        s10 += q4_scalar(&x1[ib], &y0[ib]) * F16(x1[ib].d) * F16(y0[ib].d);
        s01 += q4_scalar(&x0[ib], &y1[ib]) * F16(x0[ib].d) * F16(y1[ib].d);
        s11 += q4_scalar(&x1[ib], &y1[ib]) * F16(x1[ib].d) * F16(y1[ib].d);
    }
    s[0] = s00; s[1] = s10; s[bs] = s01; s[bs + 1] = s11;
}

// ---- driver: ggml_compute_forward_mul_mat_one_chunk's loop, 16x16 blocks, tmp[32] with columns 16 apart ----
static void mul_mat(vec_dot_t dot, int nrows, int k, int m, int cols, const char * w, size_t row_bytes, const char * act, size_t col_bytes, float * dst) {
    float tmp[32];
    for (int iir1 = 0; iir1 < cols; iir1 += 16)
        for (int iir0 = 0; iir0 < m; iir0 += 16)
            for (int ir1 = iir1, nrv = nrows; ir1 < iir1 + 16 && ir1 < cols; ir1 += nrv) {
                // wasm/patches/0004: an odd column count runs its last column 1x1
                nrv = ir1 + 1 < (iir1 + 16 < cols ? iir1 + 16 : cols) ? nrows : 1;
                for (int ir0 = iir0; ir0 < iir0 + 16 && ir0 < m; ir0 += nrv)
                    dot(k, &tmp[ir0 - iir0], nrv > 1 ? 16 : 0, w + ir0 * row_bytes, nrv > 1 ? row_bytes : 0, act + ir1 * col_bytes, nrv > 1 ? col_bytes : 0, nrv);
                for (int cn = 0; cn < nrv; ++cn)
                    memcpy(&dst[(ir1 + cn) * m + iir0], tmp + cn * 16, (size_t) ((iir0 + 16 < m ? iir0 + 16 : m) - iir0) * sizeof(float));
            }
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t next_u32(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return (uint32_t) (rng >> 16); }
static fp16_t random_scale(void) { return (fp16_t) (0x1800 + next_u32() % 0x1000); }  // ~6e-5 .. ~4e-3, positive
static int8_t random_q8(void) { uint32_t r = next_u32() % 64; return r == 0 ? -128 : r == 1 ? 127 : (int8_t) (next_u32() % 256 - 128); }

static double now_ms(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e3 + t.tv_nsec / 1e6; }

static int run(const char * type, int k, int m, int cols, int reps) {
    const int nb = k / QK;
    const int q4 = type[1] == '4';
    const size_t row_bytes = (size_t) nb * (q4 ? sizeof(block_q4_0) : sizeof(block_q8_0));
    const size_t col_bytes = (size_t) nb * sizeof(block_q8_0);
    char * w = malloc(row_bytes * m);
    char * act = malloc(col_bytes * cols);
    for (int r = 0; r < m; r++)
        for (int b = 0; b < nb; b++) {
            if (q4) {
                block_q4_0 * blk = (block_q4_0 *) (w + r * row_bytes) + b;
                blk->d = random_scale();
                for (int j = 0; j < QK / 2; j++) blk->qs[j] = (uint8_t) next_u32();
            } else {
                block_q8_0 * blk = (block_q8_0 *) (w + r * row_bytes) + b;
                blk->d = random_scale();
                for (int j = 0; j < QK; j++) blk->qs[j] = random_q8();
            }
        }
    for (int c = 0; c < cols; c++)
        for (int b = 0; b < nb; b++) {
            block_q8_0 * blk = (block_q8_0 *) (act + c * col_bytes) + b;
            blk->d = random_scale();
            for (int j = 0; j < QK; j++) blk->qs[j] = random_q8();
        }
    struct { const char * name; vec_dot_t dot; int nrows; } kernels[3] = {
        { "ggml_1x1", q4 ? ggml_q4_0_q8_0 : ggml_q8_0_q8_0, 1 },
        { "tile_2x2", q4 ? tile_q4_0_q8_0 : tile_q8_0_q8_0, 2 },
        { "load8x8_1x1", q4 ? NULL : ld_q8_0_q8_0, 1 },
    };
    float * ref = malloc(sizeof(float) * m * cols);
    float * out = malloc(sizeof(float) * m * cols);
    mul_mat(kernels[0].dot, 1, k, m, cols, w, row_bytes, act, col_bytes, ref);
    double best[3] = { 1e30, 1e30, 1e30 };
    int mismatches[3] = { 0, 0, 0 };
    for (int kk = 1; kk < 3; kk++) {
        if (!kernels[kk].dot) continue;
        memset(out, 0, sizeof(float) * m * cols);
        mul_mat(kernels[kk].dot, kernels[kk].nrows, k, m, cols, w, row_bytes, act, col_bytes, out);
        for (int i = 0; i < m * cols; i++) mismatches[kk] += memcmp(&out[i], &ref[i], 4) != 0;
    }
    // Alternate the kernels over rounds so load changes hit all of them alike; best round of each.
    for (int round = 0; round < 7; round++)
        for (int kk = 0; kk < 3; kk++) {
            if (!kernels[kk].dot) continue;
            const double t0 = now_ms();
            for (int rep = 0; rep < reps; rep++) mul_mat(kernels[kk].dot, kernels[kk].nrows, k, m, cols, w, row_bytes, act, col_bytes, out);
            const double ns = (now_ms() - t0) * 1e6 / ((double) reps * m * cols);
            if (ns < best[kk]) best[kk] = ns;
        }
    printf("{\"type\":\"%s\",\"k\":%d,\"m\":%d,\"cols\":%d", type, k, m, cols);
    for (int kk = 0; kk < 3; kk++)
        if (kernels[kk].dot) printf(",\"%s_ns\":%.2f,\"%s_mismatches\":%d", kernels[kk].name, best[kk], kernels[kk].name, mismatches[kk]);
    printf(",\"tile_speedup\":%.3f}\n", best[0] / best[1]);
    free(w); free(act); free(ref); free(out);
    return 0;
}

int main(int argc, char ** argv) {
    for (int h = 0; h < (1 << 16); h++) table_f32_f16[h] = fp16_to_fp32_exact((uint16_t) h);
    const int reps = argc > 1 ? atoi(argv[1]) : 20;
    const int cols = argc > 2 ? atoi(argv[2]) : 8;
    static const int shapes[][2] = { { 768, 768 }, { 768, 2048 }, { 2048, 768 }, { 800, 96 } };  // k (row length), m (rows)
    for (int t = 0; t < 2; t++)
        for (int i = 0; i < 4; i++) run(t ? "q4_0" : "q8_0", shapes[i][0], shapes[i][1], cols, reps);
    return 0;
}

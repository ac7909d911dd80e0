// Microbenchmark of the shipped Wasm SIMD128 Q8_0·Q8_0 and Q4_0·Q8_0 vec_dot (ggml's, as wasm/patches/0004 leaves
// them), linked from the static libraries `node wasm/build.mjs` built: one weight row x one activation column per call
// (nrc == 1) against the 2x2 tiles (2 rows x 2 columns, nrc == 2), driven by the loop of
// ggml_compute_forward_mul_mat_one_chunk (16x16 blocks) over decode-like shapes, 8 activation columns by default
// (argv[2]; an odd count runs its last column 1x1, the odd-column route tried for 0004). Checks that the tiles give the
// 1x1 bits and prints ns per dot. Built and run by scripts/wasm-dot-bench.mjs.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ggml.h"
#include "ggml-cpu.h"

typedef void (*vec_dot_t)(int n, float * restrict s, size_t bs, const void * restrict vx, size_t bx, const void * restrict vy, size_t by, int nrc);

// ggml_compute_forward_mul_mat_one_chunk's loop: 16x16 blocks, tmp[32] holding two columns 16 apart.
static void mul_mat(vec_dot_t dot, int nrows, int k, int m, int cols, const char * w, size_t row_bytes, const char * act, size_t col_bytes, float * dst) {
    float tmp[32];
    for (int iir1 = 0; iir1 < cols; iir1 += 16)
        for (int iir0 = 0; iir0 < m; iir0 += 16)
            for (int ir1 = iir1, nrv = nrows; ir1 < iir1 + 16 && ir1 < cols; ir1 += nrv) {
                nrv = ir1 + 1 < (iir1 + 16 < cols ? iir1 + 16 : cols) ? nrows : 1;  // an odd count's last column: 1x1
                for (int ir0 = iir0; ir0 < iir0 + 16 && ir0 < m; ir0 += nrv)
                    dot(k, &tmp[ir0 - iir0], nrv > 1 ? 16 : 0, w + ir0 * row_bytes, nrv > 1 ? row_bytes : 0, act + ir1 * col_bytes, nrv > 1 ? col_bytes : 0, nrv);
                for (int cn = 0; cn < nrv; ++cn)
                    memcpy(&dst[(ir1 + cn) * m + iir0], tmp + cn * 16, (size_t) ((iir0 + 16 < m ? iir0 + 16 : m) - iir0) * sizeof(float));
            }
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t next_u32(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return (uint32_t) (rng >> 16); }

// Rows of `type` blocks: random quants (int8 extremes included: every byte value occurs), each block's fp16 scale
// (its first two bytes, in Q8_0 and Q4_0 alike) between ~6e-5 and ~4e-3.
static char * random_rows(enum ggml_type type, int k, int rows) {
    const size_t block = ggml_type_size(type), row = ggml_row_size(type, k);
    char * data = malloc(row * rows);
    for (size_t i = 0; i < row * rows; i++) data[i] = (char) next_u32();
    for (size_t at = 0; at < row * rows; at += block) {
        const ggml_fp16_t scale = (ggml_fp16_t) (0x1800 + next_u32() % 0x1000);
        memcpy(data + at, &scale, sizeof scale);
    }
    return data;
}

static double now_ms(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e3 + t.tv_nsec / 1e6; }

static void run(enum ggml_type type, int k, int m, int cols, int reps) {
    const struct ggml_type_traits_cpu * traits = ggml_get_type_traits_cpu(type);
    const size_t row_bytes = ggml_row_size(type, k), col_bytes = ggml_row_size(GGML_TYPE_Q8_0, k);
    char * w = random_rows(type, k, m);
    char * act = random_rows(GGML_TYPE_Q8_0, k, cols);
    float * ref = malloc(sizeof(float) * m * cols);
    float * out = malloc(sizeof(float) * m * cols);
    mul_mat(traits->vec_dot, 1, k, m, cols, w, row_bytes, act, col_bytes, ref);
    mul_mat(traits->vec_dot, 2, k, m, cols, w, row_bytes, act, col_bytes, out);
    int mismatches = 0;
    for (int i = 0; i < m * cols; i++) mismatches += memcmp(&out[i], &ref[i], sizeof(float)) != 0;
    // The two routes take turns over rounds, so a change of load hits both alike; the best round of each.
    double best[2] = { 1e30, 1e30 };
    for (int round = 0; round < 7; round++)
        for (int tile = 0; tile < 2; tile++) {
            const double started = now_ms();
            for (int rep = 0; rep < reps; rep++) mul_mat(traits->vec_dot, tile ? 2 : 1, k, m, cols, w, row_bytes, act, col_bytes, out);
            const double ns = (now_ms() - started) * 1e6 / ((double) reps * m * cols);
            if (ns < best[tile]) best[tile] = ns;
        }
    printf("{\"type\":\"%s\",\"nrows\":%d,\"k\":%d,\"m\":%d,\"cols\":%d,\"ns_1x1\":%.2f,\"ns_2x2\":%.2f,\"mismatches\":%d}\n", ggml_type_name(type),
           (int) traits->nrows, k, m, cols, best[0], best[1], mismatches);
    free(w); free(act); free(ref); free(out);
}

int main(int argc, char ** argv) {
    ggml_cpu_init();  // ggml's fp16 table
    const int reps = argc > 1 ? atoi(argv[1]) : 20;
    const int cols = argc > 2 ? atoi(argv[2]) : 8;
    static const int shapes[][2] = { { 768, 768 }, { 768, 2048 }, { 2048, 768 }, { 800, 96 } };  // k (row length), m (rows)
    for (int t = 0; t < 2; t++)
        for (int i = 0; i < 4; i++) run(t ? GGML_TYPE_Q4_0 : GGML_TYPE_Q8_0, shapes[i][0], shapes[i][1], cols, reps);
    return 0;
}

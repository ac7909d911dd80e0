// fast_pick (native/src/fast-pick.cpp) against llama.cpp's chain as sample_row's no-filter path feeds it (the same
// prune, then top-k / top-p / min-p / temp / dist): the same token for the same seed, and the CPU time per row of
// each, on real logits (rows written by bench-fast-pick.mjs). Then what a decode pays per row: row_top2 on a greedy
// row, fast_pick_top2 (the draw and row_top2 together) on a sampled one, and the difference: sampling's own cost.
#include <chrono>
#include <time.h>
static double cpu_now(){timespec t; clock_gettime(CLOCK_THREAD_CPUTIME_ID,&t); return t.tv_sec+1e-9*t.tv_nsec;}
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>
#include <algorithm>
#include <cstdlib>
#include <random>
#include "llama.h"
#include "fast-pick.h"

static float prune_depth(const float * values, size_t count, float best, float scale) {
    constexpr int per_logit = 4; constexpr int buckets = 64 * per_logit; uint32_t histogram[buckets] = {};
    const float to_bucket = scale * per_logit;
    for (size_t i = 0; i < count; ++i) { float depth = (best - values[i]) * to_bucket; depth = depth < (float)(buckets - 1) ? depth : (float)(buckets - 1); ++histogram[(int)depth]; }
    double tail = 0;
    for (int b = buckets - 1; b >= 0; --b) { tail += histogram[b] * std::exp(-(double)b / per_logit); if (tail >= 1e-7) return (float)(b + 1) / to_bucket; }
    return 1.0f / to_bucket;
}
static llama_sampler * make_chain(int top_k, float top_p, float min_p, float temp, uint32_t seed) {
    auto p = llama_sampler_chain_default_params(); p.no_perf = true; auto * c = llama_sampler_chain_init(p);
    if (top_k > 0) llama_sampler_chain_add(c, llama_sampler_init_top_k(top_k));
    if (top_p < 1) llama_sampler_chain_add(c, llama_sampler_init_top_p(top_p, 1));
    if (min_p > 0) llama_sampler_chain_add(c, llama_sampler_init_min_p(min_p, 1));
    if (temp != 1) llama_sampler_chain_add(c, llama_sampler_init_temp(temp));
    llama_sampler_chain_add(c, llama_sampler_init_dist(seed));
    return c;
}
static int chain_sample(llama_sampler * c, const float * logits, uint32_t n, float mx, float temp, std::vector<llama_token_data> & cand) {
    cand.resize(n);
    const float cutoff = mx - prune_depth(logits, n, mx, 1.0f / std::max(1.0f, temp));
    size_t kept = 0;
    for (uint32_t t = 0; t < n; ++t) { cand[kept] = {(llama_token)t, logits[t] - mx, 0.0f}; kept += logits[t] > cutoff ? 1 : 0; }
    llama_token_data_array cur = {cand.data(), kept, -1, false};
    llama_sampler_apply(c, &cur);
    return cur.data[cur.selected].id;
}
int main(int argc, char ** argv) {
    if (argc < 2) return 2;
    const uint32_t n = 131072;
    FILE * f = fopen(argv[1], "rb"); std::vector<float> all(16 * n); if (f == nullptr || fread(all.data(), 4, all.size(), f) != all.size()) return 1; fclose(f);
    if (argc >= 4) {  // synthetic rows instead: normal logits of standard deviation argv[2], five tokens argv[3], −1.5, −3… above the mean
        const float sd = std::strtof(argv[2], nullptr), top = std::strtof(argv[3], nullptr);
        std::mt19937 rng(3);
        for (int r = 0; r < 16; ++r) {
            for (uint32_t t = 0; t < n; ++t) all[r * n + t] = std::normal_distribution<float>(0, sd)(rng);
            for (int k = 0; k < 5; ++k) all[r * n + rng() % n] = top - 1.5f * k;
        }
        printf("synthetic rows: logits ~ N(0, %g), five tokens at %g, %g, ... (the real-vocab fixture's rows: sd 8, max ~36)\n", sd, top, top - 1.5f);
    }
        std::vector<float> mx(16); for (int r = 0; r < 16; ++r) { float m = -INFINITY; for (uint32_t t = 0; t < n; ++t) m = std::max(m, all[r*n+t]); mx[r] = m; }
    struct Cfg { int k; float p; float minp; float t; const char * name; };
    Cfg cfgs[] = {{0, 0.95f, 0, 0.8f, "T0.8 top-p0.95"}, {0, 1, 0, 1.0f, "T1 only"}, {0, 1, 0, 0.7f, "T0.7 only"}, {40, 0.9f, 0.05f, 0.7f, "k40 p0.9 minp0.05 T0.7"},
                  {0, 1, 0.1f, 1.3f, "minp0.1 T1.3"}, {5, 1, 0, 2.0f, "k5 T2"}, {0, 0.5f, 0, 1.5f, "p0.5 T1.5"}};
    double greedy_row = 0;
    { double t0 = cpu_now(); float acc = 0; for (int k = 0; k < 2000; ++k) acc += row_top2(all.data() + (k % 16) * n, n).second_value;
      greedy_row = (cpu_now() - t0) / 2000;
      printf("greedy row: row_top2 %.1f us (%g)\n", 1e6 * greedy_row, acc * 0); }
    std::vector<llama_token_data> cand; FastPickScratch scratch, fused_scratch;
    for (auto & c : cfgs) {
        int same = 0, same_fused = 0, total = 0; double t_chain = 0, t_fast = 0, t_fused = 0;
        for (uint32_t seed = 1; seed <= 40; ++seed) {
            llama_sampler * ch = make_chain(c.k, c.p, c.minp, c.t, seed);
            FastPick fp(seed); fp.top_k = c.k; fp.top_p = c.p; fp.min_p = c.minp; fp.temperature = c.t;
            FastPick fused(seed); fused.top_k = c.k; fused.top_p = c.p; fused.min_p = c.minp; fused.temperature = c.t;
            for (int step = 0; step < 32; ++step) {
                const int r = (step * 7 + seed) % 16; const float * row = all.data() + r * n;
                double t0 = cpu_now();
                int a = chain_sample(ch, row, n, mx[r], c.t, cand);
                double t1 = cpu_now();
                int b = fast_pick(fp, row, n, mx[r], scratch);
                double t2 = cpu_now();
                RowTop2 top2; int d = fast_pick_top2(fused, row, n, fused_scratch, top2);
                double t3 = cpu_now();
                t_chain += t1 - t0; t_fast += t2 - t1; t_fused += t3 - t2;
                same += a == b; same_fused += b == d; ++total;
            }
            llama_sampler_free(ch);
        }
        printf("%-26s same token %d/%d  chain %.1f us/row  fast %.1f us/row  (%.1fx);  sampled row: fast_pick_top2 %.1f us (%d/%d same), +%.1f us over greedy\n",
               c.name, same, total, 1e6 * t_chain / total, 1e6 * t_fast / total, t_chain / t_fast, 1e6 * t_fused / total, same_fused, total, 1e6 * (t_fused / total - greedy_row));
    }
    if (scratch.bounded_rows > 0) printf("bounded sweep (no top-k): %llu rows, %llu undecided\n", (unsigned long long)(scratch.bounded_rows + fused_scratch.bounded_rows), (unsigned long long)(scratch.bounded_undecided + fused_scratch.bounded_undecided));
}

// fast_pick and row_top2 under AddressSanitizer and UBSan, once per sweep branch (AVX-512, AVX2, portable: the one
// Wasm runs): random rows of odd sizes (NaN, -inf, +inf, all -inf, ties, -0 / +0 ties at the max, flat and peaked)
// through every chain shape. Top-p alone must draw the same with and without the bounded sweep.
// fast_pick_top2 must draw what row_top2 + fast_pick draw and report the same row_top2. Each build prints a hash of
// the tokens and row_top2 results; the three must agree (bench-fast-pick.mjs --asan compares them).
#include <cstdio>
#include <cmath>
#include <vector>
#include <random>
#include <cstdint>
#include <cstring>
#include "fast-pick.h"
// Top-p alone on rows made to test the bounded sweep's claim (the exact path's token, the same random numbers used): rows
// where the exact path leaves nucleus_pick for the bucket path over every candidate (more than 4096 blocks marked near
// at its 12.75 logits, or its 16384 cap counting whole blocks) while the bounded sweep's 12 logits decide; the far mass
// at the top-p budget's edge; a nucleus ending right at a candidate; huge and tiny magnitudes; top_p near 0 and 1,
// min-p, temperatures; token order (top_p 1) with the draw often landing near a candidate's edge. Returns false on a
// difference; hashes the tokens.
static bool bounded_rows(uint64_t & hash) {
    std::mt19937 rng(23);
    uint64_t decided = 0, rows = 0;
    auto compare = [&](const std::vector<float> & row, float p, float min_p, float t, int seeds) {
        float mx = -INFINITY;
        for (float v : row) mx = v > mx ? v : mx;
        for (int s = 0; s < seeds; ++s) {
            FastPickScratch bounded, exact;
            exact.bounded = false;
            FastPick a(s + 1), b(s + 1);
            for (FastPick * f : {&a, &b}) { f->top_p = p; f->min_p = min_p; f->temperature = t; }
            const int32_t ta = fast_pick(a, row.data(), static_cast<uint32_t>(row.size()), mx, bounded);
            const int32_t tb = fast_pick(b, row.data(), static_cast<uint32_t>(row.size()), mx, exact);
            if (ta != tb || a.rng() != b.rng()) { printf("bounded rows: %d vs exact %d (n %zu p %g min_p %g T %g)\n", ta, tb, row.size(), p, min_p, t); return false; }
            hash = (hash ^ static_cast<uint32_t>(ta)) * 1099511628211ull;
            rows += bounded.bounded_rows;
            decided += bounded.bounded_rows - bounded.bounded_undecided;
        }
        return true;
    };
    std::vector<float> marked(131072, -40.0f), capped(131072, -60.0f);
    for (int b = 0; b < 4000; ++b) marked[b * 16 + rng() % 16] = -std::uniform_real_distribution<float>(0, 3)(rng);
    for (int b = 4000; b < 5000; ++b) marked[b * 16 + rng() % 16] = -12.5f;
    marked[99999] = 0.0f;
    for (int b = 0; b < 1100; ++b) for (int l = 0; l < 16; ++l) capped[b * 16 + l] = l == 5 ? -std::uniform_real_distribution<float>(0, 4)(rng) : -13.0f;
    for (const auto * row : {&marked, &capped}) {
        for (float p : {0.5f, 0.95f}) if (!compare(*row, p, 0, 1, 8)) return false;
        if (!compare(*row, 0.9f, 0.02f, 2.5f, 8)) return false;
    }
    if (decided != rows) { printf("bounded rows: the bounded sweep left %llu of %llu undecided\n", (unsigned long long)(rows - decided), (unsigned long long)rows); return false; }
    for (int rep = 0; rep < 10; ++rep) {
        std::vector<float> row(32771, -12.001f - (rep % 5) * 0.3f);
        row[3] = 0; row[77] = -1.0f; row[4000] = -2.0f;
        const double near = 1 + std::exp(-1.0) + std::exp(-2.0), far = (row.size() - 3) * std::exp(static_cast<double>(row[0]));
        if (!compare(row, static_cast<float>(1.0 - far / (near + far) * (0.97 + 0.006 * rep)), 0, 1, 4)) return false;  // the budget's edge
        if (!compare(row, static_cast<float>((1 + std::exp(-1.0)) / (near + far) * (1 + (rep - 5) * 1e-6)), 0, 1, 4)) return false;
    }
    for (float base : {1e6f, 1e30f, 3e38f, 1e-40f, -1e30f}) {
        std::vector<float> row(4101);
        for (auto & v : row) v = base * (1.0f - std::uniform_real_distribution<float>(0, 1e-6f)(rng));
        row[4100] = base;
        if (!compare(row, 0.9f, 0, 1, 2)) return false;
    }
    std::vector<float> trained(50257);
    for (auto & v : trained) v = std::normal_distribution<float>(0, 2.5f)(rng);
    for (int i = 0; i < 6; ++i) trained[rng() % trained.size()] = 14.0f - 2.0f * i;
    for (float p : {1e-7f, 0.999999f, 0.99f}) if (!compare(trained, p, 0, 1, 4)) return false;
    for (float t : {0.1f, 1.0001f, 10.0f}) if (!compare(trained, 0.8f, 0.05f, t, 4)) return false;
    // Token order (top_p 1): near candidates spread among many just past the floor, whose mass (a tenth to a half of
    // the total) lies between them, so many draws land within the bounds' width of a near candidate's edge. The deep
    // ones sit where the bound is exact (y / ln 2 an integer: a bound's upper side set too low fails) or furthest off
    // (its fraction 1 / ln 2 − 1: the lower side set too high fails).
    for (int rep = 0; rep < 6; ++rep) {
        const double octaves = 18 + rep / 2 - (rep % 2 == 1 ? 1 / std::log(2.0) - 1 : 0.0);
        std::vector<float> row(65539, static_cast<float>(-octaves * std::log(2.0)));
        for (int i = 0; i < 24; ++i) row[(i * 2731 + 17) % row.size()] = -std::uniform_real_distribution<float>(0, 3)(rng);
        row[1000] = 0;
        for (float t : {1.0f, 0.97f}) if (!compare(row, 1.0f, 0, t, 48)) return false;
        if (!compare(row, 1.0f, 1e-6f, 1.0f, 16)) return false;
    }
    if (!compare(trained, 1.0f, 0, 1.0f, 16) || !compare(trained, 1.0f, 0, 0.7f, 16)) return false;
    return true;
}

int main() {
    std::mt19937 rng(11);
    struct Cfg { int k; float p, minp, t; };
    Cfg cfgs[] = {{0, 0.95f, 0, 0.8f}, {0, 1, 0, 1}, {0, 1, 0, 0.7f}, {40, 0.9f, 0.05f, 0.7f}, {0, 1, 0.1f, 1.3f}, {5, 1, 0, 2}, {0, 0.5f, 0, 1.5f}, {1, 1, 0, 1}, {0, 0.01f, 0, 0.3f}};
    uint64_t hash = 1469598103934665603ull; int neg = 0, calls = 0;
    FastPickScratch scratch, fused_scratch, exact_scratch;
    exact_scratch.bounded = false;  // top-p alone by the gather sweep only: the bounded sweep must draw what it draws
    for (int trial = 0; trial < 6000; ++trial) {
        const uint32_t sizes[] = {1, 2, 7, 8, 9, 15, 16, 17, 255, 256, 257, 320, 1000, 4095, 4097, 131072, 151936};
        uint32_t n = sizes[rng() % (trial % 20 == 0 ? 17 : 15)];
        std::vector<float> row(n);
        const int kind = trial % 8;
        const float sd = kind == 0 ? 0.01f : kind == 1 ? 30.0f : 8.0f;
        for (auto & v : row) {
            v = std::normal_distribution<float>(0, sd)(rng);
            if (kind == 2) v = std::round(v);
            if (kind == 3 && rng() % 4 == 0) v = NAN;
            if (kind == 4 && rng() % 3 == 0) v = -INFINITY;
            if (kind == 5) v = -INFINITY;
            if (kind == 6 && rng() % 64 == 0) v = INFINITY;
            if (kind == 7) v = rng() % 3 == 0 ? -0.0f : rng() % 2 ? 0.0f : -1.0f;  // the sign of a zero max must not depend on the path
        }
        if (kind == 5 && rng() % 2) row[rng() % n] = 1.0f;
        float mx = -INFINITY;
        for (float v : row) if (v > mx) mx = v;
        const Cfg & c = cfgs[trial % 9];
        FastPick fp(trial + 1); fp.top_k = c.k; fp.top_p = c.p; fp.min_p = c.minp; fp.temperature = c.t;
        FastPick fused(trial + 1); fused.top_k = c.k; fused.top_p = c.p; fused.min_p = c.minp; fused.temperature = c.t;
        FastPick exact(trial + 1); exact.top_k = c.k; exact.top_p = c.p; exact.min_p = c.minp; exact.temperature = c.t;
        const RowTop2 top2 = row_top2(row.data(), n);
        if (!(top2.best_value == mx)) { printf("row_top2 max %g, expected %g\n", top2.best_value, mx); return 1; }
        hash = (hash ^ top2.best) * 1099511628211ull;
        uint32_t best_bits, second_bits;
        std::memcpy(&best_bits, &top2.best_value, sizeof best_bits);
        std::memcpy(&second_bits, &top2.second_value, sizeof second_bits);
        hash = (hash ^ best_bits) * 1099511628211ull;
        hash = (hash ^ second_bits) * 1099511628211ull;
        for (int s = 0; s < 2; ++s) {
            int32_t tok = fast_pick(fp, row.data(), n, mx, scratch);
            RowTop2 fused_top2;
            const int32_t fused_tok = fast_pick_top2(fused, row.data(), n, fused_scratch, fused_top2);
            if (fused_tok != tok || fused_top2.best != top2.best || std::memcmp(&fused_top2.best_value, &top2.best_value, 4) != 0 ||
                std::memcmp(&fused_top2.second_value, &top2.second_value, 4) != 0) {
                printf("fast_pick_top2 differs: token %d vs %d, top2 %u %g %g vs %u %g %g (n %u kind %d)\n", fused_tok, tok, fused_top2.best,
                       fused_top2.best_value, fused_top2.second_value, top2.best, top2.best_value, top2.second_value, n, kind);
                return 1;
            }
            const int32_t exact_tok = fast_pick(exact, row.data(), n, mx, exact_scratch);
            if (exact_tok != tok) { printf("the bounded sweep drew %d, the gather sweep %d (n %u kind %d)\n", tok, exact_tok, n, kind); return 1; }
            ++calls;
            if (tok < 0) ++neg;
            else if (static_cast<uint32_t>(tok) >= n || !(row[tok] == row[tok]) || row[tok] == -INFINITY) { printf("bad token %d (n %u kind %d)\n", tok, n, kind); return 1; }
            hash = (hash ^ static_cast<uint32_t>(tok)) * 1099511628211ull;
        }
    }
    if (!bounded_rows(hash)) return 1;
    printf("calls %d, -1: %d, token hash %016llx\n", calls, neg, (unsigned long long)hash);
    // How often the bounded sweep decided (stderr: branches may differ in it, never in the tokens).
    fprintf(stderr, "bounded sweep: %llu rows, %llu undecided\n", (unsigned long long)(scratch.bounded_rows + fused_scratch.bounded_rows),
            (unsigned long long)(scratch.bounded_undecided + fused_scratch.bounded_undecided));
}

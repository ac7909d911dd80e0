// The common pick chains (top-k / top-p / min-p / temperature / dist, nothing before them) without llama.cpp's
// sampler objects: the same distribution and the same random-number use, found from one sweep over the logits (and,
// for top-k or a wide nucleus, a histogram of their depths) instead of sorted candidate arrays. No Node-API here, so
// a C++ harness can compare it with the chain directly.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "row-top2.h"

// What the pick chain would do, as numbers (only chains llama.cpp builds in this order: top-k, top-p, min-p, temp,
// dist; typical-p and anything in the filter chain keep llama.cpp's samplers).
struct FastPick {
    int32_t top_k = 0;         // 0: off
    float top_p = 1.0f;        // 1: off
    float min_p = 0.0f;        // 0: off
    float temperature = 1.0f;  // > 0
    std::mt19937 rng;          // seeded as llama_sampler_init_dist seeds its own (LLAMA_DEFAULT_SEED: random)
    // Rows the bounded sweep (no top-k) sits out after leaving one undecided: a sequence whose nucleus is wide stays
    // so for a while, and there the sweep is wasted. Doubling up to 64, back to 0 when it decides. (Which path draws
    // never changes the token.)
    uint32_t bounded_backoff = 0;
    uint32_t bounded_wait = 0;
    explicit FastPick(uint32_t seed);
};

// Scratch space reused across rows.
struct FastPickScratch {
    struct Candidate {
        float x;  // logit minus the row's largest
        int32_t id;
    };
    std::vector<int32_t> gathered_ids;       // the candidates of the one sweep over the row, in token order:
    std::vector<float> gathered_x;           // their ids, x = logit − max,
    std::vector<uint16_t> gathered_buckets;  // and depth buckets (on the bucket path)
    std::vector<uint32_t> near_starts;       // where the sweep's blocks holding a shallow candidate start in those
    std::vector<float> near_x;               // the candidates within a few logits of the max, in token order
    std::vector<int32_t> near_ids;
    std::vector<double> chunk_far;           // the bounded sweep in token order: its bounds' sum per chunk of tokens
    std::vector<uint64_t> near_masks;        // the bounded sweep's blocks holding a near candidate: first id, lanes
    std::vector<Candidate> kept;     // the candidates above the prune depth: by depth bucket, or in token order
    std::vector<uint32_t> start;     // first candidate of each depth bucket (one more entry than buckets)
    std::vector<uint8_t> sorted;     // whether a bucket's candidates are sorted yet
    std::vector<float> weights;      // e^(x / T) of the kept candidates, in their current order
    std::vector<uint32_t> histogram; // four interleaved depth histograms (heap, not stack: Wasm stacks are small)
    bool bounded = true;             // whether top-p alone and token order try the bounded sweep first (tests compare)
    uint64_t bounded_rows = 0;       // rows the bounded sweep ran on (no top-k), and those where its bounds
    uint64_t bounded_undecided = 0;  // left the token undecided (the gather sweep then ran too): for benchmarks
};

// Draws one token from a row of logits whose largest finite value is `max_logit`, as llama.cpp's chain
// top-k → top-p → min-p → temperature → dist would from the same candidates; -1 when no logit is finite.
int32_t fast_pick(FastPick & pick, const float * logits, uint32_t n_vocab, float max_logit, FastPickScratch & scratch);

// The same draw, and the row's row_top2 (the greedy pick and margin every decode row reports) found on the way: on
// x86-64 the sweep does the work of row_top2's second pass, so a sampled row is read twice, as a greedy one is.
int32_t fast_pick_top2(FastPick & pick, const float * logits, uint32_t n_vocab, FastPickScratch & scratch, RowTop2 & top2);

// The sweep this process runs: "avx512", "avx2", "portable" (by the CPU, or HYBRID_LLM_FAST_PICK_SWEEP when the
// addon loads), "simd128" in the Wasm modules. Shown in systemInfo().
const char * fast_pick_sweep();

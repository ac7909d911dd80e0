#pragma once

#include <cmath>
#include <cstdint>

// The best logit of a row, its index (the first one on a tie), and the runner-up's value (equal to the best when the
// best value occurs twice): the greedy pick and its margin, for every output row of every decode.
struct RowTop2 {
    uint32_t best;
    float best_value;
    float second_value;
};

RowTop2 row_top2(const float * row, uint32_t n);

// −0 and +0 compare equal, so which one a vector pass keeps for a zero best or runner-up depends on its lane layout
// (MAXPS keeps its second operand on a tie): every path returns them through this, which makes −0 +0 (x + 0 is x
// otherwise; no build of these files uses -ffast-math, which would fold it away).
inline float plus_zero(float x) { return x + 0.0f; }

// Its first pass alone: the largest value of the row (NaN never wins; −inf when none is larger).
float row_max(const float * row, uint32_t n);

// What row_top2's second pass learns once the max is known (on x86-64; fast_pick's sweeps learn it too, standing in
// for that pass): the first index holding the max, how many hold it, and the largest value below it.
struct BelowMax {
    uint32_t first = UINT32_MAX;
    uint32_t ties = 0;
    float below = -INFINITY;
    // A block of values starting at `block_first`, whose lanes holding the max are the set bits of `lanes_at_max`.
    void note(uint32_t block_first, unsigned lanes_at_max) {
        if (lanes_at_max != 0) {  // once or twice a row
            first = first == UINT32_MAX ? block_first + static_cast<uint32_t>(__builtin_ctz(lanes_at_max)) : first;
            ties += static_cast<uint32_t>(__builtin_popcount(lanes_at_max));
        }
    }
    // The lanes of a vector pass's largest-below accumulator.
    void merge_below(const float * lanes, int n) {
        for (int i = 0; i < n; ++i) below = lanes[i] > below ? lanes[i] : below;
    }
    // Values past the last whole vector, one at a time.
    void tail(const float * row, uint32_t from, uint32_t n, float max) {
        for (uint32_t t = from; t < n; ++t) {
            const float v = row[t];
            below = v < max && v > below ? v : below;
            note(t, v == max ? 1u : 0u);
        }
    }
    // The row's top-2, its max being `max`: the runner-up is the max again when two hold it.
    RowTop2 top2(float max) const { return {first, plus_zero(max), plus_zero(ties > 1 ? max : below)}; }
};

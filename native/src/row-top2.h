#pragma once

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

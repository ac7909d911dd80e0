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

// Its first pass alone: the largest value of the row (NaN never wins; −inf when none is larger).
float row_max(const float * row, uint32_t n);

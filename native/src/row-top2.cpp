#include "row-top2.h"

#include <cmath>

#include "vector-loop.h"

// One pass, vectorized: each of kLanes lanes keeps its own best (first index on a tie), and runner-up over the
// values t ≡ lane (mod kLanes), with the same strict comparisons as a scalar scan (NaN never wins); the lanes are
// merged at the end. 24 lanes: three AVX2 or six SIMD128 vectors per step; real vocabularies (and the fixtures' 320
// and 131,072) leave a tail, which the same lane update takes one value at a time.
namespace {

constexpr uint32_t kLanes = 24;

struct Lanes {
    float best[kLanes];
    float second[kLanes];
    uint32_t index[kLanes];
};

HYBRID_LLM_INLINE void update(Lanes & lanes, uint32_t lane, float v, uint32_t t) {
    const bool better = v > lanes.best[lane];
    const bool runner = v > lanes.second[lane];
    lanes.second[lane] = better ? lanes.best[lane] : (runner ? v : lanes.second[lane]);
    lanes.index[lane] = better ? t : lanes.index[lane];
    lanes.best[lane] = better ? v : lanes.best[lane];
}

HYBRID_LLM_VECTOR_LOOP void scan(Lanes & out, const float * __restrict row, uint32_t full) {
    Lanes lanes = out;  // a local copy: the compiler keeps it in registers (through `out` it would have to assume the row
                        // aliases it, and store every lane back each step: a scalar loop)
    for (uint32_t t = 0; t < full; t += kLanes) {
        const float * block = row + t;  // a pointer step, not 32-bit index arithmetic (which could wrap): plain loads
        for (uint32_t lane = 0; lane < kLanes; ++lane) update(lanes, lane, block[lane], t + lane);
    }
    out = lanes;
}

}  // namespace

RowTop2 row_top2(const float * row, uint32_t n) {
    Lanes lanes;
    for (uint32_t lane = 0; lane < kLanes; ++lane) {
        lanes.best[lane] = -INFINITY;
        lanes.second[lane] = -INFINITY;
        lanes.index[lane] = 0;
    }
    const uint32_t full = n - n % kLanes;
    scan(lanes, row, full);
    for (uint32_t t = full; t < n; ++t) update(lanes, t - full, row[t], t);
    // The best lane (the smallest index among equal values), then the runner-up: that lane's own, or another's best.
    uint32_t winner = 0;
    for (uint32_t lane = 1; lane < kLanes; ++lane) {
        const bool higher = lanes.best[lane] > lanes.best[winner];
        const bool tie_earlier = lanes.best[lane] == lanes.best[winner] && lanes.index[lane] < lanes.index[winner];
        if (higher || tie_earlier) winner = lane;
    }
    float second = lanes.second[winner];
    for (uint32_t lane = 0; lane < kLanes; ++lane) {
        if (lane != winner && lanes.best[lane] > second) second = lanes.best[lane];
    }
    return {lanes.index[winner], lanes.best[winner], second};
}

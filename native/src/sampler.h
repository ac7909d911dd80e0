// Per-request token samplers: llama.cpp sampler chains, and the native sampling / log-probability step of a decode.
#pragma once

#include <napi.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fast-pick.h"
#include "llama-api.h"

// One request's sampler, as two llama.cpp chains:
//   filter: logit bias, penalties, grammar — they only change or ban logits (and keep state through accept);
//   pick:   greedy, or top-k / typical / top-p / min-p / temperature / dist (seeded).
// Split so the step can see when the filter left no allowed token (a grammar dead end, everything banned) before
// anything normalizes over an all -inf row.
struct NativeSampler {
    llama_sampler * filter = nullptr;
    llama_sampler * pick = nullptr;
    bool can_ban = false;       // has a grammar or a logit bias: rows may end up with no allowed token
    bool filters = false;       // the filter chain is not empty
    float prune_scale = 1.0f;   // 1 / max(1, temperature): the flattest distribution the pick stage computes
    // The pick chain as numbers, when nothing filters and it is one fast_pick draws exactly (see fast-pick.h); the
    // token then never goes through the chains (whose samplers keep no state a draw changes but dist's RNG).
    std::unique_ptr<FastPick> fast;
    ~NativeSampler();
    NativeSampler() = default;
    NativeSampler(const NativeSampler &) = delete;
    NativeSampler & operator=(const NativeSampler &) = delete;
};

// Builds a sampler from a config object (checked in TypeScript first; checked again here for what would abort).
// Throws a typed JS error (invalid_argument with llama.cpp's reason for a grammar that does not parse).
NativeSampler * sampler_from_config(Napi::Env env, const Napi::Object & config, const llama_vocab * vocab, uint32_t n_vocab);

// Parses a GBNF grammar (start rule "root") and returns llama.cpp's reason when it does not parse, "" when it does.
std::string grammar_error(const llama_vocab * vocab, const std::string & grammar);

// Scratch space of the sampling step, reused across rows.
struct SampleScratch {
    std::vector<llama_token_data> candidates;
    FastPickScratch fast;
};

// Samples one token from a row of logits and feeds it to the sampler's state (penalties, grammar); sets `top2` to the
// row's row_top2 (found on the way where fast_pick draws). Returns -1 when no token is allowed (or llama.cpp refused
// the token); never throws.
//
// After the filter, the least likely candidates that together hold under 1e-7 of the probability mass (bounded from
// a histogram of their depth below the best logit, at the flattest temperature the chain uses) are dropped before the
// truncation samplers: the probabilities of the others move by less than float rounding, while top-k / top-p / min-p
// and the draw (softmaxes and sorts in llama.cpp) see a fraction of the vocabulary. The kept logits are shifted so the
// best is 0 (every pick-stage sampler is shift-invariant), which puts them in the range where llama.cpp's bucketed
// partial sort (logits in [-10, 10]) finds the top few hundred without sorting the rest. A sampler with `fast` set
// skips all of this: fast_pick (fast-pick.h) draws the same token from the same prune without the chains.
int32_t sample_row(NativeSampler & sampler, const float * logits, uint32_t n_vocab, SampleScratch & scratch, RowTop2 & top2);

// Whether the sampler's filter (logit bias, grammar) allows `token` next; reads state only.
bool sampler_accepts(NativeSampler & sampler, int32_t token, uint32_t n_vocab);

// log_softmax of a row: the log-probability of `token` and the `top` most likely tokens (most likely first).
void row_logprobs(const float * logits, uint32_t n_vocab, int32_t token, int32_t top, float & chosen, int32_t * top_tokens, float * top_logprobs);

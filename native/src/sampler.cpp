#include "sampler.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <queue>

#include "common.h"

NativeSampler::~NativeSampler() {
    if (filter != nullptr) llama_api.llama_sampler_free(filter);
    if (pick != nullptr) llama_api.llama_sampler_free(pick);
}

namespace {

double number_field(Napi::Env env, const Napi::Object & config, const char * name, double fallback, double min, double max) {
    if (!config.Has(name) || config.Get(name).IsUndefined()) return fallback;
    Napi::Value value = config.Get(name);
    const double number = value.IsNumber() ? value.As<Napi::Number>().DoubleValue() : NAN;
    if (!(number >= min && number <= max)) {
        throw_error(env, error_code::invalid_argument, std::string(name) + " is out of range [" + std::to_string(min) + ", " + std::to_string(max) + "]");
    }
    return number;
}

llama_sampler * new_chain() {
    llama_sampler_chain_params params = llama_api.llama_sampler_chain_default_params();
    params.no_perf = true;
    return llama_api.llama_sampler_chain_init(params);
}

// llama_sampler_init_grammar, with anything thrown inside it caught: nullptr and the logged reason on failure.
llama_sampler * init_grammar(const llama_vocab * vocab, const std::string & grammar, std::string & reason) {
    log_take_problems();
    llama_sampler * sampler = nullptr;
    try {
        sampler = llama_api.llama_sampler_init_grammar(vocab, grammar.c_str(), "root");
    } catch (const std::exception & error) {
        sampler = nullptr;
        reason = error.what();
    } catch (...) {
        sampler = nullptr;
    }
    const std::string logged = log_take_problems();
    if (sampler == nullptr && reason.empty()) reason = logged.empty() ? "llama.cpp could not parse the grammar" : logged;
    return sampler;
}

}  // namespace

std::string grammar_error(const llama_vocab * vocab, const std::string & grammar) {
    std::string reason;
    llama_sampler * sampler = init_grammar(vocab, grammar, reason);
    if (sampler == nullptr) return reason;
    llama_api.llama_sampler_free(sampler);
    return "";
}

NativeSampler * sampler_from_config(Napi::Env env, const Napi::Object & config, const llama_vocab * vocab, uint32_t n_vocab) {
    const double temperature = number_field(env, config, "temperature", 1, 0, 1e6);
    const double top_k = number_field(env, config, "topK", 0, 0, INT32_MAX);
    const double top_p = number_field(env, config, "topP", 1, 0, 1);
    const double min_p = number_field(env, config, "minP", 0, 0, 1);
    const double typical_p = number_field(env, config, "typicalP", 1, 0, 1);
    const double repeat = number_field(env, config, "repetitionPenalty", 1, 1e-6, 1e6);
    const double presence = number_field(env, config, "presencePenalty", 0, -1e6, 1e6);
    const double frequency = number_field(env, config, "frequencyPenalty", 0, -1e6, 1e6);
    const double last_n = number_field(env, config, "penaltyLastN", 64, 0, 1 << 24);
    const double seed = number_field(env, config, "seed", 0, 0, 4294967295.0);

    std::vector<llama_logit_bias> bias;
    if (config.Has("biasTokens") && !config.Get("biasTokens").IsUndefined()) {
        Napi::Value tokens_value = config.Get("biasTokens");
        Napi::Value values_value = config.Get("biasValues");
        if (!tokens_value.IsTypedArray() || tokens_value.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array ||
            !values_value.IsTypedArray() || values_value.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
            throw_error(env, error_code::invalid_argument, "biasTokens must be an Int32Array and biasValues a Float32Array");
        }
        auto tokens = tokens_value.As<Napi::Int32Array>();
        auto values = values_value.As<Napi::Float32Array>();
        if (tokens.ElementLength() != values.ElementLength()) throw_error(env, error_code::invalid_argument, "biasTokens and biasValues differ in length");
        for (size_t i = 0; i < tokens.ElementLength(); ++i) {
            if (tokens[i] < 0 || tokens[i] >= static_cast<int32_t>(n_vocab)) {
                throw_error(env, error_code::invalid_argument, "logit bias token " + std::to_string(tokens[i]) + " is outside the vocabulary");
            }
            if (std::isnan(values[i]) || values[i] == INFINITY) throw_error(env, error_code::invalid_argument, "a logit bias must be a number or -Infinity");
            bias.push_back({tokens[i], values[i]});
        }
    }
    std::string grammar;
    if (config.Has("grammar") && !config.Get("grammar").IsUndefined()) {
        if (!config.Get("grammar").IsString()) throw_error(env, error_code::invalid_argument, "grammar must be a string");
        grammar = config.Get("grammar").As<Napi::String>().Utf8Value();
    }

    auto * sampler = new NativeSampler();
    sampler->filter = new_chain();
    sampler->pick = new_chain();
    if (!bias.empty()) {
        llama_api.llama_sampler_chain_add(sampler->filter, llama_api.llama_sampler_init_logit_bias(static_cast<int32_t>(n_vocab), static_cast<int32_t>(bias.size()), bias.data()));
        sampler->can_ban = true;
        sampler->filters = true;
    }
    if ((repeat != 1 || presence != 0 || frequency != 0) && last_n > 0) {
        llama_api.llama_sampler_chain_add(sampler->filter, llama_api.llama_sampler_init_penalties(static_cast<int32_t>(n_vocab), static_cast<int32_t>(last_n), static_cast<float>(repeat),
                                                                                                  static_cast<float>(frequency), static_cast<float>(presence)));
        sampler->filters = true;
    }
    if (!grammar.empty()) {
        std::string reason;
        llama_sampler * g = init_grammar(vocab, grammar, reason);
        if (g == nullptr) {
            delete sampler;
            throw_error(env, error_code::invalid_argument, "the grammar does not parse: " + reason);
        }
        llama_api.llama_sampler_chain_add(sampler->filter, g);
        sampler->can_ban = true;
        sampler->filters = true;
    }
    sampler->prune_scale = static_cast<float>(1.0 / std::max(1.0, temperature));
    // Greedy also where the temperature is 0 as a float (under 1.4e-45): llama.cpp's temperature sampler keeps only the
    // best logit there, where fast_pick's e^(x / 0) would weigh every candidate alike.
    if (static_cast<float>(temperature) <= 0) {
        llama_api.llama_sampler_chain_add(sampler->pick, llama_api.llama_sampler_init_greedy());
    } else {
        // llama.cpp's order (common/sampling.cpp): truncations on the raw distribution, then temperature, then draw.
        if (top_k > 0) llama_api.llama_sampler_chain_add(sampler->pick, llama_api.llama_sampler_init_top_k(static_cast<int32_t>(top_k)));
        if (typical_p < 1) llama_api.llama_sampler_chain_add(sampler->pick, llama_api.llama_sampler_init_typical(static_cast<float>(typical_p), 1));
        if (top_p < 1) llama_api.llama_sampler_chain_add(sampler->pick, llama_api.llama_sampler_init_top_p(static_cast<float>(top_p), 1));
        if (min_p > 0) llama_api.llama_sampler_chain_add(sampler->pick, llama_api.llama_sampler_init_min_p(static_cast<float>(min_p), 1));
        if (temperature != 1) llama_api.llama_sampler_chain_add(sampler->pick, llama_api.llama_sampler_init_temp(static_cast<float>(temperature)));
        llama_api.llama_sampler_chain_add(sampler->pick, llama_api.llama_sampler_init_dist(static_cast<uint32_t>(seed)));
        // fast_pick replaces the chain where it is faster: not for typical-p, and not above temperature 1 without
        // top-p (the prune keeps nearly the whole vocabulary there, where top-k's partial sort is cheaper).
        if (!sampler->filters && typical_p >= 1 && (temperature <= 1 || top_p < 1)) {
            sampler->fast = std::make_unique<FastPick>(static_cast<uint32_t>(seed));
            sampler->fast->top_k = static_cast<int32_t>(top_k);
            sampler->fast->top_p = static_cast<float>(top_p);
            sampler->fast->min_p = static_cast<float>(min_p);
            sampler->fast->temperature = static_cast<float>(temperature);
        }
    }
    return sampler;
}

namespace {

// The depth below the best logit (in units of `scale`⁻¹ logits) past which every candidate together holds less than
// 1e-7 of the probability mass, from a histogram of quarter-logit depths: each candidate at depth ≥ d has at most e^-d
// of the best one's mass, so the bound is exact without one exp per token. Branch-free: a NaN or -inf value counts
// as the deepest bucket.
float prune_depth(const float * values, size_t count, size_t stride, float best, float scale) {
    constexpr int per_logit = 4;
    constexpr int buckets = 64 * per_logit;
    uint32_t histogram[buckets] = {};
    const float to_bucket = scale * per_logit;
    for (size_t i = 0; i < count; ++i) {
        float depth = (best - values[i * stride]) * to_bucket;
        depth = depth < static_cast<float>(buckets - 1) ? depth : static_cast<float>(buckets - 1);
        ++histogram[static_cast<int>(depth)];
    }
    double tail = 0;
    for (int b = buckets - 1; b >= 0; --b) {
        tail += histogram[b] * std::exp(-static_cast<double>(b) / per_logit);
        if (tail >= 1e-7) return static_cast<float>(b + 1) / to_bucket;
    }
    return 1.0f / to_bucket;
}

}  // namespace

int32_t sample_row(NativeSampler & sampler, const float * logits, uint32_t n_vocab, SampleScratch & scratch, RowTop2 & top2) {
    if (sampler.fast) {
        try {
            return fast_pick_top2(*sampler.fast, logits, n_vocab, scratch.fast, top2);
        } catch (...) {  // std::bad_alloc (before anything is drawn: the scratch grows first)
            top2 = row_top2(logits, n_vocab);
            return -1;
        }
    }
    top2 = row_top2(logits, n_vocab);
    const float max_logit = top2.best_value;
    auto & candidates = scratch.candidates;
    candidates.resize(n_vocab);
    llama_token_data_array cur = {candidates.data(), 0, -1, false};
    try {
        if (!sampler.filters) {
            // Nothing changes the logits before the pick: prune while filling.
            const float cutoff = max_logit - prune_depth(logits, n_vocab, 1, max_logit, sampler.prune_scale);
            size_t kept = 0;
            for (uint32_t t = 0; t < n_vocab; ++t) {  // branch-free: write always, keep when above the cutoff
                candidates[kept] = {static_cast<llama_token>(t), logits[t] - max_logit, 0.0f};
                kept += logits[t] > cutoff ? 1 : 0;
            }
            cur.size = kept;
        } else {
            for (uint32_t t = 0; t < n_vocab; ++t) candidates[t] = {static_cast<llama_token>(t), logits[t], 0.0f};
            cur.size = n_vocab;
            llama_api.llama_sampler_apply(sampler.filter, &cur);
            // Keep only allowed tokens (the pick stage then never normalizes over an all -inf row), and prune.
            float best = -INFINITY;
            for (size_t i = 0; i < cur.size; ++i) best = std::max(best, cur.data[i].logit);
            if (best == -INFINITY || std::isnan(best)) return -1;
            const float cutoff = best - prune_depth(&cur.data[0].logit, cur.size, sizeof(llama_token_data) / sizeof(float), best, sampler.prune_scale);
            size_t kept = 0;
            for (size_t i = 0; i < cur.size; ++i) {
                if (cur.data[i].logit > cutoff) cur.data[kept++] = {cur.data[i].id, cur.data[i].logit - best, 0.0f};
            }
            cur.size = kept;
            cur.sorted = false;
        }
        if (cur.size == 0) return -1;
        cur.selected = -1;
        llama_api.llama_sampler_apply(sampler.pick, &cur);
        if (cur.selected < 0 || static_cast<size_t>(cur.selected) >= cur.size) return -1;
        const llama_token_data chosen = cur.data[cur.selected];
        if (!std::isfinite(chosen.logit)) return -1;
        llama_api.llama_sampler_accept(sampler.filter, chosen.id);
        llama_api.llama_sampler_accept(sampler.pick, chosen.id);
        return chosen.id;
    } catch (...) {
        return -1;
    }
}

void row_logprobs(const float * logits, uint32_t n_vocab, int32_t token, int32_t top, float & chosen, int32_t * top_tokens, float * top_logprobs) {
    float max = -INFINITY;
    for (uint32_t t = 0; t < n_vocab; ++t) max = std::max(max, logits[t]);
    double sum = 0;
    for (uint32_t t = 0; t < n_vocab; ++t) sum += std::exp(static_cast<double>(logits[t]) - max);
    const double lse = max + std::log(sum);
    chosen = token >= 0 && token < static_cast<int32_t>(n_vocab) ? static_cast<float>(logits[token] - lse) : NAN;
    if (top <= 0) return;
    // The `top` largest logits: a min-heap of (logit, -token) so ties go to the smaller token id.
    using Entry = std::pair<float, int32_t>;
    std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> heap;
    for (uint32_t t = 0; t < n_vocab; ++t) {
        const Entry entry{logits[t], -static_cast<int32_t>(t)};
        if (static_cast<int32_t>(heap.size()) < top) heap.push(entry);
        else if (entry > heap.top()) {
            heap.pop();
            heap.push(entry);
        }
    }
    for (int32_t i = static_cast<int32_t>(heap.size()) - 1; i >= 0; --i) {
        top_tokens[i] = -heap.top().second;
        top_logprobs[i] = static_cast<float>(heap.top().first - lse);
        heap.pop();
    }
}

bool sampler_accepts(NativeSampler & sampler, int32_t token, uint32_t n_vocab) {
    if (token < 0 || token >= static_cast<int32_t>(n_vocab)) return false;
    if (!sampler.can_ban) return true;
    llama_token_data one = {token, 0.0f, 0.0f};
    llama_token_data_array cur = {&one, 1, -1, false};
    try {
        llama_api.llama_sampler_apply(sampler.filter, &cur);  // bias, penalties and grammar only read their state here
    } catch (...) {
        return false;
    }
    return cur.size == 1 && one.logit != -INFINITY;
}

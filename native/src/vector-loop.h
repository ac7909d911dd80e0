#pragma once

// Loops written to vectorize: at -O3 without trapping math (so GCC if-converts and vectorizes them; nothing in them
// traps), and on x86-64 with glibc also as an AVX2 clone picked at load time. Every clone computes the same lane-wise
// arithmetic (no FMA contraction on either target), so results do not depend on the machine.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__GLIBC__)
#define HYBRID_LLM_VECTOR_LOOP __attribute__((optimize("O3", "no-trapping-math"), target_clones("avx2", "default")))
#elif defined(__GNUC__) && !defined(__clang__)
#define HYBRID_LLM_VECTOR_LOOP __attribute__((optimize("O3", "no-trapping-math")))
#else
#define HYBRID_LLM_VECTOR_LOOP
#endif
// The same with an AVX-512 clone too, for loops whose lanes run the same operations at any width (FMA contraction off:
// AVX-512 targets have FMA, and a contracted clone would round differently from the others).
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__GLIBC__)
#define HYBRID_LLM_VECTOR_LOOP_512 __attribute__((optimize("O3", "no-trapping-math", "fp-contract=off"), target_clones("avx512f", "avx2", "default")))
#else
#define HYBRID_LLM_VECTOR_LOOP_512 HYBRID_LLM_VECTOR_LOOP
#endif
#if defined(__GNUC__)
#define HYBRID_LLM_INLINE inline __attribute__((always_inline))  // into the loops above, whatever their options
#else
#define HYBRID_LLM_INLINE inline
#endif

// A bit-exact C++ reproduction of the part of numpy's random module that the
// Engram reference uses to draw its hash multipliers:
//
//   np.random.default_rng(seed).integers(low, high, size=n, dtype=np.int64)
//
// i.e. SeedSequence (pool size 4) -> PCG64 (XSL-RR 128/64) -> Generator's
// bounded integers (Lemire's multiply-and-reject, unmasked). Written from
// numpy 1.17+ sources (bit_generator.pyx, _pcg64.pyx, pcg64.h,
// distributions.c); the stream has been stable since numpy 1.17 and is
// checked against the installed numpy by numpy_random_test.
//
//   internal::NumpyPcg64 rng = internal::NumpyPcg64::FromSeed(10007);
//   absl::StatusOr<std::vector<int64_t>> r =
//       internal::NumpyIntegersInt64(rng, 0, 35672, 3);
//
// Not thread-safe: a generator is a mutable stream; use one per thread.
#ifndef ENGRAM_COMMON_ADDRESSING_NUMPY_RANDOM_H_
#define ENGRAM_COMMON_ADDRESSING_NUMPY_RANDOM_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace engram::internal {

// NumpySeedSequence mirrors numpy.random.SeedSequence(entropy) with no spawn
// key and the default pool size of 4.
class NumpySeedSequence {
 public:
  static constexpr int kPoolSize = 4;

  // `entropy` is the integer seed as 32-bit words, least significant first
  // (numpy's _int_to_uint32_array); FromUint64 builds it from an integer.
  explicit NumpySeedSequence(absl::Span<const uint32_t> entropy);

  // FromUint64 is SeedSequence(seed) for a non-negative integer seed.
  static NumpySeedSequence FromUint64(uint64_t seed);

  // Pool returns the mixed entropy pool (SeedSequence.pool).
  const std::array<uint32_t, kPoolSize>& pool() const { return pool_; }

  // GenerateState32 is generate_state(n_words, np.uint32).
  std::vector<uint32_t> GenerateState32(size_t n_words) const;

  // GenerateState64 is generate_state(n_words, np.uint64): pairs of 32-bit
  // words read as little-endian 64-bit words.
  std::vector<uint64_t> GenerateState64(size_t n_words) const;

 private:
  std::array<uint32_t, kPoolSize> pool_{};
};

// NumpyPcg64 mirrors numpy.random.PCG64: a 128-bit LCG that advances and
// then outputs XSL-RR, plus numpy's one-word buffer for 32-bit draws.
class NumpyPcg64 {
 public:
  // Seeds like PCG64(seed_seq): generate_state(4, uint64) gives
  // {state_hi, state_lo, inc_hi, inc_lo}, then pcg64_set_seed.
  explicit NumpyPcg64(const NumpySeedSequence& seed_sequence);

  // FromSeed is PCG64(seed) == the bit generator of default_rng(seed).
  static NumpyPcg64 FromSeed(uint64_t seed);

  // NextUint64 is pcg64_next64 (bit_generator.random_raw()).
  uint64_t NextUint64();

  // NextUint32 is pcg64_next32: the low half of a fresh 64-bit draw, then the
  // buffered high half on the next call.
  uint32_t NextUint32();

  // The raw 128-bit state and increment, as (high, low) 64-bit halves.
  uint64_t state_high() const { return static_cast<uint64_t>(state_ >> 64); }
  uint64_t state_low() const { return static_cast<uint64_t>(state_); }
  uint64_t inc_high() const { return static_cast<uint64_t>(inc_ >> 64); }
  uint64_t inc_low() const { return static_cast<uint64_t>(inc_); }

 private:
  void Step();

  unsigned __int128 state_ = 0;
  unsigned __int128 inc_ = 0;
  bool has_uint32_ = false;
  uint32_t uinteger_ = 0;
};

// NumpyBoundedUint64 is numpy's random_bounded_uint64_fill with
// use_masked=false for one value: a uniform draw in [0, range] (inclusive).
// Ranges up to 0xFFFFFFFF use 32-bit draws (buffered_bounded_lemire_uint32),
// larger ones 64-bit draws (bounded_lemire_uint64); range 0 draws nothing.
uint64_t NumpyBoundedUint64(NumpyPcg64& rng, uint64_t range);

// NumpyIntegersInt64 is Generator.integers(low, high, size=n, dtype=int64)
// (endpoint=False) on the generator's current stream position.
// Errors: InvalidArgument when low >= high (numpy's "low >= high").
absl::StatusOr<std::vector<int64_t>> NumpyIntegersInt64(NumpyPcg64& rng,
                                                        int64_t low,
                                                        int64_t high, size_t n);

// NumpyDefaultRngIntegersInt64 is
// np.random.default_rng(seed).integers(low, high, size=n, dtype=np.int64).
absl::StatusOr<std::vector<int64_t>> NumpyDefaultRngIntegersInt64(uint64_t seed,
                                                                  int64_t low,
                                                                  int64_t high,
                                                                  size_t n);

}  // namespace engram::internal

#endif  // ENGRAM_COMMON_ADDRESSING_NUMPY_RANDOM_H_

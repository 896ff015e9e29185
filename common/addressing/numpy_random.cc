#include "common/addressing/numpy_random.h"

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace engram::internal {
namespace {

// Constants of numpy/random/bit_generator.pyx.
constexpr uint32_t kInitA = 0x43b0d7e5;
constexpr uint32_t kMultA = 0x931e8875;
constexpr uint32_t kInitB = 0x8b51f9dd;
constexpr uint32_t kMultB = 0x58f38ded;
constexpr uint32_t kMixMultL = 0xca01f9dd;
constexpr uint32_t kMixMultR = 0x4973f715;
constexpr int kXShift = 16;  // 4 * 8 / 2

uint32_t HashMix(uint32_t value, uint32_t& hash_const) {
  value ^= hash_const;
  hash_const *= kMultA;
  value *= hash_const;
  value ^= value >> kXShift;
  return value;
}

uint32_t Mix(uint32_t x, uint32_t y) {
  uint32_t result = kMixMultL * x - kMixMultR * y;
  result ^= result >> kXShift;
  return result;
}

// PCG_DEFAULT_MULTIPLIER_128 of pcg64.h.
constexpr unsigned __int128 kPcgMultiplier =
    (static_cast<unsigned __int128>(2549297995355413924ULL) << 64) |
    4865540595714422341ULL;

uint64_t RotateRight(uint64_t value, unsigned rot) {
  return (value >> rot) | (value << ((-rot) & 63));
}

}  // namespace

NumpySeedSequence::NumpySeedSequence(absl::Span<const uint32_t> entropy) {
  // mix_entropy(pool, entropy) with an empty spawn key.
  uint32_t hash_const = kInitA;
  for (size_t i = 0; i < pool_.size(); ++i) {
    pool_[i] = HashMix(i < entropy.size() ? entropy[i] : 0, hash_const);
  }
  for (size_t src = 0; src < pool_.size(); ++src) {
    for (size_t dst = 0; dst < pool_.size(); ++dst) {
      if (src != dst) {
        pool_[dst] = Mix(pool_[dst], HashMix(pool_[src], hash_const));
      }
    }
  }
  for (size_t src = pool_.size(); src < entropy.size(); ++src) {
    for (size_t dst = 0; dst < pool_.size(); ++dst) {
      pool_[dst] = Mix(pool_[dst], HashMix(entropy[src], hash_const));
    }
  }
}

NumpySeedSequence NumpySeedSequence::FromUint64(uint64_t seed) {
  // _int_to_uint32_array: [0] for zero, else 32-bit words, low first.
  std::vector<uint32_t> words;
  if (seed == 0) words.push_back(0);
  while (seed > 0) {
    words.push_back(static_cast<uint32_t>(seed));
    seed >>= 32;
  }
  return NumpySeedSequence(words);
}

std::vector<uint32_t> NumpySeedSequence::GenerateState32(size_t n_words) const {
  std::vector<uint32_t> state(n_words);
  uint32_t hash_const = kInitB;
  for (size_t i = 0; i < n_words; ++i) {
    uint32_t value = pool_[i % pool_.size()];
    value ^= hash_const;
    hash_const *= kMultB;
    value *= hash_const;
    value ^= value >> kXShift;
    state[i] = value;
  }
  return state;
}

std::vector<uint64_t> NumpySeedSequence::GenerateState64(size_t n_words) const {
  const std::vector<uint32_t> words = GenerateState32(2 * n_words);
  std::vector<uint64_t> state(n_words);
  for (size_t i = 0; i < n_words; ++i) {
    state[i] = static_cast<uint64_t>(words[2 * i]) |
               (static_cast<uint64_t>(words[2 * i + 1]) << 32);
  }
  return state;
}

NumpyPcg64::NumpyPcg64(const NumpySeedSequence& seed_sequence) {
  const std::vector<uint64_t> seed = seed_sequence.GenerateState64(4);
  const unsigned __int128 init_state =
      (static_cast<unsigned __int128>(seed[0]) << 64) | seed[1];
  const unsigned __int128 init_seq =
      (static_cast<unsigned __int128>(seed[2]) << 64) | seed[3];
  // pcg_setseq_128_srandom_r.
  state_ = 0;
  inc_ = (init_seq << 1) | 1;
  Step();
  state_ += init_state;
  Step();
}

NumpyPcg64 NumpyPcg64::FromSeed(uint64_t seed) {
  return NumpyPcg64(NumpySeedSequence::FromUint64(seed));
}

void NumpyPcg64::Step() { state_ = state_ * kPcgMultiplier + inc_; }

uint64_t NumpyPcg64::NextUint64() {
  Step();
  const uint64_t high = static_cast<uint64_t>(state_ >> 64);
  const uint64_t low = static_cast<uint64_t>(state_);
  return RotateRight(high ^ low, static_cast<unsigned>(state_ >> 122));
}

uint32_t NumpyPcg64::NextUint32() {
  if (has_uint32_) {
    has_uint32_ = false;
    return uinteger_;
  }
  const uint64_t next = NextUint64();
  has_uint32_ = true;
  uinteger_ = static_cast<uint32_t>(next >> 32);
  return static_cast<uint32_t>(next);
}

uint64_t NumpyBoundedUint64(NumpyPcg64& rng, uint64_t range) {
  if (range == 0) return 0;
  if (range <= 0xFFFFFFFFULL) {
    if (range == 0xFFFFFFFFULL) return rng.NextUint32();
    // buffered_bounded_lemire_uint32.
    const uint32_t range_excl = static_cast<uint32_t>(range) + 1;
    uint64_t m = static_cast<uint64_t>(rng.NextUint32()) * range_excl;
    uint32_t leftover = static_cast<uint32_t>(m);
    if (leftover < range_excl) {
      const uint32_t threshold =
          (UINT32_MAX - static_cast<uint32_t>(range)) % range_excl;
      while (leftover < threshold) {
        m = static_cast<uint64_t>(rng.NextUint32()) * range_excl;
        leftover = static_cast<uint32_t>(m);
      }
    }
    return m >> 32;
  }
  if (range == UINT64_MAX) return rng.NextUint64();
  // bounded_lemire_uint64.
  const uint64_t range_excl = range + 1;
  unsigned __int128 m =
      static_cast<unsigned __int128>(rng.NextUint64()) * range_excl;
  uint64_t leftover = static_cast<uint64_t>(m);
  if (leftover < range_excl) {
    const uint64_t threshold = (UINT64_MAX - range) % range_excl;
    while (leftover < threshold) {
      m = static_cast<unsigned __int128>(rng.NextUint64()) * range_excl;
      leftover = static_cast<uint64_t>(m);
    }
  }
  return static_cast<uint64_t>(m >> 64);
}

absl::StatusOr<std::vector<int64_t>> NumpyIntegersInt64(NumpyPcg64& rng,
                                                        int64_t low,
                                                        int64_t high,
                                                        size_t n) {
  if (low >= high) {
    return absl::InvalidArgumentError(
        absl::StrCat("integers: low >= high (", low, " >= ", high, ")"));
  }
  // _rand_int64: rng = (high - 1) - low, off = low, as uint64.
  const uint64_t range =
      static_cast<uint64_t>(high - 1) - static_cast<uint64_t>(low);
  std::vector<int64_t> out(n);
  for (size_t i = 0; i < n; ++i) {
    out[i] = static_cast<int64_t>(static_cast<uint64_t>(low) +
                                  NumpyBoundedUint64(rng, range));
  }
  return out;
}

absl::StatusOr<std::vector<int64_t>> NumpyDefaultRngIntegersInt64(uint64_t seed,
                                                                  int64_t low,
                                                                  int64_t high,
                                                                  size_t n) {
  NumpyPcg64 rng = NumpyPcg64::FromSeed(seed);
  return NumpyIntegersInt64(rng, low, high, n);
}

}  // namespace engram::internal

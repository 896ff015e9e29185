// Exact floor modulo by a fixed divisor, shared by the CPU and CUDA kernels.
//
// The reference computes `mix % p` on numpy int64 arrays, which is a *floor*
// modulo: the result is in [0, p) even when `mix` is negative. A hardware
// 64-bit division per head is the slowest step of addressing, so each head
// keeps a precomputed reciprocal and the quotient is estimated with one
// 64x64->128 multiply (Barrett reduction), then corrected once:
//
//   internal::FloorModulus m = internal::MakeFloorModulus(646403);
//   int64_t h = internal::FloorMod(mix, m);  // == Python's mix % 646403
//
// Why one correction is enough: with r = floor((2^64-1)/p) we have
// 2^64 - r*p <= p, so x/p - x*r/2^64 < x/2^64 < 1 for every x < 2^64; the
// estimated quotient is therefore the true one or one less, and the estimated
// remainder is below 2p.
//
// This header is included by .cu files: keep it free of host-only code.
#ifndef ENGRAM_COMMON_ADDRESSING_FAST_MOD_H_
#define ENGRAM_COMMON_ADDRESSING_FAST_MOD_H_

#include <cstdint>

#if defined(__CUDACC__)
#define ENGRAM_HOST_DEVICE __host__ __device__
#else
#define ENGRAM_HOST_DEVICE
#endif

namespace engram::internal {

// FloorModulus holds a divisor and its precomputed constants.
// REQUIRES: 1 <= divisor <= INT64_MAX.
struct FloorModulus {
  uint64_t divisor;     // p
  uint64_t reciprocal;  // floor((2^64 - 1) / p)
  uint64_t wrap;        // 2^64 mod p: corrects the remainder of negative x
};

// MakeFloorModulus precomputes the constants for `divisor`.
// REQUIRES: 1 <= divisor <= INT64_MAX.
inline constexpr FloorModulus MakeFloorModulus(uint64_t divisor) {
  return FloorModulus{divisor, UINT64_MAX / divisor,
                      (UINT64_MAX % divisor + 1) % divisor};
}

// MulHi64 returns the high 64 bits of the 128-bit product a*b.
ENGRAM_HOST_DEVICE inline uint64_t MulHi64(uint64_t a, uint64_t b) {
#if defined(__CUDA_ARCH__)
  return __umul64hi(a, b);
#else
  return static_cast<uint64_t>((static_cast<unsigned __int128>(a) * b) >> 64);
#endif
}

// ModU64 returns x mod m.divisor for any unsigned 64-bit x.
ENGRAM_HOST_DEVICE inline uint64_t ModU64(uint64_t x, const FloorModulus& m) {
  const uint64_t q = MulHi64(x, m.reciprocal);
  const uint64_t r = x - q * m.divisor;
  return r >= m.divisor ? r - m.divisor : r;
}

// FloorMod returns x mod m.divisor rounded like Python/numpy `%`: always in
// [0, divisor), also for negative x.
ENGRAM_HOST_DEVICE inline int64_t FloorMod(int64_t x, const FloorModulus& m) {
  // As unsigned, a negative x reads x + 2^64; subtract 2^64 mod p back.
  const uint64_t r = ModU64(static_cast<uint64_t>(x), m);
  const uint64_t fix = x < 0 ? m.wrap : 0;
  return static_cast<int64_t>(r >= fix ? r - fix : r + (m.divisor - fix));
}

}  // namespace engram::internal

#endif  // ENGRAM_COMMON_ADDRESSING_FAST_MOD_H_

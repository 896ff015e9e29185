#include "common/addressing/fast_mod.h"

#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace engram::internal {
namespace {

// Python's floor modulo, computed with 128-bit arithmetic.
int64_t SlowFloorMod(int64_t x, int64_t p) {
  __int128 r = static_cast<__int128>(x) % p;
  if (r < 0) r += p;
  return static_cast<int64_t>(r);
}

TEST(FastModTest, MatchesFloorModuloOnEdgesAndRandomValues) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  std::vector<int64_t> divisors = {
      1, 2, 3, 7, 646403, 4294967291, 4294967311, (int64_t{1} << 61) - 1, kMax};
  std::vector<int64_t> values = {
      0, 1, -1, 2, -2, kMax, kMin, kMin + 1, kMax - 1, 646402, 646403, -646403};
  std::mt19937_64 rng(5);
  for (int i = 0; i < 200; ++i) {
    divisors.push_back(static_cast<int64_t>(rng() >> (1 + rng() % 62)) | 1);
  }
  for (int i = 0; i < 2000; ++i) {
    values.push_back(static_cast<int64_t>(rng() >> (rng() % 64)));
    values.push_back(static_cast<int64_t>(rng()));
  }
  for (int64_t p : divisors) {
    const FloorModulus m = MakeFloorModulus(static_cast<uint64_t>(p));
    for (int64_t x : values) {
      ASSERT_EQ(FloorMod(x, m), SlowFloorMod(x, p)) << x << " mod " << p;
      ASSERT_EQ(ModU64(static_cast<uint64_t>(x), m),
                static_cast<uint64_t>(x) % static_cast<uint64_t>(p));
      const uint64_t up = static_cast<uint64_t>(p);
      for (uint64_t d : {up - 1, up, up + 1}) {
        // Around multiples of p; wraps (in unsigned arithmetic, defined)
        // past INT64_MAX, which is just another input.
        const int64_t y = static_cast<int64_t>(
            static_cast<uint64_t>(x / p * p) + d);
        ASSERT_EQ(FloorMod(y, m), SlowFloorMod(y, p)) << y << " mod " << p;
      }
    }
  }
}

}  // namespace
}  // namespace engram::internal

#include "common/addressing/primes.h"

#include <cstdint>
#include <vector>

#include "gtest/gtest.h"

namespace engram::internal {
namespace {

TEST(PrimesTest, AgreesWithSieveBelowTwoMillion) {
  constexpr int kLimit = 2000000;
  std::vector<bool> composite(kLimit, false);
  composite[0] = composite[1] = true;
  for (int i = 2; static_cast<int64_t>(i) * i < kLimit; ++i) {
    if (composite[i]) continue;
    for (int j = i * i; j < kLimit; j += i) composite[j] = true;
  }
  for (int n = 0; n < kLimit; ++n) {
    ASSERT_EQ(IsPrime(n), !composite[n]) << n;
  }
  int64_t expected_next = -1;
  for (int n = kLimit - 2; n >= 0; --n) {
    if (!composite[n + 1]) expected_next = n + 1;
    if (expected_next > 0 && n % 997 == 0) {
      ASSERT_EQ(NextPrimeAfter(n), static_cast<uint64_t>(expected_next)) << n;
    }
  }
}

TEST(PrimesTest, LargeKnownPrimesAndPseudoprimes) {
  EXPECT_TRUE(IsPrime((uint64_t{1} << 61) - 1));  // Mersenne prime M61
  EXPECT_TRUE(IsPrime(18446744073709551557ULL));  // largest 64-bit prime
  EXPECT_TRUE(IsPrime(4294967291ULL));            // largest 32-bit prime
  EXPECT_FALSE(IsPrime((uint64_t{1} << 61) - 3));
  // Carmichael numbers and strong pseudoprimes to many small bases.
  for (uint64_t n :
       {561ULL, 41041ULL, 3215031751ULL, 2152302898747ULL, 3474749660383ULL,
        341550071728321ULL, 3825123056546413051ULL, 18446744073709551615ULL}) {
    EXPECT_FALSE(IsPrime(n)) << n;
  }
  // Product of two large primes.
  EXPECT_FALSE(IsPrime(4294967291ULL * 4294967279ULL));
  EXPECT_EQ(NextPrimeAfter((uint64_t{1} << 61) - 2), (uint64_t{1} << 61) - 1);
}

}  // namespace
}  // namespace engram::internal

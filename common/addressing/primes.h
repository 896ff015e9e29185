// Primality for the per-head table sizes of a HashSpec.
//
// The reference uses sympy.isprime; for 64-bit inputs a Miller-Rabin test
// with the first twelve prime bases is deterministic (it is exact for every
// n < 3.3e24), so both agree on every size a config can name.
//
//   bool p = internal::IsPrime(646403);             // true
//   uint64_t next = internal::NextPrimeAfter(646400);  // 646403
//
// Thread-safe (pure functions).
#ifndef ENGRAM_COMMON_ADDRESSING_PRIMES_H_
#define ENGRAM_COMMON_ADDRESSING_PRIMES_H_

#include <cstdint>

namespace engram::internal {

// IsPrime reports whether n is prime (0 and 1 are not).
bool IsPrime(uint64_t n);

// NextPrimeAfter returns the smallest prime strictly greater than n.
// REQUIRES: n < 2^63 (so the answer fits; callers bound their inputs).
uint64_t NextPrimeAfter(uint64_t n);

}  // namespace engram::internal

#endif  // ENGRAM_COMMON_ADDRESSING_PRIMES_H_

// SplitMix64 (Steele, Lea, Flood 2014): a tiny, portable 64-bit mixer, for
// streams that must be the same on every machine (demo rows, seeded
// weights and prompts).
//
//   uint64_t random = SplitMix64(seed + i);  // the i-th value of a stream
#ifndef ENGRAM_COMMON_SPLIT_MIX64_H_
#define ENGRAM_COMMON_SPLIT_MIX64_H_

#include <cstdint>

namespace engram {

inline uint64_t SplitMix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

}  // namespace engram

#endif  // ENGRAM_COMMON_SPLIT_MIX64_H_

// Row id distributions for load generation: uniform, or Zipf(s) with its hot
// ids scattered over the table (as hashed n-gram rows are), not clustered.
//
//   RowIdSampler sampler(/*rows=*/1 << 20, /*zipf_s=*/1.0, /*seed=*/7);
//   uint64_t id = sampler.Next();
#ifndef ENGRAM_BENCH_ZIPF_H_
#define ENGRAM_BENCH_ZIPF_H_

#include <cstdint>

namespace engram::bench {

class RowIdSampler {
 public:
  // zipf_s == 0 means uniform. REQUIRES: rows >= 1, zipf_s >= 0.
  RowIdSampler(uint64_t rows, double zipf_s, uint64_t seed);

  uint64_t Next();

 private:
  // Zipf rank in [1, rows] by rejection-inversion (Hoermann & Derflinger),
  // O(1) memory for any table size.
  uint64_t NextRank();
  double H(double x) const;
  double HIntegral(double x) const;
  double HIntegralInverse(double x) const;

  uint64_t rows_;
  double s_;
  uint64_t scatter_;  // Multiplier coprime to rows_: rank -> row id bijection.
  // SplitMix64 stream: the sampler runs on the same cores as the server it
  // loads, so it must cost far less than a lookup (mt19937 showed in
  // profiles).
  uint64_t NextRandom();
  double NextUnit();
  uint64_t state_;
  double h_integral_x1_ = 0;
  double h_integral_n_ = 0;
  double threshold_ = 0;
};

}  // namespace engram::bench

#endif  // ENGRAM_BENCH_ZIPF_H_

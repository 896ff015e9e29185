// Row id distributions for load generation: uniform, or Zipf(s) with its hot
// ids scattered over the table (as hashed n-gram rows are), not clustered.
//
//   RowIdSampler sampler(/*rows=*/1 << 20, /*zipf_s=*/1.0, /*seed=*/7);
//   uint64_t id = sampler.Next();
#ifndef ENGRAM_BENCH_ZIPF_H_
#define ENGRAM_BENCH_ZIPF_H_

#include <cstdint>
#include <random>

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
  std::mt19937_64 rng_;
  std::uniform_real_distribution<double> unit_{0.0, 1.0};
  double h_integral_x1_ = 0;
  double h_integral_n_ = 0;
  double threshold_ = 0;
};

}  // namespace engram::bench

#endif  // ENGRAM_BENCH_ZIPF_H_

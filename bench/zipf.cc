#include "bench/zipf.h"

#include <cmath>
#include <numeric>

namespace engram::bench {
namespace {

// log1p(x)/x, accurate near 0.
double Helper1(double x) {
  return std::fabs(x) > 1e-8 ? std::log1p(x) / x
                             : 1.0 - x * (0.5 - x * (1.0 / 3.0 - 0.25 * x));
}

// expm1(x)/x, accurate near 0.
double Helper2(double x) {
  return std::fabs(x) > 1e-8
             ? std::expm1(x) / x
             : 1.0 + x * 0.5 * (1.0 + x * (1.0 / 3.0) * (1.0 + 0.25 * x));
}

}  // namespace

RowIdSampler::RowIdSampler(uint64_t rows, double zipf_s, uint64_t seed)
    : rows_(rows), s_(zipf_s), state_(seed) {
  // Golden-ratio multiplier, nudged until coprime with rows.
  scatter_ = 0x9E3779B97F4A7C15ull % rows_;
  if (scatter_ == 0) scatter_ = 1;
  while (std::gcd(scatter_, rows_) != 1) ++scatter_;
  if (s_ > 0) {
    h_integral_x1_ = HIntegral(1.5) - 1.0;
    h_integral_n_ = HIntegral(static_cast<double>(rows_) + 0.5);
    threshold_ = 2.0 - HIntegralInverse(HIntegral(2.5) - H(2.0));
  }
}

uint64_t RowIdSampler::NextRandom() {
  uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

double RowIdSampler::NextUnit() {
  return static_cast<double>(NextRandom() >> 11) * 0x1.0p-53;
}

double RowIdSampler::H(double x) const { return std::exp(-s_ * std::log(x)); }

double RowIdSampler::HIntegral(double x) const {
  const double log_x = std::log(x);
  return Helper2((1.0 - s_) * log_x) * log_x;
}

double RowIdSampler::HIntegralInverse(double x) const {
  double t = x * (1.0 - s_);
  if (t < -1.0) t = -1.0;
  return std::exp(Helper1(t) * x);
}

uint64_t RowIdSampler::NextRank() {
  while (true) {
    const double u =
        h_integral_n_ + NextUnit() * (h_integral_x1_ - h_integral_n_);
    const double x = HIntegralInverse(u);
    double k = std::floor(x + 0.5);
    if (k < 1) k = 1;
    if (k > static_cast<double>(rows_)) k = static_cast<double>(rows_);
    if (k - x <= threshold_ || u >= HIntegral(k + 0.5) - H(k)) {
      return static_cast<uint64_t>(k);
    }
  }
}

uint64_t RowIdSampler::Next() {
  if (s_ == 0) {
    // Lemire's multiply-shift: uniform in [0, rows_) without a division.
    return static_cast<uint64_t>(
        (static_cast<unsigned __int128>(NextRandom()) * rows_) >> 64);
  }
  const unsigned __int128 scattered =
      static_cast<unsigned __int128>(NextRank() - 1) * scatter_;
  return static_cast<uint64_t>(scattered % rows_);
}

}  // namespace engram::bench

#include "bench/zipf.h"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <unordered_map>
#include <vector>

#include "gtest/gtest.h"

namespace engram::bench {
namespace {

// Sample counts per id, most frequent first.
std::vector<uint64_t> SortedCounts(RowIdSampler& sampler, int samples) {
  std::unordered_map<uint64_t, uint64_t> counts;
  for (int i = 0; i < samples; ++i) ++counts[sampler.Next()];
  std::vector<uint64_t> sorted;
  sorted.reserve(counts.size());
  for (const auto& [id, count] : counts) sorted.push_back(count);
  std::sort(sorted.begin(), sorted.end(), std::greater<>());
  return sorted;
}

TEST(RowIdSamplerTest, StaysInRange) {
  for (const uint64_t rows :
       {uint64_t{1}, uint64_t{2}, uint64_t{7}, uint64_t{1000},
        uint64_t{(1 << 20) + 3}, uint64_t{1} << 40}) {
    for (const double s : {0.0, 0.5, 1.0, 1.3}) {
      RowIdSampler sampler(rows, s, /*seed=*/rows + 17);
      for (int i = 0; i < 20000; ++i) {
        const uint64_t id = sampler.Next();
        ASSERT_LT(id, rows) << "rows " << rows << " s " << s;
      }
    }
  }
}

TEST(RowIdSamplerTest, UniformLooksUniform) {
  constexpr uint64_t kRows = 100;
  constexpr int kSamples = 200000;
  RowIdSampler sampler(kRows, /*zipf_s=*/0, /*seed=*/3);
  std::vector<int> counts(kRows);
  for (int i = 0; i < kSamples; ++i) ++counts[sampler.Next()];
  const double expected = static_cast<double>(kSamples) / kRows;
  double chi_square = 0;
  for (const int count : counts) {
    chi_square += (count - expected) * (count - expected) / expected;
  }
  // 99 degrees of freedom: mean 99, sd 14; 200 is ~7 sd out, so this only
  // fails for a sampler that is really skewed, never by bad luck.
  EXPECT_LT(chi_square, 200) << "uniform sampling looks skewed";
}

TEST(RowIdSamplerTest, ZipfConcentratesMassOnFewIds) {
  constexpr uint64_t kRows = 100000;
  constexpr int kSamples = 300000;
  RowIdSampler sampler(kRows, /*zipf_s=*/1.0, /*seed=*/5);
  const std::vector<uint64_t> counts = SortedCounts(sampler, kSamples);
  uint64_t top = 0;
  for (size_t i = 0; i < std::min<size_t>(kRows / 100, counts.size()); ++i) {
    top += counts[i];
  }
  // For Zipf(1) the top 1% of 1e5 ranks carry H(1000)/H(100000) ~ 62% of
  // the mass; uniform would give them ~1%.
  const double share = static_cast<double>(top) / kSamples;
  EXPECT_GT(share, 0.5);
  EXPECT_LT(share, 0.75);
  // The hottest id alone gets ~1/H(1e5) ~ 8%.
  EXPECT_GT(static_cast<double>(counts[0]) / kSamples, 0.05);
}

TEST(RowIdSamplerTest, LargerExponentIsMoreSkewed) {
  constexpr uint64_t kRows = 100000;
  constexpr int kSamples = 100000;
  RowIdSampler mild(kRows, /*zipf_s=*/0.6, /*seed=*/9);
  RowIdSampler steep(kRows, /*zipf_s=*/1.2, /*seed=*/9);
  const std::vector<uint64_t> mild_counts = SortedCounts(mild, kSamples);
  const std::vector<uint64_t> steep_counts = SortedCounts(steep, kSamples);
  EXPECT_GT(mild_counts.size(), steep_counts.size())
      << "a steeper Zipf should touch fewer distinct ids";
  EXPECT_GT(steep_counts[0], mild_counts[0]);
}

TEST(RowIdSamplerTest, HotIdsAreScatteredOverTheTable) {
  constexpr uint64_t kRows = 1 << 20;
  RowIdSampler sampler(kRows, /*zipf_s=*/1.0, /*seed=*/11);
  std::unordered_map<uint64_t, uint64_t> counts;
  for (int i = 0; i < 300000; ++i) ++counts[sampler.Next()];
  std::vector<std::pair<uint64_t, uint64_t>> by_count(counts.begin(),
                                                      counts.end());
  std::sort(by_count.begin(), by_count.end(),
            [](const auto& a, const auto& b) { return a.second > b.second; });
  // The 100 hottest ids: were ranks mapped to ids directly they would all
  // sit below 100; scattered, few land in the first 1% of the table and
  // they reach into its top half.
  int in_first_percent = 0;
  uint64_t highest = 0;
  for (size_t i = 0; i < 100; ++i) {
    if (by_count[i].first < kRows / 100) ++in_first_percent;
    highest = std::max(highest, by_count[i].first);
  }
  EXPECT_LT(in_first_percent, 20);
  EXPECT_GT(highest, kRows / 2);
}

TEST(RowIdSamplerTest, DeterministicForASeed) {
  for (const double s : {0.0, 1.0}) {
    RowIdSampler a(1 << 20, s, /*seed=*/42);
    RowIdSampler b(1 << 20, s, /*seed=*/42);
    RowIdSampler c(1 << 20, s, /*seed=*/43);
    int differ_from_c = 0;
    for (int i = 0; i < 1000; ++i) {
      const uint64_t id = a.Next();
      ASSERT_EQ(id, b.Next()) << "s " << s << " sample " << i;
      if (id != c.Next()) ++differ_from_c;
    }
    EXPECT_GT(differ_from_c, 500) << "another seed should give another stream";
  }
}

}  // namespace
}  // namespace engram::bench

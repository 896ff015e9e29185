#include "server/storage/cached_row_store.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/storage/ram_row_store.h"

namespace engram::server {
namespace {

char PatternByte(uint64_t row, uint32_t j) {
  return static_cast<char>((row * 2654435761u) ^ (j * 31) ^ (row >> 13));
}

std::string PatternRow(uint64_t row, uint32_t row_bytes) {
  std::string bytes(row_bytes, '\0');
  for (uint32_t j = 0; j < row_bytes; ++j) bytes[j] = PatternByte(row, j);
  return bytes;
}

std::string Pack(const std::vector<uint64_t>& ids) {
  std::string packed;
  AppendPackedRowIds(ids, &packed);
  return packed;
}

// A backing store that computes its rows and counts its calls, so tests can
// see how often the cache goes to it.
class PatternStore final : public RowStore {
 public:
  PatternStore(uint64_t rows, uint32_t row_bytes)
      : rows_(rows), row_bytes_(row_bytes) {}
  uint64_t rows() const override { return rows_; }
  uint32_t row_bytes() const override { return row_bytes_; }
  absl::Status Gather(const PackedRowIds& ids, char* out) const override {
    gathers_.fetch_add(1);
    rows_read_.fetch_add(ids.size());
    if (fail_.load()) return absl::UnavailableError("backing store down");
    for (size_t i = 0; i < ids.size(); ++i) {
      for (uint32_t j = 0; j < row_bytes_; ++j) {
        out[i * row_bytes_ + j] = PatternByte(ids[i], j);
      }
    }
    return absl::OkStatus();
  }
  RowStoreStats Stats() const override {
    return RowStoreStats{.bytes_in_ram = rows_ * row_bytes_};
  }

  uint64_t gathers() const { return gathers_.load(); }
  uint64_t rows_read() const { return rows_read_.load(); }
  void set_fail(bool fail) { fail_.store(fail); }

 private:
  uint64_t rows_;
  uint32_t row_bytes_;
  mutable std::atomic<uint64_t> gathers_{0};
  mutable std::atomic<uint64_t> rows_read_{0};
  std::atomic<bool> fail_{false};
};

// Zipf(s) over ranks 1..n by inverse CDF, rank r mapped to a scattered row
// id (hot rows are spread over the table, as hashed n-grams are).
class ZipfIds {
 public:
  ZipfIds(uint64_t n, double s, uint64_t seed) : n_(n), rng_(seed) {
    cdf_.resize(n);
    double sum = 0;
    for (uint64_t r = 1; r <= n; ++r) {
      sum += std::pow(static_cast<double>(r), -s);
      cdf_[r - 1] = sum;
    }
    for (double& c : cdf_) c /= sum;
  }
  uint64_t RankToId(uint64_t rank) const { return (rank * 7919) % n_; }
  uint64_t Next() {
    const double u = std::uniform_real_distribution<double>(0, 1)(rng_);
    const uint64_t rank =
        std::lower_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin();
    return RankToId(std::min(rank, n_ - 1));
  }
  // Probability mass of the `top` most popular ranks.
  double HeadMass(uint64_t top) const { return cdf_[top - 1]; }

 private:
  uint64_t n_;
  std::mt19937_64 rng_;
  std::vector<double> cdf_;
};

RowCache::Options CacheOptions(uint64_t rows, uint32_t row_bytes,
                               int shard_bits, RowCache::Admission admission) {
  RowCache::Options options;
  options.capacity_bytes = rows * (row_bytes + RowCache::kEntryOverheadBytes);
  options.row_bytes = row_bytes;
  options.shard_bits = shard_bits;
  options.admission = admission;
  return options;
}

std::unique_ptr<RowCache> MustCreate(const RowCache::Options& options) {
  absl::StatusOr<std::unique_ptr<RowCache>> cache = RowCache::Create(options);
  EXPECT_TRUE(cache.ok()) << cache.status();
  return cache.ok() ? std::move(*cache) : nullptr;
}

TEST(RowCacheTest, RejectsBadOptions) {
  RowCache::Options options = CacheOptions(100, 16, 0, {});
  options.row_bytes = 0;
  EXPECT_EQ(RowCache::Create(options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options = CacheOptions(100, 16, 0, {});
  options.shard_bits = 13;
  EXPECT_EQ(RowCache::Create(options).status().code(),
            absl::StatusCode::kInvalidArgument);
  // 100 rows cannot give each of 128 shards one.
  options = CacheOptions(100, 16, 7, {});
  EXPECT_EQ(RowCache::Create(options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options = CacheOptions(1, 16, 0, {});
  options.capacity_bytes -= 1;
  EXPECT_EQ(RowCache::Create(options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(RowCacheTest, PicksShardsForItsSize) {
  EXPECT_EQ(MustCreate(CacheOptions(1000, 16, -1, {}))->shard_bits(), 0);
  EXPECT_EQ(MustCreate(CacheOptions(4096, 16, -1, {}))->shard_bits(), 2);
  EXPECT_EQ(MustCreate(CacheOptions(1 << 20, 16, -1, {}))->shard_bits(), 6);
}

TEST(RowCacheTest, CountsHitsAndMissesExactly) {
  auto cache =
      MustCreate(CacheOptions(100, 8, 0, RowCache::Admission::kAlways));
  ASSERT_NE(cache, nullptr);
  std::string row(8, '\0');
  EXPECT_FALSE(cache->Lookup(1, row.data()));
  cache->Insert(1, PatternRow(1, 8).data());
  EXPECT_TRUE(cache->Lookup(1, row.data()));
  EXPECT_EQ(row, PatternRow(1, 8));
  EXPECT_FALSE(cache->Lookup(2, row.data()));

  // A batch: 1 hits twice, 2 and 3 miss.
  const std::string packed = Pack({1, 2, 1, 3});
  std::string out(4 * 8, '\0');
  std::vector<size_t> misses;
  cache->Lookup(PackedRowIds(packed), out.data(), &misses);
  std::sort(misses.begin(), misses.end());
  EXPECT_THAT(misses, ::testing::ElementsAre(1, 3));
  EXPECT_EQ(out.substr(0, 8), PatternRow(1, 8));
  EXPECT_EQ(out.substr(16, 8), PatternRow(1, 8));

  // Re-inserting a cached row changes nothing.
  cache->Insert(1, PatternRow(1, 8).data());
  RowCacheStats stats = cache->Stats();
  EXPECT_EQ(stats.hits, 3u);
  EXPECT_EQ(stats.misses, 4u);
  EXPECT_EQ(stats.insertions, 1u);
  EXPECT_EQ(stats.evictions, 0u);
  EXPECT_EQ(stats.entries, 1u);
  EXPECT_EQ(stats.bytes_used, 8 + RowCache::kEntryOverheadBytes);
  EXPECT_DOUBLE_EQ(stats.hit_rate(), 3.0 / 7.0);
}

TEST(RowCacheTest, CachedRowStoreGoesToTheBackingStoreOncePerBatch) {
  auto backing = std::make_shared<PatternStore>(1000, 16);
  auto store = CachedRowStore::Create(
      backing,
      MustCreate(CacheOptions(100, 16, 0, RowCache::Admission::kAlways)));
  ASSERT_TRUE(store.ok()) << store.status();
  std::string out(3 * 16, '\0');
  const std::string cold = Pack({5, 6, 5});
  ASSERT_TRUE((*store)->Gather(PackedRowIds(cold), out.data()).ok());
  EXPECT_EQ(out, PatternRow(5, 16) + PatternRow(6, 16) + PatternRow(5, 16));
  EXPECT_EQ(backing->gathers(), 1u);
  // All three missed (admission follows the lookups), in one fetch.
  EXPECT_EQ(backing->rows_read(), 3u);

  const std::string warm = Pack({6, 5, 6});
  ASSERT_TRUE((*store)->Gather(PackedRowIds(warm), out.data()).ok());
  EXPECT_EQ(out, PatternRow(6, 16) + PatternRow(5, 16) + PatternRow(6, 16));
  EXPECT_EQ(backing->gathers(), 1u);  // All hits.

  const RowCacheStats stats = (*store)->cache().Stats();
  EXPECT_EQ(stats.hits, 3u);
  EXPECT_EQ(stats.misses, 3u);
  EXPECT_EQ(stats.insertions, 2u);
}

TEST(RowCacheTest, CachedRowStoreReturnsBackingErrorsAndCachesNothing) {
  auto backing = std::make_shared<PatternStore>(1000, 16);
  auto store = CachedRowStore::Create(
      backing,
      MustCreate(CacheOptions(100, 16, 0, RowCache::Admission::kAlways)));
  ASSERT_TRUE(store.ok());
  backing->set_fail(true);
  const std::string ids = Pack({1, 2});
  std::string out(2 * 16, '\0');
  EXPECT_EQ((*store)->Gather(PackedRowIds(ids), out.data()).code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ((*store)->cache().Stats().entries, 0u);

  EXPECT_EQ(
      CachedRowStore::Create(backing, MustCreate(CacheOptions(100, 8, 0, {})))
          .status()
          .code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      CachedRowStore::Create(nullptr, MustCreate(CacheOptions(100, 16, 0, {})))
          .status()
          .code(),
      absl::StatusCode::kInvalidArgument);
}

TEST(RowCacheTest, NeverExceedsItsBudget) {
  for (int shard_bits : {0, 2, 4}) {
    for (auto admission :
         {RowCache::Admission::kAlways, RowCache::Admission::kFrequency}) {
      // An odd budget: not a whole number of rows.
      RowCache::Options options = CacheOptions(1000, 24, shard_bits, admission);
      options.capacity_bytes += 37;
      auto cache = MustCreate(options);
      ASSERT_NE(cache, nullptr);
      EXPECT_LE(cache->max_entries(), 1000u);
      std::mt19937_64 rng(shard_bits);
      for (int round = 0; round < 50; ++round) {
        std::vector<uint64_t> ids(200);
        for (uint64_t& id : ids) id = rng() % 20000;
        const std::string packed = Pack(ids);
        std::string out(ids.size() * 24, '\0');
        std::vector<size_t> misses;
        // Look up first, so that frequency admission has counts to go by.
        cache->Lookup(PackedRowIds(packed), out.data(), &misses);
        cache->Lookup(PackedRowIds(packed), out.data(), &misses);
        std::string rows;
        for (uint64_t id : ids) rows += PatternRow(id, 24);
        cache->Insert(PackedRowIds(packed), rows.data());
        const RowCacheStats stats = cache->Stats();
        ASSERT_LE(stats.bytes_used, stats.capacity_bytes);
        ASSERT_LE(stats.entries, stats.max_entries);
        ASSERT_EQ(stats.insertions - stats.evictions, stats.entries);
      }
      // Full by now, and every cached row is the right one.
      EXPECT_EQ(cache->Stats().entries, cache->max_entries());
      for (uint64_t id = 0; id < 20000; ++id) {
        if (!cache->Contains(id)) continue;
        std::string row(24, '\0');
        ASSERT_TRUE(cache->Lookup(id, row.data()));
        ASSERT_EQ(row, PatternRow(id, 24)) << id;
      }
    }
  }
}

TEST(RowCacheTest, OverheadStaysWithinItsCharge) {
  // The product's bound: 128-byte rows must fill >= 84% of a budget.
  EXPECT_LE(RowCache::kEntryOverheadBytes, 24u);
  for (uint64_t rows : {uint64_t{8}, uint64_t{64}, uint64_t{1000},
                        uint64_t{5000}, uint64_t{100000}}) {
    for (int shard_bits : {-1, 0, 3}) {
      // The bound holds for shards of >= 8 rows (see the banner).
      if (shard_bits == 3 && rows < 64) continue;
      for (auto admission :
           {RowCache::Admission::kAlways, RowCache::Admission::kFrequency}) {
        auto cache = MustCreate(CacheOptions(rows, 128, shard_bits, admission));
        ASSERT_NE(cache, nullptr);
        const RowCacheStats stats = cache->Stats();
        // Rounded down to a whole number per shard.
        EXPECT_LE(stats.max_entries, rows);
        EXPECT_GT(stats.max_entries + (1 << cache->shard_bits()), rows);
        EXPECT_LE(stats.overhead_bytes,
                  stats.max_entries * RowCache::kEntryOverheadBytes)
            << rows << " rows, shard_bits " << shard_bits;
        // At least the ids themselves: nothing is left uncounted.
        EXPECT_GE(stats.overhead_bytes, stats.max_entries * sizeof(uint64_t));
      }
    }
  }
}

// A budget of N * (row_bytes + kEntryOverheadBytes) bytes is N entries, and
// every one of them can be used: any N distinct rows can be held, and once
// more distinct ids than ways have come to every set, all N are. Which rows
// share a set is up to the hash, so a working set of exactly N rows fits
// only in part (balls in bins: E[min(Poisson(8), 8)] / 8 = 0.86 with 8
// ways), and one of N / 2 rows almost wholly (0.99).
TEST(RowCacheTest, ABudgetOfNEntriesHoldsNRows) {
  constexpr uint64_t kEntries = 4096;
  constexpr uint32_t kRowBytes = 128;
  for (int shard_bits : {0, 2}) {
    for (auto admission :
         {RowCache::Admission::kAlways, RowCache::Admission::kFrequency}) {
      SCOPED_TRACE(testing::Message()
                   << "shard_bits " << shard_bits << " admission "
                   << static_cast<int>(admission));
      auto offer = [&](RowCache& cache, uint64_t first, uint64_t count) {
        std::vector<uint64_t> ids(count);
        for (uint64_t i = 0; i < count; ++i) ids[i] = first + i;
        const std::string packed = Pack(ids);
        const std::string rows(count * kRowBytes, 'r');
        cache.Insert(PackedRowIds(packed), rows.data());
      };
      auto full =
          MustCreate(CacheOptions(kEntries, kRowBytes, shard_bits, admission));
      ASSERT_NE(full, nullptr);
      EXPECT_EQ(full->max_entries(), kEntries);
      offer(*full, 0, 16 * kEntries);
      const RowCacheStats stats = full->Stats();
      EXPECT_EQ(stats.entries, kEntries);
      EXPECT_EQ(stats.bytes_used,
                kEntries * (kRowBytes + RowCache::kEntryOverheadBytes));
      EXPECT_LE(stats.bytes_used, stats.capacity_bytes);

      auto exact =
          MustCreate(CacheOptions(kEntries, kRowBytes, shard_bits, admission));
      offer(*exact, 1000000, kEntries);
      EXPECT_GE(exact->Stats().entries, kEntries * 83 / 100);
      auto half =
          MustCreate(CacheOptions(kEntries, kRowBytes, shard_bits, admission));
      offer(*half, 1000000, kEntries / 2);
      EXPECT_GE(half->Stats().entries, kEntries / 2 * 98 / 100);
    }
  }
}

TEST(RowCacheTest, InsertKeepsTheFirstCopyOfARepeatedId) {
  for (auto admission :
       {RowCache::Admission::kAlways, RowCache::Admission::kFrequency}) {
    auto cache = MustCreate(CacheOptions(100, 8, 0, admission));
    ASSERT_NE(cache, nullptr);
    // The same id twice in one batch, with different bytes.
    const std::string packed = Pack({7, 8, 7});
    const std::string rows =
        PatternRow(7, 8) + PatternRow(8, 8) + PatternRow(9, 8);
    cache->Insert(PackedRowIds(packed), rows.data());
    // And again in another batch.
    cache->Insert(7, PatternRow(10, 8).data());
    RowCacheStats stats = cache->Stats();
    EXPECT_EQ(stats.insertions, 2u);
    EXPECT_EQ(stats.entries, 2u);
    std::string row(8, '\0');
    ASSERT_TRUE(cache->Lookup(7, row.data()));
    EXPECT_EQ(row, PatternRow(7, 8));
  }

  // A batch that repeats a cold id fetches it at each position and offers
  // it each time; it is cached once.
  auto backing = std::make_shared<PatternStore>(1000, 16);
  auto store = *CachedRowStore::Create(
      backing,
      MustCreate(CacheOptions(100, 16, 0, RowCache::Admission::kAlways)));
  const std::string ids = Pack({5, 5, 5});
  std::string out(3 * 16, '\0');
  ASSERT_TRUE(store->Gather(PackedRowIds(ids), out.data()).ok());
  ASSERT_TRUE(store->Gather(PackedRowIds(ids), out.data()).ok());
  EXPECT_EQ(out, PatternRow(5, 16) + PatternRow(5, 16) + PatternRow(5, 16));
  const RowCacheStats stats = store->cache().Stats();
  EXPECT_EQ(stats.insertions, 1u);
  EXPECT_EQ(stats.entries, 1u);
  EXPECT_EQ(stats.hits, 3u);
  EXPECT_EQ(backing->rows_read(), 3u);
}

// kUncacheableId marks empty ways, so it must never match one.
TEST(RowCacheTest, TheUncacheableIdAlwaysMisses) {
  auto cache = MustCreate(CacheOptions(16, 8, 0, RowCache::Admission::kAlways));
  ASSERT_NE(cache, nullptr);
  constexpr uint64_t kId = RowCache::kUncacheableId;
  std::string row(8, '\0');
  EXPECT_FALSE(cache->Contains(kId));
  EXPECT_FALSE(cache->Lookup(kId, row.data()));
  const std::string packed = Pack({kId, 1});
  const std::string rows = PatternRow(kId, 8) + PatternRow(1, 8);
  cache->Insert(PackedRowIds(packed), rows.data());
  EXPECT_FALSE(cache->Contains(kId));
  EXPECT_FALSE(cache->Lookup(kId, row.data()));
  EXPECT_TRUE(cache->Contains(1));
  EXPECT_EQ(cache->Stats().entries, 1u);
  EXPECT_EQ(cache->Stats().insertions, 1u);
}

// A cache of kWaysPerSet rows in one shard is one set, so this is CLOCK
// within a set, which is where replacement happens.
TEST(RowCacheTest, ClockGivesReferencedRowsInASetASecondChance) {
  constexpr uint64_t kWays = RowCache::kWaysPerSet;
  auto cache =
      MustCreate(CacheOptions(kWays, 8, 0, RowCache::Admission::kAlways));
  ASSERT_NE(cache, nullptr);
  for (uint64_t id = 1; id <= kWays; ++id) {
    cache->Insert(id, PatternRow(id, 8).data());
  }
  EXPECT_EQ(cache->Stats().entries, kWays);
  EXPECT_EQ(cache->Stats().evictions, 0u);
  std::string row(8, '\0');
  ASSERT_TRUE(cache->Lookup(1, row.data()));  // 1 and 3 referenced.
  ASSERT_TRUE(cache->Lookup(3, row.data()));
  // The hand passes 1 (clearing its bit) and takes 2; then passes 3, takes
  // 4; then takes 5.
  cache->Insert(kWays + 1, PatternRow(kWays + 1, 8).data());
  EXPECT_TRUE(cache->Contains(1));
  EXPECT_FALSE(cache->Contains(2));
  EXPECT_TRUE(cache->Contains(kWays + 1));
  cache->Insert(kWays + 2, PatternRow(kWays + 2, 8).data());
  cache->Insert(kWays + 3, PatternRow(kWays + 3, 8).data());
  EXPECT_TRUE(cache->Contains(1));
  EXPECT_TRUE(cache->Contains(3));
  EXPECT_FALSE(cache->Contains(4));
  EXPECT_FALSE(cache->Contains(5));
  EXPECT_EQ(cache->Stats().evictions, 3u);
  // Their bits are spent: once the hand comes round (from way 5, past the
  // end, to way 0), 1 goes, and 3 would be next.
  for (uint64_t id = kWays + 4; id <= 2 * kWays - 1; ++id) {
    cache->Insert(id, PatternRow(id, 8).data());
  }
  EXPECT_FALSE(cache->Contains(1));
  EXPECT_TRUE(cache->Contains(3));
  EXPECT_EQ(cache->Stats().entries, kWays);
  // Every row still cached is the one inserted under its id.
  for (uint64_t id = 1; id <= 2 * kWays - 1; ++id) {
    if (!cache->Contains(id)) continue;
    ASSERT_TRUE(cache->Lookup(id, row.data()));
    EXPECT_EQ(row, PatternRow(id, 8)) << id;
  }
}

TEST(RowCacheTest, FrequencyAdmissionTurnsAwayOneOffRows) {
  auto cache =
      MustCreate(CacheOptions(4, 8, 0, RowCache::Admission::kFrequency));
  ASSERT_NE(cache, nullptr);
  std::string row(8, '\0');
  // Rows 1-4 are asked for three times each and fill the cache.
  for (int round = 0; round < 3; ++round) {
    for (uint64_t id = 1; id <= 4; ++id) {
      if (!cache->Lookup(id, row.data())) {
        cache->Insert(id, PatternRow(id, 8).data());
      }
    }
  }
  // A row asked for once does not displace them...
  EXPECT_FALSE(cache->Lookup(100, row.data()));
  cache->Insert(100, PatternRow(100, 8).data());
  EXPECT_FALSE(cache->Contains(100));
  EXPECT_EQ(cache->Stats().rejections, 1u);
  // ...but once it is asked for more often than the victim, it gets in.
  for (int i = 0; i < 4; ++i) EXPECT_FALSE(cache->Lookup(100, row.data()));
  cache->Insert(100, PatternRow(100, 8).data());
  EXPECT_TRUE(cache->Contains(100));
  ASSERT_TRUE(cache->Lookup(100, row.data()));
  EXPECT_EQ(row, PatternRow(100, 8));
}

// Runs `zipf_batches` batches of Zipf(1.0) ids over `rows` rows through a
// cache of `cache_rows`, each followed by a batch of never-repeated cold ids
// when `scan` is set, and returns the hit rate of the Zipf lookups alone
// (cold ids can only miss).
double ZipfHitRate(RowCache::Admission admission, bool scan,
                   double* ideal_hit_rate) {
  constexpr uint64_t kRows = 100000;
  constexpr uint64_t kCacheRows = 5000;
  constexpr size_t kBatch = 256;
  constexpr int kWarmupBatches = 400;
  constexpr int kMeasuredBatches = 1200;
  // Cold ids come from rows the Zipf draws never reach.
  auto backing = std::make_shared<PatternStore>(2 * kRows, 16);
  auto store = *CachedRowStore::Create(
      backing, MustCreate(CacheOptions(kCacheRows, 16, -1, admission)));
  ZipfIds zipf(kRows, 1.0, 1234);
  *ideal_hit_rate = zipf.HeadMass(store->cache().max_entries());

  uint64_t next_cold = kRows;
  uint64_t hits = 0;
  uint64_t lookups = 0;
  std::vector<uint64_t> ids(kBatch);
  std::string out(kBatch * 16, '\0');
  for (int batch = 0; batch < kWarmupBatches + kMeasuredBatches; ++batch) {
    for (uint64_t& id : ids) id = zipf.Next();
    const std::string packed = Pack(ids);
    const uint64_t hits_before = store->cache().Stats().hits;
    EXPECT_TRUE(store->Gather(PackedRowIds(packed), out.data()).ok());
    if (batch >= kWarmupBatches) {
      hits += store->cache().Stats().hits - hits_before;
      lookups += kBatch;
    }
    if (scan) {
      for (uint64_t& id : ids) id = next_cold++;
      const std::string cold = Pack(ids);
      EXPECT_TRUE(store->Gather(PackedRowIds(cold), out.data()).ok());
    }
  }
  return static_cast<double>(hits) / lookups;
}

// The cache holds 5% of the rows. An oracle keeping the 5000 most popular
// rows would hit H(5000)/H(100000) ~= 0.75 of Zipf(1.0) lookups, the best
// any policy can do on average. TinyLFU approximates that static choice
// from noisy counts, within the sets the rows hash to: it must come within
// 5 points of it without a scan and within 8 with a scan of as many cold ids
// as Zipf ids interleaved, and beat plain CLOCK (recency only, which the
// scan flushes) by 8 points there. (Measured: 0.734, 0.705 and 0.562 for
// CLOCK; the fully associative design this replaced, with a 72-byte charge:
// 0.735, 0.708 and 0.570. The run is deterministic.)
TEST(RowCacheTest, FrequencyAdmissionKeepsTheZipfHeadThroughAScan) {
  double ideal = 0;
  const double tinylfu = ZipfHitRate(RowCache::Admission::kFrequency,
                                     /*scan=*/false, &ideal);
  const double tinylfu_scan = ZipfHitRate(RowCache::Admission::kFrequency,
                                          /*scan=*/true, &ideal);
  const double clock_scan =
      ZipfHitRate(RowCache::Admission::kAlways, /*scan=*/true, &ideal);
  RecordProperty("ideal", std::to_string(ideal));
  RecordProperty("tinylfu", std::to_string(tinylfu));
  RecordProperty("tinylfu_scan", std::to_string(tinylfu_scan));
  RecordProperty("clock_scan", std::to_string(clock_scan));
  std::cout << "Zipf(1.0) hit rate: ideal " << ideal << ", TinyLFU " << tinylfu
            << ", TinyLFU with scan " << tinylfu_scan << ", CLOCK with scan "
            << clock_scan << "\n";
  EXPECT_GT(ideal, 0.7);
  EXPECT_GT(tinylfu, ideal - 0.05);
  EXPECT_GT(tinylfu_scan, ideal - 0.08);
  EXPECT_GT(tinylfu_scan, clock_scan + 0.08);
}

TEST(RowCacheTest, CachedRowStoreMatchesTheRamStore) {
  constexpr uint64_t kRows = 50000;
  constexpr uint32_t kRowBytes = 128;
  auto builder = RamRowStore::Builder::Create(kRows, kRowBytes);
  ASSERT_TRUE(builder.ok());
  for (uint64_t i = 0; i < kRows; ++i) {
    const std::string row = PatternRow(i, kRowBytes);
    std::memcpy((*builder)->mutable_data() + i * kRowBytes, row.data(),
                kRowBytes);
  }
  std::shared_ptr<const RowStore> ram = std::move(**builder).Build();
  auto cached = CachedRowStore::Create(
      ram, MustCreate(CacheOptions(4000, kRowBytes, -1, {})));
  ASSERT_TRUE(cached.ok());
  ZipfIds zipf(kRows, 0.9, 5);
  std::mt19937_64 rng(6);
  for (int batch = 0; batch < 200; ++batch) {
    std::vector<uint64_t> ids(1 + rng() % 1000);
    for (uint64_t& id : ids)
      id = (rng() % 4 == 0) ? rng() % kRows : zipf.Next();
    const std::string packed = Pack(ids);
    std::string want(ids.size() * kRowBytes, '\0');
    std::string got(ids.size() * kRowBytes, '\1');
    ASSERT_TRUE(ram->Gather(PackedRowIds(packed), want.data()).ok());
    ASSERT_TRUE((*cached)->Gather(PackedRowIds(packed), got.data()).ok());
    ASSERT_EQ(got, want) << "batch " << batch;
  }
  EXPECT_GT((*cached)->cache().Stats().hits, 0u);
}

TEST(RowCacheTest, ConcurrentReadersSeeTheRightRows) {
  constexpr uint64_t kRows = 100000;
  constexpr uint32_t kRowBytes = 64;
  constexpr int kThreads = 8;
  constexpr int kBatches = 100;
  constexpr size_t kBatch = 512;
  auto backing = std::make_shared<PatternStore>(kRows, kRowBytes);
  auto store = *CachedRowStore::Create(
      backing, MustCreate(CacheOptions(8192, kRowBytes, 3,
                                       RowCache::Admission::kFrequency)));
  std::atomic<int> bad_rows{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      ZipfIds zipf(kRows, 1.0, 100 + t);
      std::vector<uint64_t> ids(kBatch);
      std::string out(kBatch * kRowBytes, '\0');
      for (int batch = 0; batch < kBatches; ++batch) {
        for (uint64_t& id : ids) id = zipf.Next();
        const std::string packed = Pack(ids);
        if (!store->Gather(PackedRowIds(packed), out.data()).ok()) {
          bad_rows.fetch_add(1);
          continue;
        }
        for (size_t i = 0; i < kBatch; ++i) {
          if (out.compare(i * kRowBytes, kRowBytes,
                          PatternRow(ids[i], kRowBytes)) != 0) {
            bad_rows.fetch_add(1);
          }
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(bad_rows.load(), 0);
  const RowCacheStats stats = store->cache().Stats();
  EXPECT_EQ(stats.hits + stats.misses, uint64_t{kThreads} * kBatches * kBatch);
  EXPECT_EQ(stats.insertions - stats.evictions, stats.entries);
  EXPECT_LE(stats.bytes_used, stats.capacity_bytes);
  EXPECT_GT(stats.hit_rate(), 0.3);
}

TEST(CachedRowStoreStatsTest, AddsTheCacheToTheBackingFigures) {
  auto backing = std::make_shared<PatternStore>(1000, 16);
  std::shared_ptr<RowCache> cache =
      *RowCache::Create({.capacity_bytes = 1 << 16, .row_bytes = 16});
  auto store = *CachedRowStore::Create(backing, cache);
  const std::string packed = Pack({1, 2, 1});
  std::string out(3 * 16, '\0');
  ASSERT_TRUE(store->Gather(PackedRowIds(packed), out.data()).ok());
  ASSERT_TRUE(store->Gather(PackedRowIds(packed), out.data()).ok());
  const RowStoreStats stats = store->Stats();
  // The backing store's 16000 bytes plus rows 1 and 2 in the cache.
  EXPECT_EQ(stats.bytes_in_ram, 16000 + 2 * 16);
  EXPECT_EQ(stats.rows_in_ram, 2);
  EXPECT_EQ(stats.cache_hits + stats.cache_misses, 6);
  EXPECT_EQ(stats.cache_hits, cache->Stats().hits);
  EXPECT_EQ(stats.cache_capacity_bytes, 1 << 16);
  EXPECT_GT(stats.cache_bytes_used, 0);
}

}  // namespace
}  // namespace engram::server

// RowCache's invalidation (Erase, Clear). Lookups, admission, budgets and
// concurrency are tested with the server's CachedRowStore
// (server/storage/cached_row_store_test.cc).
#include "common/row_cache.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace engram {
namespace {

constexpr uint32_t kRowBytes = 8;

std::string Row(uint64_t id) { return std::string(kRowBytes, 'a' + id % 26); }

std::unique_ptr<RowCache> FullCache(uint64_t rows) {
  auto cache = RowCache::Create(
      {.capacity_bytes = rows * (kRowBytes + RowCache::kEntryOverheadBytes),
       .row_bytes = kRowBytes,
       .shard_bits = 0,
       .admission = RowCache::Admission::kAlways});
  EXPECT_TRUE(cache.ok()) << cache.status();
  for (uint64_t id = 0; id < rows; ++id) (*cache)->Insert(id, Row(id).data());
  return *std::move(cache);
}

TEST(RowCacheEraseTest, DropsExactlyTheRowAndKeepsTheSetsOthers) {
  // One set of 8 ways, full.
  std::unique_ptr<RowCache> cache = FullCache(RowCache::kWaysPerSet);
  ASSERT_EQ(cache->Stats().entries, RowCache::kWaysPerSet);
  EXPECT_TRUE(cache->Erase(2));
  EXPECT_FALSE(cache->Erase(2));
  EXPECT_FALSE(cache->Contains(2));
  std::string out(kRowBytes, '?');
  for (uint64_t id = 0; id < RowCache::kWaysPerSet; ++id) {
    if (id == 2) continue;
    ASSERT_TRUE(cache->Lookup(id, out.data())) << id;
    EXPECT_EQ(out, Row(id)) << id;
  }
  EXPECT_EQ(cache->Stats().entries, RowCache::kWaysPerSet - 1);
  // The freed way takes a new row, whose bytes are its own.
  cache->Insert(100, Row(100).data());
  ASSERT_TRUE(cache->Lookup(100, out.data()));
  EXPECT_EQ(out, Row(100));
  EXPECT_EQ(cache->Stats().entries, RowCache::kWaysPerSet);
}

TEST(RowCacheEraseTest, ClearDropsEverything) {
  std::unique_ptr<RowCache> cache = FullCache(64);
  cache->Clear();
  EXPECT_EQ(cache->Stats().entries, 0u);
  std::string out(kRowBytes, '?');
  EXPECT_FALSE(cache->Lookup(5, out.data()));
  cache->Insert(5, Row(5).data());
  EXPECT_TRUE(cache->Lookup(5, out.data()));
}

}  // namespace
}  // namespace engram

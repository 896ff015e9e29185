// RowCache: the hot rows of a table served from a slower tier (RocksDB), in
// RAM under a byte budget. CachedRowStore puts one in front of a RowStore.
//
//   ENGRAM_ASSIGN_OR_RETURN(std::unique_ptr<RowCache> cache, RowCache::Create(
//       {.capacity_bytes = 8ull << 30, .row_bytes = 128}));
//   ENGRAM_ASSIGN_OR_RETURN(std::unique_ptr<CachedRowStore> store,
//       CachedRowStore::Create(rocksdb_store, std::move(cache)));
//   ENGRAM_RETURN_IF_ERROR(store->Gather(ids, out));  // hits from RAM
//   RowCacheStats stats = store->cache().Stats();
//
// Design
//   * Rows have one size per cache, so each shard preallocates its slots as
//     one array (row i at slot * row_bytes): no allocation or free on the
//     read or insert path, and an eviction overwrites a slot in place.
//   * 2^shard_bits shards, each with its own absl::Mutex, picked by a hash of
//     the row id. A batch is grouped by shard and each shard it touches is
//     locked once (for at most kRowsPerLockHold rows at a time), so there is
//     no global lock and a critical section is a few hash probes and row
//     copies.
//   * Replacement is CLOCK (second chance) per shard: a hit sets the slot's
//     reference bit; the hand clears set bits as it passes and stops at the
//     first clear one. A hit costs a bit store, not a list splice as in LRU.
//   * Admission (Admission::kFrequency, the default) is TinyLFU-lite: each
//     shard counts accesses (hits and misses) in a 4-row count-min sketch of
//     saturating 4-bit counters, halved every 40 x capacity accesses so that
//     old popularity fades. When the shard is full, a missed row replaces the
//     CLOCK victim only if it has been seen more often than the victim. A
//     one-pass scan of cold ids (count 1) therefore cannot push out the Zipf
//     head, which plain CLOCK or LRU would let it do in proportion to the
//     scan's length; and a row must be asked for twice before it displaces
//     anything, which keeps one-off ids from churning the cache. The cost is
//     a slower start for a newly hot row (it waits for a second miss), which
//     is the right trade for the stable Zipf popularity of n-gram tables.
//     (Measured in row_cache_test: a 5% cache over Zipf(1.0) hits 0.74 of
//     lookups, 0.71 with a scan of as many cold ids interleaved, against
//     0.75 for an oracle holding the top 5% and 0.57 for plain CLOCK with
//     the scan.) Admission::kAlways gives plain CLOCK.
//   * Memory: the budget covers each entry's row plus kEntryOverheadBytes
//     (hash index at its worst load, <= 44 B; the slot's key and reference
//     bit, 9 B; the sketch, <= 16 B), so capacity = capacity_bytes /
//     (row_bytes + 72) rows and Stats().bytes_used never exceeds
//     capacity_bytes.
//   * Counters (hits, misses, insertions, evictions, rejections) are relaxed
//     atomics added once per batch, so they cost nothing per row.
#ifndef ENGRAM_SERVER_STORAGE_ROW_CACHE_H_
#define ENGRAM_SERVER_STORAGE_ROW_CACHE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/storage/row_store.h"

namespace engram::server {

namespace internal {
class RowCacheShard;  // Defined in row_cache.cc.
}  // namespace internal

struct RowCacheStats {
  uint64_t hits = 0;
  uint64_t misses = 0;
  // Rows admitted, of which `evictions` replaced another row.
  uint64_t insertions = 0;
  uint64_t evictions = 0;
  // Rows offered but refused by frequency admission.
  uint64_t rejections = 0;
  uint64_t entries = 0;
  uint64_t max_entries = 0;
  // entries * (row_bytes + kEntryOverheadBytes); never above capacity_bytes.
  uint64_t bytes_used = 0;
  uint64_t capacity_bytes = 0;
  // What the index, slot keys, CLOCK bits and sketches actually hold
  // (allocated at Create); <= max_entries * kEntryOverheadBytes.
  uint64_t overhead_bytes = 0;

  // hits / (hits + misses), 0 before any lookup.
  double hit_rate() const {
    const uint64_t lookups = hits + misses;
    return lookups == 0 ? 0.0 : static_cast<double>(hits) / lookups;
  }
};

class RowCache {
 public:
  enum class Admission {
    kAlways,     // Plain CLOCK: every missed row is inserted.
    kFrequency,  // CLOCK + TinyLFU-lite admission (see the banner).
  };

  struct Options {
    // Memory budget, rows and their overhead. Must fit at least one row per
    // shard.
    uint64_t capacity_bytes = 0;
    // Size of every row. Must be > 0.
    uint32_t row_bytes = 0;
    // log2 of the shard count, 0-12; -1 picks the largest count up to 64
    // that leaves each shard at least 1024 rows (fewer, fuller shards keep
    // the policy close to a global one; 64 is plenty for server threads).
    int shard_bits = -1;
    Admission admission = Admission::kFrequency;
  };

  // Per-entry memory charged on top of the row (see the banner).
  static constexpr uint64_t kEntryOverheadBytes = 72;
  // Most rows one lock hold serves, bounding how long others wait.
  static constexpr size_t kRowsPerLockHold = 64;

  // InvalidArgument for row_bytes == 0, a bad shard_bits, or a budget that
  // holds no row per shard. Reserves the slot memory (touched lazily).
  static absl::StatusOr<std::unique_ptr<RowCache>> Create(
      const Options& options);
  ~RowCache();
  RowCache(const RowCache&) = delete;
  RowCache& operator=(const RowCache&) = delete;

  uint32_t row_bytes() const { return row_bytes_; }
  uint64_t capacity_bytes() const { return capacity_bytes_; }
  uint64_t max_entries() const { return max_entries_; }
  int shard_bits() const { return shard_bits_; }

  // Copies each cached row of `ids` to out + i * row_bytes() and appends the
  // positions i of the rest to `miss_positions` (in no particular order).
  // Counts a hit or a miss per id; a repeated id counts each time.
  // Thread-safe.
  void Lookup(const PackedRowIds& ids, char* out,
              std::vector<size_t>* miss_positions);
  // One id: true and the row copied to `out` on a hit.
  bool Lookup(uint64_t id, char* out);

  // Offers rows for admission: row ids[i] at rows + i * row_bytes(). Rows
  // already cached are left as they are (rows are immutable). Thread-safe.
  void Insert(const PackedRowIds& ids, const char* rows);
  void Insert(uint64_t id, const char* row);

  // Whether `id` is cached, without counting or touching its state.
  bool Contains(uint64_t id) const;

  // A snapshot of the counters; each is exact, though not taken at one
  // instant while other threads run. Thread-safe.
  RowCacheStats Stats() const;

 private:
  RowCache(const Options& options, int shard_bits, uint64_t entries_per_shard);

  internal::RowCacheShard& ShardFor(uint64_t hash) const;
  // Groups ids by shard and calls fn(shard, hashes, positions) for each
  // group of at most kRowsPerLockHold positions (indexes into ids); the
  // shard locks itself once per call.
  template <typename Fn>
  void ForEachShardGroup(const PackedRowIds& ids, Fn fn);

  const uint32_t row_bytes_;
  const uint64_t capacity_bytes_;
  const int shard_bits_;
  const uint64_t max_entries_;
  const Admission admission_;
  std::unique_ptr<internal::RowCacheShard[]> shards_;

  std::atomic<uint64_t> hits_{0};
  std::atomic<uint64_t> misses_{0};
  std::atomic<uint64_t> insertions_{0};
  std::atomic<uint64_t> evictions_{0};
  std::atomic<uint64_t> rejections_{0};
};

// A RowStore that answers from a RowCache and fetches misses from a backing
// store in one batched Gather per call, then offers them to the cache.
class CachedRowStore final : public RowStore {
 public:
  // InvalidArgument when either is null or their row sizes differ.
  static absl::StatusOr<std::unique_ptr<CachedRowStore>> Create(
      std::shared_ptr<const RowStore> backing, std::shared_ptr<RowCache> cache);

  uint64_t rows() const override { return backing_->rows(); }
  uint32_t row_bytes() const override { return backing_->row_bytes(); }

  // Same contract as the backing store's Gather, whose errors it returns
  // (nothing is cached from a failed fetch). Thread-safe.
  absl::Status Gather(const PackedRowIds& ids, char* out) const override;

  // The backing store's figures plus the cache's.
  RowStoreStats Stats() const override;

  RowCache& cache() const { return *cache_; }
  const RowStore& backing() const { return *backing_; }

 private:
  CachedRowStore(std::shared_ptr<const RowStore> backing,
                 std::shared_ptr<RowCache> cache)
      : backing_(std::move(backing)), cache_(std::move(cache)) {}

  const std::shared_ptr<const RowStore> backing_;
  // The cache changes under const Gather calls; it synchronises itself.
  const std::shared_ptr<RowCache> cache_;
};

}  // namespace engram::server

#endif  // ENGRAM_SERVER_STORAGE_ROW_CACHE_H_

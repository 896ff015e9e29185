// RowCache: the hot rows of a table served from a slower tier, in RAM under
// a byte budget: the server's in front of RocksDB (server/storage/
// cached_row_store.h), the worker's in front of the server
// (client/caching_client.h).
//
//   ENGRAM_ASSIGN_OR_RETURN(std::unique_ptr<RowCache> cache, RowCache::Create(
//       {.capacity_bytes = 8ull << 30, .row_bytes = 128}));
//   std::vector<size_t> misses;
//   cache->Lookup(ids, out, &misses);      // the hits land in `out`
//   ... fetch the rows of `misses` ...
//   cache->Insert(miss_ids, miss_rows);    // offered for admission
//   cache->Erase(changed_id);              // a row that changed
//   RowCacheStats stats = cache->Stats();
//
// Design
//   * Rows have one size per cache, so each shard preallocates them as one
//     array: no allocation or free on the read or insert path, and an
//     eviction overwrites a row in place.
//   * 2^shard_bits shards, each with its own absl::Mutex, picked by a hash of
//     the row id. A batch is grouped by shard and each shard it touches is
//     locked once (for at most kRowsPerLockHold rows at a time), so there is
//     no global lock and a critical section is a few key compares and row
//     copies.
//   * Set-associative: a shard is an array of sets of kWaysPerSet (8) ways;
//     a row id hashes to one set, whose 8 ids fill one 64-byte line, and the
//     row of way w of set s is row s * 8 + w of the shard's array. A lookup
//     compares the set's ids with its own: there is no separate index, and
//     one line (prefetched ahead, as are the sketch block and the row) is
//     all it reads besides the row. An empty way holds kUncacheableId
//     (UINT64_MAX), which the cache therefore never stores: that id always
//     misses and Insert ignores it (table row ids are < rows()).
//   * Replacement is CLOCK (second chance) within the set: a hit sets the
//     way's bit in the set's reference byte; the set's hand clears set bits
//     as it passes and stops at the first clear one. A hit costs a bit
//     store, not a list splice as in LRU. The price of associativity is
//     that a set can keep only 8 of the rows that hash to it: a working set
//     of exactly max_entries rows fits only ~86% (balls in bins; half as
//     many, 99%). Every way is usable, though: once more distinct ids than
//     ways have come to each set, all max_entries ways hold rows, and for
//     Zipf traffic the rows displaced are those near the cache's edge,
//     which matter little (measured below).
//   * Admission (Admission::kFrequency, the default) is TinyLFU-lite: each
//     shard counts accesses (hits and misses) in a 4-row count-min sketch of
//     saturating 4-bit counters, halved every 40 x capacity accesses so that
//     old popularity fades. When the row's set is full, a missed row
//     replaces the set's CLOCK victim only if it has been seen more often
//     than the victim. A one-pass scan of cold ids (count 1) therefore
//     cannot push out the Zipf head, which plain CLOCK or LRU would let it
//     do in proportion to the scan's length; and a row must be asked for
//     twice before it displaces anything, which keeps one-off ids from
//     churning the cache. The cost is a slower start for a newly hot row
//     (it waits for a second miss), which is the right trade for the stable
//     Zipf popularity of n-gram tables. Admission::kAlways gives plain CLOCK.
//   * Memory: the budget covers each entry's row plus kEntryOverheadBytes =
//     20: its id (8 B), 1/8 of its set's CLOCK byte and hand (0.25 B), and
//     the sketch, which gets the rest (11.75 B, 23.5 counters). So capacity
//     = capacity_bytes / (row_bytes + 20) rows (86% of the budget's bytes
//     hold rows for 128-byte rows, against 64% with the 72 B charged by the
//     hash-indexed design this replaced, which used ~48 B of it: index,
//     slot key and bit, and a sketch rounded up to a power of two).
//     Stats().bytes_used never exceeds capacity_bytes, and
//     Stats().overhead_bytes <= max_entries * 20 for shards of 8 rows or
//     more (smaller shards still hold a whole set and a sketch block).
//     Key and CLOCK arrays are written at Create; rows are touched lazily.
//   * Counters (hits, misses, insertions, evictions, rejections) are relaxed
//     atomics added once per batch, so they cost nothing per row.
//
// Measured (row_cache_test and a 2M-row run of the same generators):
//   * Same row count: a 5000-row cache over Zipf(1.0) on 100k rows hits
//     0.734 of lookups and 0.705 with a scan of as many cold ids
//     interleaved (the 72-byte fully associative design: 0.735 and 0.708;
//     an oracle holding the top 5000: 0.752; plain CLOCK with the scan:
//     0.562).
//   * Same bytes, the product's case: 128-byte rows, Zipf(1.0) on 2M rows,
//     a cache of a quarter of the table's bytes (64 MiB), after 33M
//     lookups: 453k rows (was 335k), hit rate 0.888 (was 0.870; oracles for
//     those row counts 0.899 and 0.879); with the 1:1 cold scan, 0.857
//     (was 0.835). Charging 16 B (a 7.75 B sketch) gives 0.889 without the
//     scan but 0.844 with it; 24 B (15.75 B), 0.887 and 0.860: 20 B gives
//     up little either way. 16 ways per set would add 0.002 (without the
//     scan) for a second line of keys per lookup.
//   * row_cache_benchmark, same case over RocksDB, one pass over the
//     stream after a 1M-lookup warm-up: hit rate 0.883 (was 0.877).
//   * Hits are no slower: a loop of RowCache::Lookup over 256k cached rows
//     (best of 30 passes, shared 2-core VM) took 31-35 ns per row (was
//     37-50) without admission and 48-56 ns (was 58-91) with TinyLFU.
#ifndef ENGRAM_COMMON_ROW_CACHE_H_
#define ENGRAM_COMMON_ROW_CACHE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/packed_row_ids.h"

namespace engram {

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
  // What the set keys, CLOCK bytes and sketches actually hold (allocated at
  // Create); <= max_entries * kEntryOverheadBytes once shards hold >= 8 rows.
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
  static constexpr uint64_t kEntryOverheadBytes = 20;
  // Ways per set: a cache of at most this many rows per shard is one set.
  static constexpr int kWaysPerSet = 8;
  // The one id the cache never holds (it marks empty ways): it always
  // misses and Insert ignores it. Table row ids are far below it.
  static constexpr uint64_t kUncacheableId = UINT64_MAX;
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
  // Counts a hit or a miss per id; a repeated id counts each time;
  // kUncacheableId always misses. Thread-safe.
  void Lookup(const PackedRowIds& ids, char* out,
              std::vector<size_t>* miss_positions);
  // One id: true and the row copied to `out` on a hit.
  bool Lookup(uint64_t id, char* out);

  // Offers rows for admission: row ids[i] at rows + i * row_bytes(). Rows
  // already cached are left as they are (rows are immutable), so an id may
  // be offered twice, in one batch or in two; the first copy is kept.
  // kUncacheableId is ignored. Thread-safe.
  void Insert(const PackedRowIds& ids, const char* rows);
  void Insert(uint64_t id, const char* row);

  // Whether `id` is cached, without counting or touching its state.
  bool Contains(uint64_t id) const;

  // Drops `id` (a row whose bytes changed); returns whether it was cached.
  // Thread-safe.
  bool Erase(uint64_t id);
  // Drops every row. Thread-safe.
  void Clear();

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

}  // namespace engram

#endif  // ENGRAM_COMMON_ROW_CACHE_H_

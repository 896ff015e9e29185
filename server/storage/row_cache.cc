#include "server/storage/row_cache.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "common/status_macros.h"

namespace engram::server {
namespace {

// SplitMix64's finaliser: spreads dense row ids over all 64 bits. The top
// bits pick the shard, the low bits index the frequency sketch.
inline uint64_t MixRowId(uint64_t id) {
  id ^= id >> 30;
  id *= 0xbf58476d1ce4e5b9ull;
  id ^= id >> 27;
  id *= 0x94d049bb133111ebull;
  id ^= id >> 31;
  return id;
}

// Largest shard count the automatic choice uses, and the fewest rows it
// leaves per shard.
constexpr int kMaxAutoShardBits = 6;
constexpr uint64_t kMinAutoRowsPerShard = 1024;
constexpr int kMaxShardBits = 12;

}  // namespace

namespace internal {

// A count-min sketch of access counts: kDepth counters per id, saturating
// 4-bit, incremented conservatively (only those holding the minimum), all
// halved every sample_size_ increments so that counts track recent
// popularity. Blocked, as in Caffeine: an id's kDepth counters lie in one
// 64-byte block (one in each quarter), so recording an access costs one
// cache miss instead of kDepth. Not thread-safe; the owning shard's lock
// guards it.
//
// Sizing, measured with Zipf(1.0) lookups interleaved 1:1 with a scan of
// cold ids (row_cache_test): the scan's one-off ids add noise to every
// counter they touch, and a short window leaves the rows at the edge of the
// cache with counts of 0 or 1, no better than a one-off id. 4 x kDepth
// counters per cached row and a window of 40 accesses per row recover most
// of the hit rate a scan-free run gets (0.71 vs 0.74, against 0.63 for
// 1 x kDepth and 10, Caffeine's choice for its own, scan-free workloads);
// 4-bit counters lose nothing, since only counts near the cache's edge
// decide admissions.
class FrequencySketch {
 public:
  static constexpr int kDepth = 4;
  static constexpr int kMaxCount = 15;
  static constexpr uint64_t kCountersPerEntry = 4 * kDepth;
  static constexpr uint64_t kSamplePerEntry = 40;

  // Sized for a shard of `entries` rows: the power of two >= 16 * entries
  // counters (>= 2 blocks), i.e. 8 to 16 bytes per entry.
  void Init(uint64_t entries) {
    const uint64_t counters = std::bit_ceil(
        std::max<uint64_t>(kCountersPerEntry * entries, 2 * kBlockCounters));
    block_bits_ = std::bit_width(counters / kBlockCounters) - 1;
    blocks_.assign(counters / kBlockCounters, Block{});
    sample_size_ = kSamplePerEntry * std::max<uint64_t>(entries, 16);
    additions_ = 0;
  }

  int Estimate(uint64_t hash) const {
    const Block& block = blocks_[BlockIndex(hash)];
    int estimate = kMaxCount;
    for (int row = 0; row < kDepth; ++row) {
      estimate = std::min(estimate, Get(block, Offset(hash, row)));
    }
    return estimate;
  }

  void Record(uint64_t hash) {
    Block& block = blocks_[BlockIndex(hash)];
    int offsets[kDepth];
    int current = kMaxCount;
    for (int row = 0; row < kDepth; ++row) {
      offsets[row] = Offset(hash, row);
      current = std::min(current, Get(block, offsets[row]));
    }
    if (current == kMaxCount) return;
    for (int row = 0; row < kDepth; ++row) {
      if (Get(block, offsets[row]) == current) {
        block.nibbles[offsets[row] / 2] += uint8_t{1}
                                           << (4 * (offsets[row] % 2));
      }
    }
    if (++additions_ >= sample_size_) Age();
  }

  void Prefetch(uint64_t hash) const {
    __builtin_prefetch(&blocks_[BlockIndex(hash)]);
  }

  uint64_t memory_bytes() const { return blocks_.size() * sizeof(Block); }

 private:
  static constexpr int kBlockCounters = 128;  // 64 bytes of nibbles.
  struct alignas(64) Block {
    uint8_t nibbles[kBlockCounters / 2] = {};
  };

  // Multiply-shift: the top bits of the product depend on every bit of the
  // (already mixed) hash, even though the shard choice fixed its top bits.
  size_t BlockIndex(uint64_t hash) const {
    return (hash * 0x9e3779b97f4a7c15ull) >> (64 - block_bits_);
  }
  // Counter `row` of the block's quarter `row`: 5 bits each from a second
  // product.
  static int Offset(uint64_t hash, int row) {
    const uint64_t bits = hash * 0xc2b2ae3d27d4eb4full;
    return row * (kBlockCounters / kDepth) +
           static_cast<int>((bits >> (59 - 5 * row)) & 31);
  }
  static int Get(const Block& block, int offset) {
    return (block.nibbles[offset / 2] >> (4 * (offset % 2))) & 0xf;
  }

  void Age() {
    // Halves both counters of each byte at once.
    for (Block& block : blocks_) {
      for (uint8_t& pair : block.nibbles) pair = (pair >> 1) & 0x77;
    }
    additions_ /= 2;
  }

  int block_bits_ = 0;
  std::vector<Block> blocks_;
  uint64_t sample_size_ = 0;
  uint64_t additions_ = 0;
};

// One shard: `capacity_` slots, a hash index id -> slot, CLOCK state and the
// admission sketch.
//
// Invariants (under mu_): slots [0, used_) hold rows; index_ maps exactly
// their ids to them; hand_ < capacity_ once used_ == capacity_.
class alignas(64) RowCacheShard {
 public:
  struct Counts {
    uint64_t hits = 0;
    uint64_t misses = 0;
    uint64_t insertions = 0;
    uint64_t evictions = 0;
    uint64_t rejections = 0;
  };

  void Init(uint64_t capacity, uint32_t row_bytes, bool admit_by_frequency)
      ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    capacity_ = capacity;
    row_bytes_ = row_bytes;
    admit_by_frequency_ = admit_by_frequency;
    // Enough headroom that erase + insert at full occupancy rehashes in
    // place instead of growing (absl grows above 25/32 occupancy).
    index_.reserve(capacity + capacity / 8 + 1);
    keys_.reset(new uint64_t[capacity]);
    referenced_.reset(new uint8_t[capacity]);
    // Uninitialised on purpose: pages are touched as slots fill.
    data_.reset(new char[capacity * row_bytes]);
    if (admit_by_frequency) sketch_.Init(capacity);
  }

  // Copies out the cached rows among ids[positions], records the misses.
  // REQUIRES: positions.size() <= kRowsPerLockHold.
  void Lookup(const PackedRowIds& ids, const uint64_t* hashes,
              absl::Span<const size_t> positions, char* out,
              std::vector<size_t>* misses, Counts* counts)
      ABSL_LOCKS_EXCLUDED(mu_) {
    // Each step below is a likely cache miss (index bucket, sketch block,
    // row slot), so probes run ahead of the copies with prefetches, keeping
    // several misses in flight instead of paying them in turn.
    constexpr size_t kAhead = 4;
    constexpr uint32_t kAbsent = UINT32_MAX;
    uint32_t slots[RowCache::kRowsPerLockHold];
    const size_t n = positions.size();
    absl::MutexLock lock(&mu_);
    for (size_t j = 0; j < std::min(kAhead, n); ++j) {
      index_.prefetch(ids[positions[j]]);
    }
    for (size_t j = 0; j < n; ++j) {
      if (j + kAhead < n) {
        index_.prefetch(ids[positions[j + kAhead]]);
        if (admit_by_frequency_)
          sketch_.Prefetch(hashes[positions[j + kAhead]]);
      }
      auto it = index_.find(ids[positions[j]]);
      slots[j] = it == index_.end() ? kAbsent : it->second;
      if (slots[j] != kAbsent) {
        const char* row = data_.get() + uint64_t{slots[j]} * row_bytes_;
        for (uint32_t line = 0; line < row_bytes_; line += 64) {
          __builtin_prefetch(row + line);
        }
      }
    }
    for (size_t j = 0; j < n; ++j) {
      const size_t position = positions[j];
      if (admit_by_frequency_) sketch_.Record(hashes[position]);
      if (slots[j] == kAbsent) {
        misses->push_back(position);  // Reserved by the caller.
        ++counts->misses;
        continue;
      }
      referenced_[slots[j]] = 1;
      std::memcpy(out + position * row_bytes_,
                  data_.get() + uint64_t{slots[j]} * row_bytes_, row_bytes_);
      ++counts->hits;
    }
  }

  // Offers rows ids[positions] (row i at rows + i * row_bytes).
  void Insert(const PackedRowIds& ids, const uint64_t* hashes,
              absl::Span<const size_t> positions, const char* rows,
              Counts* counts) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    for (size_t position : positions) {
      InsertLocked(ids[position], hashes[position],
                   rows + position * row_bytes_, counts);
    }
  }

  bool Contains(uint64_t id) const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return index_.contains(id);
  }

  uint64_t entries() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return used_;
  }

  // Memory held besides the rows (flat_hash_map: one control byte and one
  // slot per bucket).
  uint64_t overhead_bytes() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return index_.capacity() * (sizeof(decltype(index_)::value_type) + 1) +
           capacity_ * (sizeof(uint64_t) + sizeof(uint8_t)) +
           sketch_.memory_bytes();
  }

 private:
  void InsertLocked(uint64_t id, uint64_t hash, const char* row, Counts* counts)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (index_.contains(id)) return;  // Another batch got here first.
    uint32_t slot;
    if (used_ < capacity_) {
      slot = static_cast<uint32_t>(used_++);
    } else {
      // CLOCK: give referenced slots a second chance. Ends within one turn,
      // having cleared every bit on the way.
      while (referenced_[hand_]) {
        referenced_[hand_] = 0;
        hand_ = NextSlot(hand_);
      }
      const uint64_t victim = keys_[hand_];
      if (admit_by_frequency_ &&
          sketch_.Estimate(hash) <= sketch_.Estimate(MixRowId(victim))) {
        ++counts->rejections;
        return;
      }
      index_.erase(victim);
      slot = static_cast<uint32_t>(hand_);
      hand_ = NextSlot(hand_);
      ++counts->evictions;
    }
    keys_[slot] = id;
    // A new row must be hit within one turn of the hand to stay.
    referenced_[slot] = 0;
    std::memcpy(data_.get() + uint64_t{slot} * row_bytes_, row, row_bytes_);
    index_.emplace(id, slot);
    ++counts->insertions;
  }

  uint64_t NextSlot(uint64_t slot) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return slot + 1 == capacity_ ? 0 : slot + 1;
  }

  mutable absl::Mutex mu_;
  uint64_t capacity_ ABSL_GUARDED_BY(mu_) = 0;
  uint32_t row_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool admit_by_frequency_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t used_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t hand_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<uint64_t, uint32_t> index_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<uint64_t[]> keys_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<uint8_t[]> referenced_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<char[]> data_ ABSL_GUARDED_BY(mu_);
  FrequencySketch sketch_ ABSL_GUARDED_BY(mu_);
};

}  // namespace internal

using internal::RowCacheShard;

absl::StatusOr<std::unique_ptr<RowCache>> RowCache::Create(
    const Options& options) {
  if (options.row_bytes == 0) {
    return absl::InvalidArgumentError("row cache row_bytes must be > 0");
  }
  if (options.shard_bits < -1 || options.shard_bits > kMaxShardBits) {
    return absl::InvalidArgumentError(
        absl::StrCat("row cache shard_bits ", options.shard_bits,
                     " is outside [-1, ", kMaxShardBits, "]"));
  }
  const uint64_t max_rows =
      options.capacity_bytes / (options.row_bytes + kEntryOverheadBytes);
  int shard_bits = options.shard_bits;
  if (shard_bits < 0) {
    shard_bits = 0;
    while (shard_bits < kMaxAutoShardBits &&
           (max_rows >> (shard_bits + 1)) >= kMinAutoRowsPerShard) {
      ++shard_bits;
    }
  }
  const uint64_t per_shard = max_rows >> shard_bits;
  if (per_shard == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "row cache of ", options.capacity_bytes, " bytes holds no row of ",
        options.row_bytes, " bytes (+", kEntryOverheadBytes,
        " overhead) per shard across ", uint64_t{1} << shard_bits, " shards"));
  }
  if (per_shard > UINT32_MAX) {
    return absl::InvalidArgumentError(
        absl::StrCat("row cache shards of ", per_shard,
                     " rows are too large; use more shards"));
  }
  return std::unique_ptr<RowCache>(
      new RowCache(options, shard_bits, per_shard));
}

RowCache::RowCache(const Options& options, int shard_bits,
                   uint64_t entries_per_shard)
    : row_bytes_(options.row_bytes),
      capacity_bytes_(options.capacity_bytes),
      shard_bits_(shard_bits),
      max_entries_(entries_per_shard << shard_bits),
      admission_(options.admission),
      shards_(new RowCacheShard[size_t{1} << shard_bits]) {
  for (size_t s = 0; s < (size_t{1} << shard_bits_); ++s) {
    shards_[s].Init(entries_per_shard, row_bytes_,
                    admission_ == Admission::kFrequency);
  }
}

RowCache::~RowCache() = default;

RowCacheShard& RowCache::ShardFor(uint64_t hash) const {
  return shards_[shard_bits_ == 0 ? 0 : hash >> (64 - shard_bits_)];
}

template <typename Fn>
void RowCache::ForEachShardGroup(const PackedRowIds& ids, Fn fn) {
  const size_t count = ids.size();
  std::vector<uint64_t> hashes(count);
  for (size_t i = 0; i < count; ++i) hashes[i] = MixRowId(ids[i]);

  // Counting sort of positions by shard.
  const size_t num_shards = size_t{1} << shard_bits_;
  std::vector<size_t> order(count);
  std::vector<size_t> begin(num_shards + 1, 0);
  auto shard_of = [&](size_t i) {
    return shard_bits_ == 0 ? 0 : hashes[i] >> (64 - shard_bits_);
  };
  for (size_t i = 0; i < count; ++i) ++begin[shard_of(i) + 1];
  for (size_t s = 0; s < num_shards; ++s) begin[s + 1] += begin[s];
  {
    std::vector<size_t> fill(begin.begin(), begin.end() - 1);
    for (size_t i = 0; i < count; ++i) order[fill[shard_of(i)]++] = i;
  }
  for (size_t s = 0; s < num_shards; ++s) {
    for (size_t first = begin[s]; first < begin[s + 1];
         first += kRowsPerLockHold) {
      const size_t n = std::min(kRowsPerLockHold, begin[s + 1] - first);
      fn(shards_[s], hashes.data(),
         absl::Span<const size_t>(order.data() + first, n));
    }
  }
}

void RowCache::Lookup(const PackedRowIds& ids, char* out,
                      std::vector<size_t>* miss_positions) {
  // Every push_back under a shard lock then fits without allocating.
  miss_positions->reserve(miss_positions->size() + ids.size());
  RowCacheShard::Counts counts;
  ForEachShardGroup(ids, [&](RowCacheShard& shard, const uint64_t* hashes,
                             absl::Span<const size_t> positions) {
    shard.Lookup(ids, hashes, positions, out, miss_positions, &counts);
  });
  hits_.fetch_add(counts.hits, std::memory_order_relaxed);
  misses_.fetch_add(counts.misses, std::memory_order_relaxed);
}

bool RowCache::Lookup(uint64_t id, char* out) {
  std::vector<size_t> misses;
  Lookup(PackedRowIds(
             absl::string_view(reinterpret_cast<const char*>(&id), sizeof(id))),
         out, &misses);
  return misses.empty();
}

void RowCache::Insert(const PackedRowIds& ids, const char* rows) {
  RowCacheShard::Counts counts;
  ForEachShardGroup(ids, [&](RowCacheShard& shard, const uint64_t* hashes,
                             absl::Span<const size_t> positions) {
    shard.Insert(ids, hashes, positions, rows, &counts);
  });
  insertions_.fetch_add(counts.insertions, std::memory_order_relaxed);
  evictions_.fetch_add(counts.evictions, std::memory_order_relaxed);
  rejections_.fetch_add(counts.rejections, std::memory_order_relaxed);
}

void RowCache::Insert(uint64_t id, const char* row) {
  Insert(PackedRowIds(
             absl::string_view(reinterpret_cast<const char*>(&id), sizeof(id))),
         row);
}

bool RowCache::Contains(uint64_t id) const {
  return ShardFor(MixRowId(id)).Contains(id);
}

RowCacheStats RowCache::Stats() const {
  RowCacheStats stats;
  stats.hits = hits_.load(std::memory_order_relaxed);
  stats.misses = misses_.load(std::memory_order_relaxed);
  stats.insertions = insertions_.load(std::memory_order_relaxed);
  stats.evictions = evictions_.load(std::memory_order_relaxed);
  stats.rejections = rejections_.load(std::memory_order_relaxed);
  for (size_t s = 0; s < (size_t{1} << shard_bits_); ++s) {
    stats.entries += shards_[s].entries();
    stats.overhead_bytes += shards_[s].overhead_bytes();
  }
  stats.max_entries = max_entries_;
  stats.bytes_used = stats.entries * (row_bytes_ + kEntryOverheadBytes);
  stats.capacity_bytes = capacity_bytes_;
  return stats;
}

// ---------------------------------------------------------------------------
// CachedRowStore

absl::StatusOr<std::unique_ptr<CachedRowStore>> CachedRowStore::Create(
    std::shared_ptr<const RowStore> backing, std::shared_ptr<RowCache> cache) {
  if (backing == nullptr || cache == nullptr) {
    return absl::InvalidArgumentError(
        "CachedRowStore needs a backing store and a cache");
  }
  if (backing->row_bytes() != cache->row_bytes()) {
    return absl::InvalidArgumentError(
        absl::StrCat("row cache holds ", cache->row_bytes(),
                     "-byte rows; the store has ", backing->row_bytes()));
  }
  return std::unique_ptr<CachedRowStore>(
      new CachedRowStore(std::move(backing), std::move(cache)));
}

absl::Status CachedRowStore::Gather(const PackedRowIds& ids, char* out) const {
  std::vector<size_t> misses;
  cache_->Lookup(ids, out, &misses);
  if (misses.empty()) return absl::OkStatus();

  const uint32_t row_bytes = backing_->row_bytes();
  std::string miss_ids(misses.size() * kPackedRowIdBytes, '\0');
  for (size_t j = 0; j < misses.size(); ++j) {
    const uint64_t id = ids[misses[j]];
    std::memcpy(miss_ids.data() + j * kPackedRowIdBytes, &id, sizeof(id));
  }
  const PackedRowIds miss_view(miss_ids);
  // Uninitialised on purpose: Gather overwrites all of it.
  std::unique_ptr<char[]> rows(new char[misses.size() * row_bytes]);
  ENGRAM_RETURN_IF_ERROR(backing_->Gather(miss_view, rows.get()));
  for (size_t j = 0; j < misses.size(); ++j) {
    std::memcpy(out + misses[j] * row_bytes, rows.get() + j * row_bytes,
                row_bytes);
  }
  cache_->Insert(miss_view, rows.get());
  return absl::OkStatus();
}

RowStoreStats CachedRowStore::Stats() const {
  RowStoreStats stats = backing_->Stats();
  const RowCacheStats cache = cache_->Stats();
  stats.cache_hits = cache.hits;
  stats.cache_misses = cache.misses;
  stats.cache_bytes_used = cache.bytes_used;
  stats.cache_capacity_bytes = cache.capacity_bytes;
  return stats;
}

}  // namespace engram::server

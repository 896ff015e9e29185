#include "common/row_cache.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "common/status_macros.h"

namespace engram {
namespace {

// SplitMix64's finaliser: spreads dense row ids over all 64 bits. The top
// bits pick the shard; products of the hash with odd constants pick the set
// and the sketch block and counters.
inline uint64_t MixRowId(uint64_t id) {
  id ^= id >> 30;
  id *= 0xbf58476d1ce4e5b9ull;
  id ^= id >> 27;
  id *= 0x94d049bb133111ebull;
  id ^= id >> 31;
  return id;
}

// floor(x * n / 2^64): maps the 64-bit x onto [0, n) without a division, n
// need not be a power of two (Lemire's fastrange).
inline uint64_t ScaleTo(uint64_t x, uint64_t n) {
  return static_cast<uint64_t>((static_cast<unsigned __int128>(x) * n) >> 64);
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
// cache with counts of 0 or 1, no better than a one-off id. A window of 40
// accesses per row, and counters in proportion to the rows, recover most of
// the hit rate a scan-free run gets: 0.705 with 23.5 counters per row
// against 0.734 without the scan, 0.688 with 15.5 and 0.712 with 31.5,
// while the scan-free rate barely moves (0.733-0.735); Caffeine's choice
// for its own, scan-free workloads (4 counters per row and a window of 10)
// gave 0.63 in the old design. 4-bit counters lose nothing, since only
// counts near the cache's edge decide admissions. The shard gives the
// sketch what its per-entry charge leaves after the set arrays: 11.75
// bytes (23.5 counters) per row.
class FrequencySketch {
 public:
  static constexpr int kDepth = 4;
  static constexpr int kMaxCount = 15;
  static constexpr uint64_t kSamplePerEntry = 40;
  static constexpr uint64_t kBlockBytes = 64;

  // `bytes` rounded down to whole blocks (at least one) for a shard of
  // `entries` rows. Any block count works: ids are spread over the blocks by
  // multiplication, not masking.
  void Init(uint64_t bytes, uint64_t entries) {
    blocks_.assign(std::max<uint64_t>(1, bytes / kBlockBytes), Block{});
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
  static constexpr int kBlockCounters = 2 * kBlockBytes;  // 4-bit counters.
  struct alignas(64) Block {
    uint8_t nibbles[kBlockBytes] = {};
  };
  static_assert(sizeof(Block) == kBlockBytes);

  // The top bits of the product depend on every bit of the (already mixed)
  // hash, even though the shard choice fixed its top bits.
  size_t BlockIndex(uint64_t hash) const {
    return ScaleTo(hash * 0x9e3779b97f4a7c15ull, blocks_.size());
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

  std::vector<Block> blocks_;
  uint64_t sample_size_ = 0;
  uint64_t additions_ = 0;
};

// One shard: its rows in `num_sets_` sets of kWays ways (the last
// set may have fewer usable ways), CLOCK state per set and the admission
// sketch. There is no index: a row id hashes to one set, and the set's keys
// (one 64-byte line) are compared with it.
//
// Invariants (under mu_): the row of way w of set s lies at
// data_ + (s * kWays + w) * row_bytes_ and its id in keys_[s].ids[w];
// empty ways hold kEmptyKey and, since ways fill in order and are never
// emptied, form a suffix of each set; no id appears twice; used_ counts the
// non-empty ways; a set's hand < its usable ways.
class alignas(64) RowCacheShard {
 public:
  static constexpr int kWays = RowCache::kWaysPerSet;
  // Marks an empty way; no row id may equal it (the cache never stores it).
  static constexpr uint64_t kEmptyKey = RowCache::kUncacheableId;

  struct Counts {
    uint64_t hits = 0;
    uint64_t misses = 0;
    uint64_t insertions = 0;
    uint64_t evictions = 0;
    uint64_t rejections = 0;
  };

  // Sizes the shard for `capacity` rows, its keys, CLOCK state and sketch
  // within `overhead_budget` bytes where that allows (the sketch takes what
  // the set arrays leave, but at least one block). Called once, before the
  // cache is shared.
  void Init(uint64_t capacity, uint32_t row_bytes, bool admit_by_frequency,
            uint64_t overhead_budget) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    row_bytes_ = row_bytes;
    admit_by_frequency_ = admit_by_frequency;
    num_sets_ = (capacity + kWays - 1) / kWays;
    last_set_ways_ = static_cast<int>(capacity - (num_sets_ - 1) * kWays);
    keys_.reset(new SetKeys[num_sets_]);
    for (uint64_t s = 0; s < num_sets_; ++s) {
      std::fill(std::begin(keys_[s].ids), std::end(keys_[s].ids), kEmptyKey);
    }
    states_.reset(new SetState[num_sets_]());
    // Uninitialised on purpose: pages are touched as ways fill.
    data_.reset(new char[capacity * row_bytes]);
    const uint64_t set_bytes = num_sets_ * (sizeof(SetKeys) + sizeof(SetState));
    if (admit_by_frequency) {
      sketch_.Init(
          overhead_budget > set_bytes ? overhead_budget - set_bytes : 0,
          capacity);
    }
    overhead_bytes_ =
        set_bytes + (admit_by_frequency ? sketch_.memory_bytes() : 0);
  }

  // Copies out the cached rows among ids[positions], records the misses.
  // REQUIRES: positions.size() <= kRowsPerLockHold.
  void Lookup(const PackedRowIds& ids, const uint64_t* hashes,
              absl::Span<const size_t> positions, char* out,
              std::vector<size_t>* misses, Counts* counts)
      ABSL_LOCKS_EXCLUDED(mu_) {
    // Each step below is a likely cache miss (set keys, sketch block, row),
    // so probes run ahead of the copies with prefetches, keeping several
    // misses in flight instead of paying them in turn. The shard's shape is
    // fixed, so sets are found before the lock is taken.
    constexpr size_t kAhead = 4;
    const size_t n = positions.size();
    uint32_t sets[RowCache::kRowsPerLockHold];
    int8_t ways[RowCache::kRowsPerLockHold];
    for (size_t j = 0; j < n; ++j) sets[j] = SetOf(hashes[positions[j]]);
    absl::MutexLock lock(&mu_);
    for (size_t j = 0; j < std::min(kAhead, n); ++j) {
      __builtin_prefetch(&keys_[sets[j]]);
      if (admit_by_frequency_) sketch_.Prefetch(hashes[positions[j]]);
    }
    for (size_t j = 0; j < n; ++j) {
      if (j + kAhead < n) {
        __builtin_prefetch(&keys_[sets[j + kAhead]]);
        if (admit_by_frequency_) {
          sketch_.Prefetch(hashes[positions[j + kAhead]]);
        }
      }
      ways[j] = FindWay(sets[j], ids[positions[j]]);
      if (ways[j] >= 0) {
        const char* row = RowAt(sets[j], ways[j]);
        for (uint32_t line = 0; line < row_bytes_; line += 64) {
          __builtin_prefetch(row + line);
        }
      }
    }
    for (size_t j = 0; j < n; ++j) {
      const size_t position = positions[j];
      if (admit_by_frequency_) sketch_.Record(hashes[position]);
      if (ways[j] < 0) {
        misses->push_back(position);  // Reserved by the caller.
        ++counts->misses;
        continue;
      }
      // Test first: most hits find the bit set and leave the line clean.
      SetState& state = states_[sets[j]];
      const WayMask bit = WayBit(ways[j]);
      if ((state.referenced & bit) == 0) state.referenced |= bit;
      std::memcpy(out + position * row_bytes_, RowAt(sets[j], ways[j]),
                  row_bytes_);
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

  bool Contains(uint64_t id, uint64_t hash) const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return FindWay(SetOf(hash), id) >= 0;
  }

  // Drops `id`; the set's last row moves into its way, so that empty ways
  // stay a suffix.
  bool Erase(uint64_t id, uint64_t hash) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    const uint32_t set = SetOf(hash);
    const int way = FindWay(set, id);
    if (way < 0) return false;
    uint64_t* keys = keys_[set].ids;
    int last = UsableWays(set) - 1;
    while (keys[last] == kEmptyKey) --last;
    SetState& state = states_[set];
    if (last != way) {
      keys[way] = keys[last];
      std::memcpy(RowAt(set, way), RowAt(set, last), row_bytes_);
      state.referenced = static_cast<WayMask>(
          (state.referenced & ~WayBit(way)) |
          ((state.referenced & WayBit(last)) ? WayBit(way) : 0));
    }
    keys[last] = kEmptyKey;
    state.referenced &= ~WayBit(last);
    if (state.hand > last) state.hand = 0;
    --used_;
    return true;
  }

  void Clear() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    for (uint64_t s = 0; s < num_sets_; ++s) {
      std::fill(std::begin(keys_[s].ids), std::end(keys_[s].ids), kEmptyKey);
      states_[s] = SetState();
    }
    used_ = 0;
  }

  uint64_t entries() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return used_;
  }

  // Memory held besides the rows: set keys, CLOCK state and the sketch.
  uint64_t overhead_bytes() const { return overhead_bytes_; }

 private:
  // One set's ids: with 8 ways, exactly one cache line.
  struct alignas(64) SetKeys {
    uint64_t ids[kWays];
  };
  using WayMask = std::conditional_t<kWays <= 8, uint8_t, uint16_t>;
  // A set's CLOCK: a reference bit per way and the hand.
  struct SetState {
    WayMask referenced = 0;
    uint8_t hand = 0;
  };
  static_assert(kWays <= 16 && std::has_single_bit(unsigned{kWays}));

  static WayMask WayBit(int way) { return static_cast<WayMask>(1u << way); }

  // A product with another constant than the sketch's, so that the rows of a
  // set do not all share sketch blocks.
  uint32_t SetOf(uint64_t hash) const {
    return static_cast<uint32_t>(
        ScaleTo(hash * 0xd6e8feb86659fd93ull, num_sets_));
  }
  int UsableWays(uint64_t set) const {
    return set + 1 == num_sets_ ? last_set_ways_ : kWays;
  }
  char* RowAt(uint64_t set, int way) const ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return data_.get() + (set * kWays + way) * row_bytes_;
  }

  // The way of `set` holding `id`, or -1. Compares all kWays keys without
  // branching on each (unused ways of a short last set stay empty).
  int FindWay(uint32_t set, uint64_t id) const ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    if (id == kEmptyKey) return -1;
    const uint64_t* keys = keys_[set].ids;
    unsigned match = 0;
    for (int w = 0; w < kWays; ++w) match |= unsigned{keys[w] == id} << w;
    return match == 0 ? -1 : std::countr_zero(match);
  }

  void InsertLocked(uint64_t id, uint64_t hash, const char* row, Counts* counts)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (id == kEmptyKey) return;  // Cannot be told from an empty way.
    const uint32_t set = SetOf(hash);
    uint64_t* keys = keys_[set].ids;
    const int usable = UsableWays(set);
    int way = -1;
    for (int w = 0; w < usable; ++w) {
      // Already cached: offered twice, or another batch got here first.
      if (keys[w] == id) return;
      if (keys[w] == kEmptyKey) {
        way = w;  // Empty ways are a suffix: no id lies beyond.
        break;
      }
    }
    SetState& state = states_[set];
    if (way >= 0) {
      ++used_;
    } else {
      // CLOCK within the set: referenced ways lose their bit and are
      // passed over; ends within one turn.
      way = state.hand;
      while (state.referenced & WayBit(way)) {
        state.referenced &= ~WayBit(way);
        way = way + 1 == usable ? 0 : way + 1;
      }
      state.hand = static_cast<uint8_t>(way);
      if (admit_by_frequency_ &&
          sketch_.Estimate(hash) <= sketch_.Estimate(MixRowId(keys[way]))) {
        ++counts->rejections;
        return;
      }
      state.hand = static_cast<uint8_t>(way + 1 == usable ? 0 : way + 1);
      ++counts->evictions;
    }
    keys[way] = id;
    // A new row must be hit within one turn of the hand to stay.
    state.referenced &= ~WayBit(way);
    std::memcpy(RowAt(set, way), row, row_bytes_);
    ++counts->insertions;
  }

  mutable absl::Mutex mu_;
  // The shape: written by Init before the cache is shared, then read-only,
  // so read without the lock.
  uint32_t row_bytes_ = 0;
  bool admit_by_frequency_ = false;
  uint64_t num_sets_ = 0;
  int last_set_ways_ = 0;
  uint64_t overhead_bytes_ = 0;
  std::unique_ptr<SetKeys[]> keys_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<SetState[]> states_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<char[]> data_ ABSL_GUARDED_BY(mu_);

  uint64_t used_ ABSL_GUARDED_BY(mu_) = 0;
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
  // Set indexes are 32-bit.
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
                    admission_ == Admission::kFrequency,
                    entries_per_shard * kEntryOverheadBytes);
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
  const uint64_t hash = MixRowId(id);
  return ShardFor(hash).Contains(id, hash);
}

bool RowCache::Erase(uint64_t id) {
  const uint64_t hash = MixRowId(id);
  return ShardFor(hash).Erase(id, hash);
}

void RowCache::Clear() {
  for (size_t s = 0; s < (size_t{1} << shard_bits_); ++s) shards_[s].Clear();
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

}  // namespace engram

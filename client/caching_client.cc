#include "client/caching_client.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"

namespace engram::client {
namespace {

// Bytes an entry costs besides its row: map slot, ring slot, allocation.
constexpr uint64_t kEntryOverheadBytes = 64;
// How long a table whose watch is down is served uncached before the
// watch is tried again.
constexpr absl::Duration kWatchRetryInterval = absl::Seconds(1);

using Key = std::pair<uint32_t, uint64_t>;  // (table index, row id)

}  // namespace

struct CachingClient::TableState {
  uint32_t index = 0;
  std::string name;
  uint64_t rows = 0;
  uint32_t row_bytes = 0;
  // Sparse tables are never cached: a missing row is not a row.
  bool cacheable = true;
  // Lookups hold it shared while they read or fill the cache; version
  // changes hold it exclusively, so a lookup sees a version with all its
  // invalidations done.
  absl::Mutex mu;
  uint64_t version ABSL_GUARDED_BY(mu) = 0;
  bool watching ABSL_GUARDED_BY(mu) = false;
  absl::Time retry_after ABSL_GUARDED_BY(mu) = absl::InfinitePast();
  // Replaced only by StateFor under tables_mu_; its callback takes `mu`.
  std::unique_ptr<TableWatch> watch;
};

// One shard of the cache: rows by (table, id), CLOCK eviction.
class CachingClient::Shard {
 public:
  explicit Shard(uint64_t capacity_bytes) : capacity_bytes_(capacity_bytes) {}

  // For each position p in `positions`: copies the row of (table, ids[p])
  // to out + p * bytes if held, else appends p to `missed`. One lock for
  // all of them.
  void GetMany(uint32_t table, absl::Span<const uint64_t> ids,
               absl::Span<const uint32_t> positions, uint32_t bytes, char* out,
               std::vector<uint32_t>& missed) {
    absl::MutexLock lock(&mu_);
    for (uint32_t p : positions) {
      const auto it = entries_.find(Key(table, ids[p]));
      if (it == entries_.end()) {
        missed.push_back(p);
        continue;
      }
      std::memcpy(out + uint64_t{p} * bytes, it->second.row.get(), bytes);
      it->second.referenced = true;
    }
  }

  // Keeps rows[p] of (table, ids[p]) for each p in `positions`.
  void PutMany(uint32_t table, absl::Span<const uint64_t> ids,
               absl::Span<const uint32_t> positions, uint32_t bytes,
               const char* rows) {
    absl::MutexLock lock(&mu_);
    for (uint32_t p : positions) {
      PutLocked(Key(table, ids[p]), rows + uint64_t{p} * bytes, bytes);
    }
  }

  void PutLocked(const Key& key, const char* row, uint32_t bytes)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const uint64_t cost = bytes + kEntryOverheadBytes;
    if (cost > capacity_bytes_) return;
    if (entries_.contains(key)) return;
    while (used_bytes_ + cost > capacity_bytes_) EvictOneLocked();
    Entry entry;
    entry.row = std::make_unique_for_overwrite<char[]>(bytes);
    std::memcpy(entry.row.get(), row, bytes);
    entry.bytes = bytes;
    entry.ring_index = ring_.size();
    ring_.push_back(key);
    entries_.emplace(key, std::move(entry));
    used_bytes_ += cost;
  }

  // Returns whether `key` was held.
  bool Erase(const Key& key) {
    absl::MutexLock lock(&mu_);
    return EraseLocked(key);
  }

  void EraseTable(uint32_t table) {
    absl::MutexLock lock(&mu_);
    for (size_t i = ring_.size(); i-- > 0;) {
      if (ring_[i].first == table) EraseLocked(Key(ring_[i]));
    }
  }

  void AddStats(CacheStats& stats) const {
    absl::MutexLock lock(&mu_);
    stats.bytes_used += used_bytes_;
    stats.entries += entries_.size();
  }

 private:
  struct Entry {
    std::unique_ptr<char[]> row;
    uint32_t bytes = 0;
    bool referenced = false;
    size_t ring_index = 0;
  };

  // CLOCK: a referenced entry gets a second chance, the first that is not
  // goes. REQUIRES: the ring is not empty.
  void EvictOneLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    while (true) {
      if (hand_ >= ring_.size()) hand_ = 0;
      Entry& entry = entries_.at(ring_[hand_]);
      if (!entry.referenced) {
        EraseLocked(Key(ring_[hand_]));
        return;
      }
      entry.referenced = false;
      ++hand_;
    }
  }

  bool EraseLocked(const Key& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const auto it = entries_.find(key);
    if (it == entries_.end()) return false;
    // The ring's last key takes the erased one's place.
    const size_t index = it->second.ring_index;
    used_bytes_ -= it->second.bytes + kEntryOverheadBytes;
    entries_.erase(it);
    if (index != ring_.size() - 1) {
      ring_[index] = ring_.back();
      entries_.at(ring_[index]).ring_index = index;
    }
    ring_.pop_back();
    return true;
  }

  const uint64_t capacity_bytes_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<Key, Entry> entries_ ABSL_GUARDED_BY(mu_);
  std::vector<Key> ring_ ABSL_GUARDED_BY(mu_);
  size_t hand_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t used_bytes_ ABSL_GUARDED_BY(mu_) = 0;
};

absl::StatusOr<std::unique_ptr<CachingClient>> CachingClient::Create(
    std::unique_ptr<EngramClient> base, const CachingClientOptions& options) {
  if (options.capacity_bytes == 0 || options.shards < 1) {
    return absl::InvalidArgumentError(
        "a cache needs capacity_bytes and shards > 0");
  }
  return std::unique_ptr<CachingClient>(
      new CachingClient(std::move(base), options));
}

CachingClient::CachingClient(std::unique_ptr<EngramClient> base,
                             const CachingClientOptions& options)
    : base_(std::move(base)), options_(options) {
  for (int i = 0; i < options.shards; ++i) {
    shards_.push_back(
        std::make_unique<Shard>(options.capacity_bytes / options.shards));
  }
}

CachingClient::~CachingClient() {
  // The watches go first: their callbacks touch the shards.
  absl::flat_hash_map<std::string, std::shared_ptr<TableState>> tables;
  {
    absl::MutexLock lock(&tables_mu_);
    tables.swap(tables_);
  }
}

size_t CachingClient::ShardIndex(uint32_t table, uint64_t id) const {
  const uint64_t hash = (id ^ (uint64_t{table} << 56)) * 0x9E3779B97F4A7C15ull;
  return (hash >> 32) % shards_.size();
}

std::vector<std::vector<uint32_t>> CachingClient::ByShard(
    uint32_t table, absl::Span<const uint64_t> ids) const {
  std::vector<std::vector<uint32_t>> positions(shards_.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    positions[ShardIndex(table, ids[i])].push_back(static_cast<uint32_t>(i));
  }
  return positions;
}

CacheStats CachingClient::stats() const {
  CacheStats stats;
  stats.hits = hits_.load(std::memory_order_relaxed);
  stats.misses = misses_.load(std::memory_order_relaxed);
  stats.invalidated = invalidated_.load(std::memory_order_relaxed);
  stats.bypassed = bypassed_.load(std::memory_order_relaxed);
  for (const auto& shard : shards_) shard->AddStats(stats);
  return stats;
}

uint64_t CachingClient::tracked_version(absl::string_view table) const {
  std::shared_ptr<TableState> state;
  {
    absl::MutexLock lock(&tables_mu_);
    const auto it = tables_.find(table);
    if (it == tables_.end()) return 0;
    state = it->second;
  }
  absl::ReaderMutexLock lock(&state->mu);
  return state->watching ? state->version : 0;
}

std::shared_ptr<CachingClient::TableState> CachingClient::StateFor(
    absl::string_view table) {
  absl::MutexLock lock(&tables_mu_);
  std::shared_ptr<TableState>& state = tables_[table];
  if (state == nullptr) {
    absl::StatusOr<TableDescription> description = base_->DescribeTable(table);
    if (!description.ok()) {
      tables_.erase(std::string(table));
      return nullptr;
    }
    state = std::make_shared<TableState>();
    state->index = next_table_index_++;
    state->name = std::string(table);
    // A shard's server holds fewer, and says so for the others.
    state->rows = description->total_rows;
    state->row_bytes = description->row_bytes;
    state->cacheable = description->missing_rows.empty();
  }
  if (!state->cacheable) return nullptr;
  {
    absl::MutexLock state_lock(&state->mu);
    if (state->watching) return state;
    if (absl::Now() < state->retry_after) return nullptr;
    state->retry_after = absl::Now() + kWatchRetryInterval;
  }
  // The previous watch, if any, has ended; its thread is done.
  state->watch.reset();
  TableState* raw = state.get();
  absl::StatusOr<std::unique_ptr<TableWatch>> watch = base_->WatchTable(
      table, [this, raw](absl::StatusOr<VersionChange> change) {
        OnChange(*raw, std::move(change));
      });
  if (!watch.ok()) return nullptr;
  state->watch = *std::move(watch);
  return state;
}

void CachingClient::OnChange(TableState& state,
                             absl::StatusOr<VersionChange> change) {
  absl::MutexLock lock(&state.mu);
  if (!change.ok() || change->kind == VersionChange::Kind::kCurrent) {
    // A watch that ends, or one that starts again, may have missed
    // changes: what the table's cache holds cannot be trusted.
    for (const auto& shard : shards_) shard->EraseTable(state.index);
    state.watching = change.ok();
    if (change.ok()) state.version = change->version;
    return;
  }
  uint64_t dropped = 0;
  for (uint64_t id : change->changed_ids) {
    dropped += shards_[ShardIndex(state.index, id)]->Erase({state.index, id});
  }
  invalidated_.fetch_add(dropped, std::memory_order_relaxed);
  state.version = change->version;
}

void CachingClient::Bypass(absl::string_view table,
                           absl::Span<const uint64_t> ids, absl::Span<char> out,
                           const LookupOptions& options, LookupCallback done) {
  bypassed_.fetch_add(1, std::memory_order_relaxed);
  base_->LookupAsync(table, ids, out, options, std::move(done));
}

void CachingClient::LookupAsync(absl::string_view table,
                                absl::Span<const uint64_t> ids,
                                absl::Span<char> out,
                                const LookupOptions& options,
                                LookupCallback done) {
  if (options.pin_id != 0 || options.output_type.has_value()) {
    return Bypass(table, ids, out, options, std::move(done));
  }
  std::shared_ptr<TableState> state = StateFor(table);
  if (state == nullptr) return Bypass(table, ids, out, options, std::move(done));
  const uint32_t row_bytes = state->row_bytes;
  if (out.size() < ids.size() * uint64_t{row_bytes}) {
    return std::move(done)(absl::InvalidArgumentError(
        absl::StrCat("output buffer of ", out.size(), " bytes is too small for ",
                     ids.size(), " rows of ", row_bytes, " bytes")));
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] >= state->rows) {
      return std::move(done)(absl::InvalidArgumentError(
          absl::StrCat("row id ", ids[i], " at position ", i,
                       " is out of range for table '", table, "' with ",
                       state->rows, " rows")));
    }
  }
  // The misses, fetched at the version the hits are of.
  struct Misses {
    std::vector<uint32_t> positions;
    std::vector<uint64_t> ids;
    std::unique_ptr<char[]> rows;
  };
  auto misses = std::make_shared<Misses>();
  const std::vector<std::vector<uint32_t>> by_shard = ByShard(state->index, ids);
  uint64_t version;
  {
    absl::ReaderMutexLock lock(&state->mu);
    version = state->version;
    if (!state->watching ||
        (options.version != 0 && options.version != version)) {
      return Bypass(table, ids, out, options, std::move(done));
    }
    for (size_t s = 0; s < shards_.size(); ++s) {
      if (by_shard[s].empty()) continue;
      shards_[s]->GetMany(state->index, ids, by_shard[s], row_bytes,
                          out.data(), misses->positions);
    }
  }
  std::sort(misses->positions.begin(), misses->positions.end());
  for (uint32_t p : misses->positions) misses->ids.push_back(ids[p]);
  hits_.fetch_add(ids.size() - misses->ids.size(), std::memory_order_relaxed);
  misses_.fetch_add(misses->ids.size(), std::memory_order_relaxed);
  const LookupResult result{version, row_bytes, ids.size(), ""};
  if (misses->ids.empty()) return std::move(done)(result);
  misses->rows =
      std::make_unique_for_overwrite<char[]>(misses->ids.size() * row_bytes);
  LookupOptions at_version = options;
  at_version.version = version;
  base_->LookupAsync(
      table, misses->ids,
      absl::MakeSpan(misses->rows.get(), misses->ids.size() * row_bytes),
      at_version,
      [this, state, misses, out, result,
       done = std::move(done)](absl::StatusOr<LookupResult> fetched) mutable {
        if (!fetched.ok()) return std::move(done)(fetched.status());
        const uint32_t bytes = result.row_bytes;
        for (size_t m = 0; m < misses->ids.size(); ++m) {
          std::memcpy(out.data() + misses->positions[m] * bytes,
                      misses->rows.get() + m * bytes, bytes);
        }
        const std::vector<std::vector<uint32_t>> by_shard =
            ByShard(state->index, misses->ids);
        {
          absl::ReaderMutexLock lock(&state->mu);
          // Kept only while their version is the tracked one: a change
          // since would otherwise not drop them.
          if (state->watching && state->version == result.version) {
            for (size_t s = 0; s < shards_.size(); ++s) {
              if (by_shard[s].empty()) continue;
              shards_[s]->PutMany(state->index, misses->ids, by_shard[s],
                                  bytes, misses->rows.get());
            }
          }
        }
        std::move(done)(result);
      });
}

absl::StatusOr<std::vector<TableDescription>> CachingClient::ListTables() {
  return base_->ListTables();
}

absl::StatusOr<TableDescription> CachingClient::DescribeTable(
    absl::string_view table) {
  return base_->DescribeTable(table);
}

absl::StatusOr<LookupResult> CachingClient::LookupTokens(
    absl::string_view table, absl::Span<const int64_t> tokens, int batch,
    int time, absl::Span<const int32_t> lengths, absl::Span<char> out,
    const LookupOptions& options) {
  bypassed_.fetch_add(1, std::memory_order_relaxed);
  return base_->LookupTokens(table, tokens, batch, time, lengths, out, options);
}

absl::StatusOr<VersionPin> CachingClient::PinVersion(absl::string_view table,
                                                     uint64_t version,
                                                     absl::Duration ttl) {
  return base_->PinVersion(table, version, ttl);
}

absl::Status CachingClient::ReleasePin(uint64_t pin_id) {
  return base_->ReleasePin(pin_id);
}

absl::StatusOr<std::unique_ptr<TableWatch>> CachingClient::WatchTable(
    absl::string_view table, WatchCallback on_change) {
  return base_->WatchTable(table, std::move(on_change));
}

}  // namespace engram::client

#include "client/caching_client.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/packed_row_ids.h"
#include "common/row_cache.h"
#include "common/status_macros.h"

namespace engram::client {
namespace {

// How long a table whose watch is down is served uncached before the
// watch is tried again.
constexpr absl::Duration kWatchRetryInterval = absl::Seconds(1);

}  // namespace

struct CachingClient::TableState {
  std::string name;
  uint64_t rows = 0;
  RowFormat format;
  // Why the table's rows are not cached (cache is null), if they are not.
  absl::Status uncached;
  // Lookups hold it shared while they read or fill the cache; version
  // changes hold it exclusively, so a lookup sees a version with all its
  // invalidations done.
  absl::Mutex mu;
  uint64_t version ABSL_GUARDED_BY(mu) = 0;
  bool watching ABSL_GUARDED_BY(mu) = false;
  // The watch ended with NOT_FOUND: the table was dropped, and a table
  // imported under its name may differ in shape, so StateFor describes it
  // again.
  bool dropped ABSL_GUARDED_BY(mu) = false;
  // The table's hot rows; null for a table that is not cached.
  std::unique_ptr<RowCache> cache;
  // Replaced only by the table's starter (one at a time) and, once the
  // starters are joined, by the destructor; its callback takes `mu`.
  std::unique_ptr<TableWatch> watch;
};

namespace {

// `ids` as the cache takes them (the host is little-endian).
PackedRowIds Packed(absl::Span<const uint64_t> ids) {
  return PackedRowIds(
      absl::string_view(reinterpret_cast<const char*>(ids.data()),
                        ids.size() * sizeof(uint64_t)));
}

}  // namespace

absl::StatusOr<std::unique_ptr<CachingClient>> CachingClient::Create(
    std::unique_ptr<EngramClient> base, const CachingClientOptions& options) {
  if (options.capacity_bytes == 0) {
    return absl::InvalidArgumentError("a cache needs capacity_bytes > 0");
  }
  return std::unique_ptr<CachingClient>(
      new CachingClient(std::move(base), options));
}

CachingClient::CachingClient(std::unique_ptr<EngramClient> base,
                             const CachingClientOptions& options)
    : base_(std::move(base)), options_(options) {}

CachingClient::~CachingClient() {
  std::vector<std::thread> starters;
  {
    absl::MutexLock lock(&tables_mu_);
    closing_ = true;
    for (auto& [name, slot] : tables_) {
      if (slot.starter.joinable()) starters.push_back(std::move(slot.starter));
    }
  }
  // Those waiting on a server that went silent end now, not at their
  // deadline; they finish by publishing into tables_.
  CancelControlCalls();
  for (std::thread& starter : starters) starter.join();
  absl::node_hash_map<std::string, TableSlot> tables;
  {
    absl::MutexLock lock(&tables_mu_);
    tables.swap(tables_);
  }
  // The watches end first, and on this thread: their callbacks touch the
  // caches, and a lookup's callback may hold the last reference to a
  // table's state; a watch ended from there, on a gRPC thread after this
  // client was gone, crashed processes at exit.
  for (auto& [name, slot] : tables) {
    if (slot.state != nullptr) slot.state->watch.reset();
  }
}

CacheStats& CacheStats::operator+=(const CacheStats& other) {
  hits += other.hits;
  misses += other.misses;
  invalidated += other.invalidated;
  bypassed += other.bypassed;
  bytes_used += other.bytes_used;
  entries += other.entries;
  return *this;
}

CacheStats CachingClient::stats() const {
  CacheStats stats;
  stats.hits = hits_.load(std::memory_order_relaxed);
  stats.misses = misses_.load(std::memory_order_relaxed);
  stats.invalidated = invalidated_.load(std::memory_order_relaxed);
  stats.bypassed = bypassed_.load(std::memory_order_relaxed);
  absl::MutexLock lock(&tables_mu_);
  for (const auto& [name, slot] : tables_) {
    if (slot.state == nullptr || slot.state->cache == nullptr) continue;
    const RowCacheStats cache = slot.state->cache->Stats();
    stats.bytes_used += cache.bytes_used;
    stats.entries += cache.entries;
  }
  return stats;
}

uint64_t CachingClient::tracked_version(absl::string_view table) const {
  std::shared_ptr<TableState> state;
  {
    absl::MutexLock lock(&tables_mu_);
    const auto it = tables_.find(table);
    if (it == tables_.end() || it->second.state == nullptr) return 0;
    state = it->second.state;
  }
  absl::ReaderMutexLock lock(&state->mu);
  return state->watching ? state->version : 0;
}

std::shared_ptr<CachingClient::TableState> CachingClient::StateFor(
    absl::string_view table) {
  absl::MutexLock lock(&tables_mu_);
  TableSlot& slot = tables_[table];
  if (slot.state != nullptr) {
    if (slot.state->cache == nullptr) return nullptr;
    if (Watching(*slot.state)) return slot.state;
  }
  if (slot.starting || closing_ || absl::Now() < slot.retry_after) {
    return nullptr;
  }
  slot.starting = true;
  slot.retry_after = absl::Now() + kWatchRetryInterval;
  // The previous starter has published its state: it is done.
  if (slot.starter.joinable()) slot.starter.join();
  slot.starter = std::thread(
      [this, name = std::string(table), state = slot.state]() mutable {
        StartWatch(name, std::move(state));
      });
  return nullptr;
}

void CachingClient::StartWatch(const std::string& table,
                               std::shared_ptr<TableState> state) {
  if (state != nullptr && WasDropped(*state)) {
    state->watch.reset();
    state = nullptr;
  }
  absl::Status started;
  if (state == nullptr) {
    absl::StatusOr<std::shared_ptr<TableState>> described = Describe(table);
    if (described.ok()) {
      state = *std::move(described);
    } else {
      started = described.status();
    }
  }
  if (state != nullptr && state->cache != nullptr) {
    // The previous watch, if any, has ended; its thread is done.
    state->watch.reset();
    TableState* raw = state.get();
    absl::StatusOr<std::unique_ptr<TableWatch>> watch = base_->WatchTable(
        table, [this, raw](absl::StatusOr<VersionChange> change) {
          OnChange(*raw, std::move(change));
        });
    if (watch.ok()) {
      state->watch = *std::move(watch);
    } else {
      started = watch.status();
    }
  }
  absl::MutexLock lock(&tables_mu_);
  TableSlot& slot = tables_[table];
  if (state != nullptr) slot.state = std::move(state);
  slot.start_status = std::move(started);
  slot.starting = false;
}

absl::StatusOr<std::shared_ptr<CachingClient::TableState>>
CachingClient::Describe(const std::string& table) {
  ENGRAM_ASSIGN_OR_RETURN(const TableDescription description,
                          base_->DescribeTable(table));
  auto state = std::make_shared<TableState>();
  state->name = table;
  // A shard's server holds fewer, and says so for the others.
  state->rows = description.total_rows;
  state->format = {description.row_bytes, description.element_type};
  if (!description.missing_rows.empty()) {
    state->uncached = absl::FailedPreconditionError(absl::StrCat(
        "table '", table,
        "' is sparse: a missing row is not a row, so it is not cached"));
    return state;
  }
  absl::StatusOr<std::unique_ptr<RowCache>> cache =
      RowCache::Create({.capacity_bytes = options_.capacity_bytes,
                        .row_bytes = description.row_bytes});
  if (cache.ok()) {
    state->cache = *std::move(cache);
  } else {
    state->uncached = cache.status();
  }
  return state;
}

absl::Status CachingClient::StartCaching(absl::string_view table,
                                         absl::Duration timeout) {
  if (StateFor(table) != nullptr) return absl::OkStatus();
  absl::MutexLock lock(&tables_mu_);
  const TableSlot& slot = tables_[table];
  const auto started = [&slot] { return !slot.starting; };
  if (!tables_mu_.AwaitWithTimeout(absl::Condition(&started), timeout)) {
    return absl::DeadlineExceededError(
        absl::StrCat("the watch of table '", table, "' was not up within ",
                     absl::FormatDuration(timeout)));
  }
  if (slot.state != nullptr && slot.state->cache == nullptr) {
    return slot.state->uncached;
  }
  if (!slot.start_status.ok()) return slot.start_status;
  if (slot.state == nullptr || !Watching(*slot.state)) {
    return absl::UnavailableError(
        absl::StrCat("the watch of table '", table,
                     "' is down; lookups start it again, at most once a "
                     "second"));
  }
  return absl::OkStatus();
}

bool CachingClient::Watching(TableState& state) {
  absl::ReaderMutexLock lock(&state.mu);
  return state.watching;
}

bool CachingClient::WasDropped(TableState& state) {
  absl::ReaderMutexLock lock(&state.mu);
  return state.dropped;
}

void CachingClient::OnChange(TableState& state,
                             absl::StatusOr<VersionChange> change) {
  absl::MutexLock lock(&state.mu);
  if (!change.ok() || change->kind == VersionChange::Kind::kCurrent) {
    // A watch that ends, or one that starts again, may have missed
    // changes: what the table's cache holds cannot be trusted.
    state.cache->Clear();
    state.watching = change.ok();
    state.dropped = absl::IsNotFound(change.status());
    if (change.ok()) state.version = change->version;
    return;
  }
  uint64_t dropped = 0;
  for (uint64_t id : change->changed_ids) dropped += state.cache->Erase(id);
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
  if (state == nullptr)
    return Bypass(table, ids, out, options, std::move(done));
  const uint32_t row_bytes = state->format.row_bytes;
  if (out.size() < ids.size() * uint64_t{row_bytes}) {
    return std::move(done)(absl::InvalidArgumentError(absl::StrCat(
        "output buffer of ", out.size(), " bytes is too small for ", ids.size(),
        " rows of ", row_bytes, " bytes")));
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] >= state->rows) {
      return std::move(done)(absl::InvalidArgumentError(absl::StrCat(
          "row id ", ids[i], " at position ", i, " is out of range for table '",
          table, "' with ", state->rows, " rows")));
    }
  }
  // The misses, fetched at the version the hits are of.
  struct Misses {
    std::vector<size_t> positions;
    std::vector<uint64_t> ids;
    std::unique_ptr<char[]> rows;
  };
  auto misses = std::make_shared<Misses>();
  uint64_t version;
  {
    absl::ReaderMutexLock lock(&state->mu);
    version = state->version;
    if (!state->watching ||
        (options.version != 0 && options.version != version)) {
      return Bypass(table, ids, out, options, std::move(done));
    }
    state->cache->Lookup(Packed(ids), out.data(), &misses->positions);
  }
  std::sort(misses->positions.begin(), misses->positions.end());
  for (size_t p : misses->positions) misses->ids.push_back(ids[p]);
  hits_.fetch_add(ids.size() - misses->ids.size(), std::memory_order_relaxed);
  misses_.fetch_add(misses->ids.size(), std::memory_order_relaxed);
  const LookupResult result{version, row_bytes, ids.size(), "",
                            state->format.element_type};
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
        if (absl::Status shape =
                CheckRowFormat(state->name, *fetched, state->format);
            !shape.ok()) {
          // Replaced before its watch said so: stop serving the old rows,
          // and let StateFor describe the table again.
          absl::MutexLock lock(&state->mu);
          state->cache->Clear();
          state->watching = false;
          state->dropped = true;
          return std::move(done)(shape);
        }
        for (size_t m = 0; m < misses->ids.size(); ++m) {
          std::memcpy(out.data() + misses->positions[m] * bytes,
                      misses->rows.get() + m * bytes, bytes);
        }
        {
          absl::ReaderMutexLock lock(&state->mu);
          // Kept only while their version is the tracked one: a change
          // since would otherwise not drop them. Before `done`, so that a
          // lookup the caller makes next finds them.
          if (state->watching && state->version == result.version) {
            state->cache->Insert(Packed(misses->ids), misses->rows.get());
          }
        }
        std::move(done)(result);
      });
}

absl::StatusOr<std::vector<TableDescription>> CachingClient::ListTables() {
  return base_->ListTables();
}

absl::StatusOr<std::shared_ptr<const CompressionMap>>
CachingClient::GetCompressionMap(absl::string_view table) {
  return base_->GetCompressionMap(table);
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

void CachingClient::CancelControlCalls() { base_->CancelControlCalls(); }

}  // namespace engram::client

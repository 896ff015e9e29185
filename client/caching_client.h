// CachingClient: an EngramClient that keeps hot rows in the worker's memory
// (n-gram traffic is Zipfian), coherent with knowledge patches.
//
//   ENGRAM_ASSIGN_OR_RETURN(std::unique_ptr<EngramClient> base,
//                           EngramClient::Create(options));
//   ENGRAM_ASSIGN_OR_RETURN(
//       std::unique_ptr<CachingClient> client,
//       CachingClient::Create(std::move(base), {.capacity_bytes = 256 << 20}));
//   client->Lookup("layer_1", ids, out);        // hits + misses
//   Prefetcher::Create(client.get(), ...);      // prefetches through it
//
// Coherence. For each table it caches, the client watches the table
// (WatchTable) and tracks its active version V. A lookup of the active
// version takes its hits from the cache and fetches its misses *at V*
// (a version selector), so every row of one result is of V, which the
// result names; rows fetched at V are kept only while V is still the
// tracked version. An activation or rollback drops exactly the rows the
// event names before any lookup sees the new version. Lookups naming a pin
// or another version, asking for a conversion, or of a sparse table, go
// to the server uncached; so do all of a table's lookups while its watch
// is not up: a table's first lookup has the table described and its watch
// started on a thread of their own, and a watch that ends (the connection
// closed, or silent past ClientOptions::keepalive_timeout) empties the
// table's cache and is started again there by a later lookup, at most once
// a second. A lookup never waits for a watch, so a server that cannot be
// reached costs it its deadline, not the watch's; nor does the destructor,
// which cancels the starts in flight (CancelControlCalls). A watch that
// ends with NOT_FOUND means the table was dropped: a table imported later
// under the name is described afresh, as it may differ in shape.
//
// Each table's rows are held in a RowCache (common/row_cache.h, as the
// server's ssd tier uses): sharded, set-associative CLOCK with TinyLFU
// admission, so a row is kept once it is asked for twice and one-off
// n-grams do not push out the hot ones. Thread-safe.
#ifndef ENGRAM_CLIENT_CACHING_CLIENT_H_
#define ENGRAM_CLIENT_CACHING_CLIENT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/node_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "client/engram_client.h"

namespace engram::client {

struct CachingClientOptions {
  // Bytes of rows, plus 20 per row of bookkeeping, each table's cache may
  // hold.
  uint64_t capacity_bytes = 256ull << 20;
};

struct CacheStats {
  // Rows served from the caches, and fetched for cacheable lookups.
  uint64_t hits = 0;
  uint64_t misses = 0;
  // Rows dropped because a new version changed them.
  uint64_t invalidated = 0;
  // Lookups passed to the server uncached (pins, other versions...).
  uint64_t bypassed = 0;
  uint64_t bytes_used = 0;
  uint64_t entries = 0;

  // Adds `other`'s counts (e.g. to total the caches of several replicas).
  CacheStats& operator+=(const CacheStats& other);
};

class CachingClient final : public EngramClient {
 public:
  // InvalidArgument for a zero capacity or shard count.
  static absl::StatusOr<std::unique_ptr<CachingClient>> Create(
      std::unique_ptr<EngramClient> base, const CachingClientOptions& options);
  ~CachingClient() override;

  CacheStats stats() const;
  // The version of `table` the cache tracks; 0 when it is not cached (not
  // yet looked up, or its watch is not up).
  uint64_t tracked_version(absl::string_view table) const;
  // Describes `table` and starts its watch, as its first lookup would in
  // the background, and waits for them: OK once its lookups are cached.
  // Workers call it for their tables before their first steps, which are
  // otherwise served uncached. The table's errors (NOT_FOUND, UNAVAILABLE),
  // why it cannot be cached (FAILED_PRECONDITION for a sparse table,
  // INVALID_ARGUMENT for rows larger than the cache), or
  // DEADLINE_EXCEEDED after `timeout`; the watch is then still retried by
  // lookups, at most once a second.
  absl::Status StartCaching(absl::string_view table,
                            absl::Duration timeout = absl::Seconds(10));

  absl::StatusOr<std::vector<TableDescription>> ListTables() override;
  absl::StatusOr<TableDescription> DescribeTable(
      absl::string_view table) override;
  absl::StatusOr<std::shared_ptr<const CompressionMap>> GetCompressionMap(
      absl::string_view table) override;
  absl::StatusOr<LookupResult> LookupTokens(
      absl::string_view table, absl::Span<const int64_t> tokens, int batch,
      int time, absl::Span<const int32_t> lengths, absl::Span<char> out,
      const LookupOptions& options = {}) override;
  void LookupAsync(absl::string_view table, absl::Span<const uint64_t> ids,
                   absl::Span<char> out, const LookupOptions& options,
                   LookupCallback done) override;
  absl::StatusOr<VersionPin> PinVersion(
      absl::string_view table, uint64_t version = 0,
      absl::Duration ttl = absl::ZeroDuration()) override;
  absl::Status ReleasePin(uint64_t pin_id) override;
  absl::StatusOr<std::unique_ptr<TableWatch>> WatchTable(
      absl::string_view table, WatchCallback on_change) override;
  // The base client's; the destructor calls it so as not to wait for the
  // watch starts in flight.
  void CancelControlCalls() override;

 private:
  struct TableState;
  // A table's state, once described, and the thread that describes it and
  // starts its watch.
  struct TableSlot {
    std::shared_ptr<TableState> state;
    // While `starter` runs; it is joined before the next one starts.
    bool starting = false;
    // How the last start ended.
    absl::Status start_status;
    absl::Time retry_after = absl::InfinitePast();
    std::thread starter;
  };

  CachingClient(std::unique_ptr<EngramClient> base,
                const CachingClientOptions& options);

  // The state of `table` while its watch is up; otherwise null, and the
  // watch started in the background unless it is starting, was tried in
  // the last second, or the table cannot be cached (a sparse one).
  std::shared_ptr<TableState> StateFor(absl::string_view table)
      ABSL_LOCKS_EXCLUDED(tables_mu_);
  // A TableSlot's `starter`: describes `table` unless `state` holds it
  // (and was not dropped), starts its watch, and publishes the state.
  void StartWatch(const std::string& table, std::shared_ptr<TableState> state)
      ABSL_LOCKS_EXCLUDED(tables_mu_);
  // `table`'s state from a DescribeTable.
  absl::StatusOr<std::shared_ptr<TableState>> Describe(
      const std::string& table);
  static bool Watching(TableState& state);
  // Whether `state`'s watch ended because its table was dropped.
  static bool WasDropped(TableState& state);
  // Applies one event of `state`'s watch.
  void OnChange(TableState& state, absl::StatusOr<VersionChange> change);
  void Bypass(absl::string_view table, absl::Span<const uint64_t> ids,
              absl::Span<char> out, const LookupOptions& options,
              LookupCallback done);

  const std::unique_ptr<EngramClient> base_;
  const CachingClientOptions options_;

  mutable absl::Mutex tables_mu_;
  // Slots stay where they are (StartCaching waits on one) and are erased
  // only by the destructor.
  absl::node_hash_map<std::string, TableSlot> tables_
      ABSL_GUARDED_BY(tables_mu_);
  // Set by the destructor: no more starters.
  bool closing_ ABSL_GUARDED_BY(tables_mu_) = false;

  std::atomic<uint64_t> hits_{0};
  std::atomic<uint64_t> misses_{0};
  std::atomic<uint64_t> invalidated_{0};
  std::atomic<uint64_t> bypassed_{0};
};

}  // namespace engram::client

#endif  // ENGRAM_CLIENT_CACHING_CLIENT_H_

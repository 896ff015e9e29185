// ShardedClient: an EngramClient over tables split by row range across
// servers, each range held by one or more replicas (see shard_map.h).
//
//   ENGRAM_ASSIGN_OR_RETURN(ShardMap map, ReadShardMapFile("shards.txt"));
//   ENGRAM_ASSIGN_OR_RETURN(std::unique_ptr<ShardedClient> client,
//                           ShardedClient::Create(std::move(map), {}));
//   client->Lookup("layer_1", ids, out);  // rows in request order
//
// A lookup sends one request per shard its ids fall in, to one replica
// each (round robin over the healthy ones), and puts the rows back in
// request order. A replica that answers UNAVAILABLE, DEADLINE_EXCEEDED,
// CANCELLED or ABORTED, or cannot be reached, is skipped for a backoff
// that doubles on each failure (initial_backoff .. max_backoff) and resets
// on success, so a replica that comes back gets traffic again; the request
// goes to the shard's next replica. With hedge_after set, a second replica
// is asked too when the first has not answered in that time; the first
// answer wins. Errors that are the caller's (INVALID_ARGUMENT, NOT_FOUND,
// FAILED_PRECONDITION, OUT_OF_RANGE, PERMISSION_DENIED, UNAUTHENTICATED,
// RESOURCE_EXHAUSTED) are never retried.
//
// Shards version independently: a result's version is its first shard's.
// Pins, token lookups and watches span shards and are not offered
// (UNIMPLEMENTED). Thread-safe.
#ifndef ENGRAM_CLIENT_SHARDED_CLIENT_H_
#define ENGRAM_CLIENT_SHARDED_CLIENT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/engram_client.h"
#include "client/shard_map.h"

namespace engram::client {

struct ShardedClientOptions {
  // The template of every replica's connection (server_address is each
  // replica's).
  ClientOptions client;
  // Deadline of one attempt at one replica, when the lookup names none.
  absl::Duration attempt_timeout = absl::Seconds(2);
  // Ask a second replica when the first has not answered in this long;
  // zero: never (e.g. set it to the observed p95).
  absl::Duration hedge_after = absl::ZeroDuration();
  absl::Duration initial_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(5);
};

struct ReplicaStats {
  std::string table;
  uint64_t first_row = 0;
  std::string address;
  uint64_t successes = 0;
  uint64_t failures = 0;
  // Whether it is taking traffic now (not in a failure backoff).
  bool healthy = true;
};

class ShardedClient final : public EngramClient {
 public:
  // InvalidArgument for a shard without replicas; connection errors.
  static absl::StatusOr<std::unique_ptr<ShardedClient>> Create(
      ShardMap map, const ShardedClientOptions& options);
  ~ShardedClient() override;

  std::vector<ReplicaStats> replica_stats() const;

  absl::StatusOr<std::vector<TableDescription>> ListTables() override;
  // The table as a whole: rows is the map's, first_row 0.
  absl::StatusOr<TableDescription> DescribeTable(
      absl::string_view table) override;
  void LookupAsync(absl::string_view table, absl::Span<const uint64_t> ids,
                   absl::Span<char> out, const LookupOptions& options,
                   LookupCallback done) override;
  absl::StatusOr<LookupResult> LookupTokens(
      absl::string_view table, absl::Span<const int64_t> tokens, int batch,
      int time, absl::Span<const int32_t> lengths, absl::Span<char> out,
      const LookupOptions& options = {}) override;
  absl::StatusOr<VersionPin> PinVersion(
      absl::string_view table, uint64_t version = 0,
      absl::Duration ttl = absl::ZeroDuration()) override;
  absl::Status ReleasePin(uint64_t pin_id) override;
  absl::StatusOr<std::unique_ptr<TableWatch>> WatchTable(
      absl::string_view table, WatchCallback on_change) override;

 private:
  class Impl;
  explicit ShardedClient(std::unique_ptr<Impl> impl);

  const std::unique_ptr<Impl> impl_;
};

}  // namespace engram::client

#endif  // ENGRAM_CLIENT_SHARDED_CLIENT_H_

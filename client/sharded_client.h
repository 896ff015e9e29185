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
// request order (rows a sparse table lacks are flagged at their positions
// in LookupResult::missing, as one server flags them); with
// prefer_one_replica, each shard's requests go to one replica while it is
// healthy. A replica that answers UNAVAILABLE, DEADLINE_EXCEEDED,
// CANCELLED or ABORTED, or cannot be reached, is skipped for a backoff
// that doubles on each failure (initial_backoff .. max_backoff) and resets
// on success, so a replica that comes back gets traffic again; the request
// goes to the shard's next replica. With hedge_after set, a second replica
// is asked too when the first has not answered in that time; the first
// answer wins. Errors that are the caller's (INVALID_ARGUMENT, NOT_FOUND,
// FAILED_PRECONDITION, OUT_OF_RANGE, PERMISSION_DENIED, UNAUTHENTICATED,
// RESOURCE_EXHAUSTED) are never retried. When every replica of a shard
// has failed, the lookup fails with the last failure's code and each
// replica's error ("no replica of shard [a, b) of table 't' answered:
// replica ADDR: UNAVAILABLE: ...; replica ...").
//
// Shards version independently (each server numbers its own versions): a
// result's version is that of the lowest shard it read. LookupOptions::
// version without a pin goes to every shard as is, so it only makes sense
// where the shards number alike. To read one fixed state of the whole
// table, pin it:
//
//   ENGRAM_ASSIGN_OR_RETURN(VersionPin pin, client->PinVersion("layer_1"));
//   client->Lookup("layer_1", ids, out, {.pin_id = pin.pin_id});
//   client->ReleasePin(pin.pin_id);
//
// A sharded pin fixes each shard at its own version (the one active on it
// when pinned), held by a server pin on each of its replicas; its lookups
// go only to replicas holding the pin. Token lookups are addressed here,
// with the hash spec a replica describes (and, where it hashes compressed
// ids, the map a replica keeps: GetCompressionMap, fetched once), and
// routed as row ids.
// Conversions (output_type) and watches span shards and are not offered
// (UNIMPLEMENTED). Thread-safe.
#ifndef ENGRAM_CLIENT_SHARDED_CLIENT_H_
#define ENGRAM_CLIENT_SHARDED_CLIENT_H_

#include <cstdint>
#include <functional>
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
  // replica's; its default_timeout is attempt_timeout).
  ClientOptions client;
  // Deadline of one call at one replica (a lookup attempt when the lookup
  // names none, the first lookup's table description, a pin): a replica
  // that hangs costs this long before its sibling is asked.
  absl::Duration attempt_timeout = absl::Seconds(2);
  // Ask a second replica when the first has not answered in this long;
  // zero: never (e.g. set it to the observed p95).
  absl::Duration hedge_after = absl::ZeroDuration();
  absl::Duration initial_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(5);
  // Send each shard's lookups to one replica, picked at random when the
  // client is made, instead of round robin over them: the others take
  // over while it fails, and hedges go to them. With a cache per replica
  // (wrap_replica) a shard's hot rows are then cached once; many clients
  // still spread over the replicas.
  bool prefer_one_replica = false;
  // When set, each replica's client is made through it from the plain one;
  // e.g. a worker-side cache per replica, each coherent with its own
  // server's versions (a shard's hot rows may then be held once per
  // replica that served them; see prefer_one_replica):
  //   options.wrap_replica = [](std::unique_ptr<EngramClient> replica) {
  //     return CachingClient::Create(std::move(replica), {...});
  //   };
  // Called by Create only; its errors fail Create.
  std::function<absl::StatusOr<std::unique_ptr<EngramClient>>(
      std::unique_ptr<EngramClient>)>
      wrap_replica;
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
  // The first shard's (every shard keeps the map of the whole table).
  absl::StatusOr<std::shared_ptr<const CompressionMap>> GetCompressionMap(
      absl::string_view table) override;
  // With options.pin_id, a pin of this client's PinVersion: each shard's
  // request names the server pin of the replica it goes to, and fails over
  // only among the replicas holding the pin (a replica answering NOT_FOUND
  // through the pin has lost it, e.g. restarted, and is left out of the
  // pin's lookups from then on). NOT_FOUND, without any RPC, for a pin
  // unknown to this client; InvalidArgument for another table's pin;
  // FailedPrecondition when options.version is neither 0 nor the pin's
  // version. A replica's server pin is renewed only by the lookups it
  // serves: one not asked within the TTL loses it.
  void LookupAsync(absl::string_view table, absl::Span<const uint64_t> ids,
                   absl::Span<char> out, const LookupOptions& options,
                   LookupCallback done) override;
  absl::StatusOr<LookupResult> LookupTokens(
      absl::string_view table, absl::Span<const int64_t> tokens, int batch,
      int time, absl::Span<const int32_t> lengths, absl::Span<char> out,
      const LookupOptions& options = {}) override;
  // Pins, on every replica of every shard of `table`, the version active
  // on that shard now (version 0: the one its first answering replica
  // reports) or `version` (every shard must retain it). Replicas are
  // asked one after the other. A replica that is down (UNAVAILABLE,
  // deadline) or lacks its shard's version (NOT_FOUND, e.g. not patched
  // yet) is left unpinned, and the pin's lookups avoid it. The result's
  // pin_id is this client's own (never 0; other clients and the servers do
  // not know it), its version the first shard's, its ttl the shortest any
  // replica granted. Errors: NOT_FOUND (table; or no replica of some shard
  // has the version, naming the shard), UNAVAILABLE (no replica of some
  // shard could be reached), and a replica's other errors
  // (RESOURCE_EXHAUSTED, InvalidArgument for the ttl...), naming it; on
  // error nothing stays pinned. Pins left when the client is destroyed
  // expire on the servers.
  absl::StatusOr<VersionPin> PinVersion(
      absl::string_view table, uint64_t version = 0,
      absl::Duration ttl = absl::ZeroDuration()) override;
  // Releases a pin of PinVersion on every replica holding it; replicas
  // that cannot be told (down) let it expire. NOT_FOUND for a pin id this
  // client does not hold (never taken, or released).
  absl::Status ReleasePin(uint64_t pin_id) override;
  absl::StatusOr<std::unique_ptr<TableWatch>> WatchTable(
      absl::string_view table, WatchCallback on_change) override;
  // Every replica's.
  void CancelControlCalls() override;

 private:
  class Impl;
  explicit ShardedClient(std::unique_ptr<Impl> impl);

  const std::unique_ptr<Impl> impl_;
};

}  // namespace engram::client

#endif  // ENGRAM_CLIENT_SHARDED_CLIENT_H_

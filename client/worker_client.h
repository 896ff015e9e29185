// The client an inference worker embeds: of one server, or of the servers
// of a shard map (ShardedClient), each server's connection behind a
// worker-side hot-row cache (CachingClient) when one is asked for.
//
//   WorkerClientOptions options;
//   options.client.server_address = "10.0.0.5:50051";  // or options.shards
//   options.cache_bytes = 256 << 20;
//   ENGRAM_ASSIGN_OR_RETURN(WorkerClient rows, ConnectWorkerClient(options));
//   Prefetcher::Create(rows.client.get(), ...);
//   rows.cache_stats().hits;
#ifndef ENGRAM_CLIENT_WORKER_CLIENT_H_
#define ENGRAM_CLIENT_WORKER_CLIENT_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/caching_client.h"
#include "client/engram_client.h"
#include "client/shard_map.h"
#include "client/sharded_client.h"

namespace engram::client {

struct WorkerClientOptions {
  // Every server's connection; without `shards`, server_address is the
  // one server.
  ClientOptions client;
  // Set: rows are routed over these shards and their replicas.
  std::optional<ShardMap> shards;
  // With `shards`: deadlines, hedging and backoff (its `client`,
  // `wrap_replica` and, with a cache, `prefer_one_replica` are set from the
  // fields here).
  ShardedClientOptions sharded;
  // Bytes of rows each server's cache holds per table; 0: no cache. With
  // shards there is one cache per replica, holding its shard's rows, and
  // each shard's lookups go to one replica while it is healthy
  // (ShardedClientOptions::prefer_one_replica), so its hot rows are cached
  // once.
  uint64_t cache_bytes = 0;
};

struct WorkerClient {
  std::unique_ptr<EngramClient> client;
  // The caches inside `client`, one per server; empty without cache_bytes.
  std::vector<CachingClient*> caches;

  // The caches' counters, summed; all zero without a cache.
  CacheStats cache_stats() const;
  // Has every cache start caching `tables` (CachingClient::StartCaching),
  // all at once, so that a worker's first steps are cached too; a cache
  // whose server holds no such table skips it. OK without a cache;
  // otherwise, once all are done, the first error other than NOT_FOUND,
  // or NOT_FOUND for a table no server holds.
  absl::Status StartCaching(const std::vector<std::string>& tables,
                            absl::Duration timeout = absl::Seconds(10)) const;
};

// Connection and shard map errors (ShardedClient::Create, CachingClient::
// Create).
absl::StatusOr<WorkerClient> ConnectWorkerClient(
    const WorkerClientOptions& options);

}  // namespace engram::client

#endif  // ENGRAM_CLIENT_WORKER_CLIENT_H_

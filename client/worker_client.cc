#include "client/worker_client.h"

#include <utility>

#include "common/status_macros.h"

namespace engram::client {

CacheStats WorkerClient::cache_stats() const {
  CacheStats sum;
  for (const CachingClient* cache : caches) sum += cache->stats();
  return sum;
}

absl::StatusOr<WorkerClient> ConnectWorkerClient(
    const WorkerClientOptions& options) {
  WorkerClient connected;
  // A server's client as is, or behind its cache.
  const auto cached = [&](std::unique_ptr<EngramClient> plain)
      -> absl::StatusOr<std::unique_ptr<EngramClient>> {
    if (options.cache_bytes == 0) return plain;
    ENGRAM_ASSIGN_OR_RETURN(
        std::unique_ptr<CachingClient> cache,
        CachingClient::Create(std::move(plain),
                              {.capacity_bytes = options.cache_bytes}));
    connected.caches.push_back(cache.get());
    return cache;
  };
  if (!options.shards.has_value()) {
    ENGRAM_ASSIGN_OR_RETURN(std::unique_ptr<EngramClient> plain,
                            EngramClient::Create(options.client));
    ENGRAM_ASSIGN_OR_RETURN(connected.client, cached(std::move(plain)));
    return connected;
  }
  ShardedClientOptions sharded = options.sharded;
  sharded.client = options.client;
  sharded.wrap_replica = cached;
  // Each shard's hot rows in one replica's cache, not in all of them.
  if (options.cache_bytes > 0) sharded.prefer_one_replica = true;
  ENGRAM_ASSIGN_OR_RETURN(connected.client,
                          ShardedClient::Create(*options.shards, sharded));
  return connected;
}

}  // namespace engram::client

#include "client/worker_client.h"

#include <thread>
#include <utility>

#include "common/status_macros.h"

namespace engram::client {

CacheStats WorkerClient::cache_stats() const {
  CacheStats sum;
  for (const CachingClient* cache : caches) sum += cache->stats();
  return sum;
}

absl::Status WorkerClient::StartCaching(const std::vector<std::string>& tables,
                                        absl::Duration timeout) const {
  std::vector<absl::Status> started(caches.size() * tables.size());
  std::vector<std::thread> starters;
  for (size_t c = 0; c < caches.size(); ++c) {
    for (size_t t = 0; t < tables.size(); ++t) {
      starters.emplace_back([&, c, t] {
        started[c * tables.size() + t] =
            caches[c]->StartCaching(tables[t], timeout);
      });
    }
  }
  for (std::thread& starter : starters) starter.join();
  for (size_t t = 0; t < tables.size(); ++t) {
    size_t not_found = 0;
    for (size_t c = 0; c < caches.size(); ++c) {
      const absl::Status& status = started[c * tables.size() + t];
      if (absl::IsNotFound(status)) {
        ++not_found;
      } else if (!status.ok()) {
        return status;
      }
    }
    if (not_found > 0 && not_found == caches.size()) {
      return started[t];
    }
  }
  return absl::OkStatus();
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

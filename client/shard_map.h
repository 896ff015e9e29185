// ShardMap: which servers hold which rows of which tables, for a client
// that routes each row to its shard (ShardedClient).
//
// A table may be split by row range over several shards, each held by one
// or more replicas (servers that imported the same range: engramctl import
// TABLE FILE --row-range A:B). The map comes from a file:
//
//   # table NAME rows N, then its shards: FIRST END REPLICA...
//   table layer_1 rows 1000000
//   shard layer_1 0 500000 10.0.0.1:50051 10.0.0.2:50051
//   shard layer_1 500000 1000000 10.0.0.3:50051 10.0.0.4:50051
//
// or from the servers themselves (DiscoverShardMap: each reports the range
// it holds). A table's shards must cover [0, rows) without gap or overlap,
// and a server holds one range of a table, so it is listed once per table.
#ifndef ENGRAM_CLIENT_SHARD_MAP_H_
#define ENGRAM_CLIENT_SHARD_MAP_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "client/engram_client.h"

namespace engram::client {

struct Shard {
  uint64_t first_row = 0;
  uint64_t end_row = 0;
  // host:port of each server holding [first_row, end_row).
  std::vector<std::string> replicas;
};

struct TableShards {
  uint64_t rows = 0;
  // Increasing, covering [0, rows).
  std::vector<Shard> shards;
};

using ShardMap = std::map<std::string, TableShards, std::less<>>;

// For messages: "shard [first_row, end_row)".
std::string ShardName(const Shard& shard);

// Parses the file format above. InvalidArgument naming the line for
// anything else, a shard before its table, or shards that do not tile it.
absl::StatusOr<ShardMap> ParseShardMap(absl::string_view text);
// The same, from a file; NotFound when it cannot be read.
absl::StatusOr<ShardMap> ReadShardMapFile(const std::string& path);
// Table `table`'s shards in the shard map file at `path`: ReadShardMapFile's
// errors, or NotFound when the map has no such table.
absl::StatusOr<TableShards> ReadTableShards(const std::string& path,
                                            absl::string_view table);

// Asks every server in `servers` for its tables (ListTables): servers that
// report the same range of a table are its replicas. `options` is the
// template of each connection (server_address is replaced). The servers'
// errors; InvalidArgument when the ranges do not tile a table.
absl::StatusOr<ShardMap> DiscoverShardMap(
    const std::vector<std::string>& servers, const ClientOptions& options);

}  // namespace engram::client

#endif  // ENGRAM_CLIENT_SHARD_MAP_H_

// `engramctl drop`: a table deleted from a server, for good (DropTable in
// proto/engram/v1/admin_service.proto: its rows, versions and patches).
//
//   engramctl --server ADDR --token-file F drop TABLE [--force] [--json]
//   engramctl --shard-map FILE --token-file F drop TABLE [--force] [--json]
//
// With --force a table is dropped even while pins hold its versions (they
// are released). Text prints what was dropped; JSON is
//   {"dropped": T, "rows", "row_bytes", "placement", "version",
//    "released_pins", "deleted_patches"}
//
// With --shard-map (client/shard_map.h) the table is dropped from every
// replica of each of its shards, one server after the other. All of them
// are asked first, so that an unreachable one stops it before anything is
// dropped; servers that no longer have the table are left out, so that a
// drop that failed part way can be run again. There is no atomicity across
// servers: when one fails, the error names it and says where the table was
// already dropped. It prints a line per replica, or JSON
//   {"dropped": T, "replicas": [{"address", "first_row", "end_row",
//    "dropped": true|false (absent already), and when dropped the fields
//    above but "dropped"}...]}
#ifndef ENGRAM_CLI_DROP_COMMAND_H_
#define ENGRAM_CLI_DROP_COMMAND_H_

#include <string>

#include "absl/status/status.h"
#include "cli/admin_channel.h"

namespace engram::cli {

struct DropOptions {
  // The server; with a shard map, the template of each server's channel
  // (address replaced).
  AdminChannelOptions server;
  // --shard-map: drop from every server of the table in it.
  std::string shard_map_file;
  bool force = false;
  bool json = false;
};

// Drops `table` as above and prints the outcome on stdout. The servers'
// errors; NotFound for a table not in the shard map or on none of its
// servers.
absl::Status RunDropCommand(const std::string& table,
                            const DropOptions& options);

}  // namespace engram::cli

#endif  // ENGRAM_CLI_DROP_COMMAND_H_

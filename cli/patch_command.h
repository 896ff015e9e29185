// `engramctl patch`: knowledge patches, rows of a served table replaced
// without a re-import (see EngramAdmin in proto/engram/v1/admin_service.proto
// for their life: create, upload, commit, activate, roll back).
//
//   engramctl --server ADDR --token-file F patch apply TABLE --ids IDS.npy
//       --rows ROWS.npy [--description TEXT]     all four steps at once;
//                                                prints {"version": V}
//   engramctl ... patch create TABLE [--description TEXT]
//   engramctl ... patch upload PATCH_ID --ids IDS.npy --rows ROWS.npy
//   engramctl ... patch upload PATCH_ID FILE.safetensors
//                                      (tensors "ids" and "rows")
//   engramctl ... patch commit PATCH_ID [--digest HEX]
//   engramctl ... patch abort PATCH_ID            (an uncommitted patch)
//   engramctl ... patch activate TABLE VERSION
//   engramctl ... patch rollback TABLE [--to V]   (also `engramctl rollback`)
//   engramctl ... patch list TABLE [--json]       (also `engramctl versions`)
//
// IDS.npy holds int64 (or uint64) row ids, ROWS.npy one row per id, of the
// table's row_bytes, in any dtype: rows are sent as bytes. Uploads stream
// in ~4 MiB messages with a progress bar on stderr; the last message
// carries the stream's content digest (PatchInfo.content_digest), which
// `apply` also has the commit check. Every subcommand but `list` prints
// JSON: create, upload and abort the patch, the others the version they
// made or activated ("version" first). A failed `apply` upload aborts its
// patch.
//
//   engramctl --shard-map FILE --token-file F patch apply TABLE --ids IDS.npy
//       --rows ROWS.npy [--json]
//
// applies a patch to a table split over servers (client/shard_map.h): the
// ids are split by the shard they fall in (rows in the patch's order), and
// each shard's part goes to every replica of that shard in turn, as
// `apply` does to one server; shards without ids are left alone. All
// replicas are checked first (reachable, row size, the shard's row range).
// It prints, per shard and replica, the version made (text, or JSON with
// --json). There is no atomicity across servers: when a replica fails, the
// error names it and says where the patch was already applied and active
// and where not, and those servers stay as they are. Replicas of a shard
// must end with the same version number (sharded pins rely on it); if
// they do not, the apply fails after the output.
#ifndef ENGRAM_CLI_PATCH_COMMAND_H_
#define ENGRAM_CLI_PATCH_COMMAND_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "cli/admin_channel.h"

namespace engram::cli {

struct PatchOptions {
  AdminChannelOptions server;
  // apply, upload: the patch's row ids and rows (--ids, --rows).
  std::string ids_file;
  std::string rows_file;
  // apply, create: free text kept with the patch (who, why).
  std::string description;
  // commit: the digest the server must find the patch's rows to have;
  // empty: not checked.
  std::string digest;
  // rollback: the retained version to activate; 0: the newest one older
  // than the active version.
  uint64_t to_version = 0;
  // list, and apply with a shard map: JSON instead of text.
  bool json = false;
  // apply: a shard map file; when set, the patch goes to the servers it
  // names (`server` is then the template of each connection: its token,
  // TLS and timeout) instead of to `server`. Other subcommands ignore it.
  std::string shard_map_file;
};

// Runs `patch ARGS...`: args[0] is the subcommand (above), the rest its
// positional arguments. REQUIRES: as many as the subcommand takes (the
// caller checks usage). InvalidArgument for bad numbers or files (an ids
// count that differs from the row count, rows of another size than the
// table's); otherwise the server's errors.
absl::Status RunPatchCommand(const std::vector<std::string>& args,
                             const PatchOptions& options);

}  // namespace engram::cli

#endif  // ENGRAM_CLI_PATCH_COMMAND_H_

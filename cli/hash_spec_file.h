// The hash spec file of `engramctl export --hash-spec` and `import
// --hash-spec`: a table's addressing (engram.v1.HashSpec, proto3 JSON) as
// its server holds it, digest included, so that a table exported to a file
// can be imported back (on another server, or after a drop) addressed
// exactly as before, without the model config or flags that first gave it.
// A spec that hashes compressed token ids names its map by digest; the map
// travels beside it as a .npy (`--compression MAP.npy` on both commands).
//
//   export:  WriteStringToFile(path, HashSpecJson(TableHashSpecProto(table)))
//   import:  ENGRAM_ASSIGN_OR_RETURN(TableAddressing addressing,
//                                    LoadTableAddressing(spec, map));
#ifndef ENGRAM_CLI_HASH_SPEC_FILE_H_
#define ENGRAM_CLI_HASH_SPEC_FILE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "client/engram_client.h"
#include "common/addressing/compression_map.h"
#include "engram/v1/engram_service.pb.h"

namespace engram::cli {

// The spec `table` is addressed by, as its server holds it (the model's
// digest, the compression map's digest). REQUIRES: table.hash_spec.
v1::HashSpec TableHashSpecProto(const client::TableDescription& table);

// `spec` as the file holds it: indented JSON, field names as in the proto.
std::string HashSpecJson(const v1::HashSpec& spec);

// A table's addressing read back: the spec (and the file it came from)
// and, when it hashes compressed ids, its map (null otherwise).
struct TableAddressing {
  std::string spec_file;
  v1::HashSpec spec;
  std::shared_ptr<const CompressionMap> compression;
};

// The spec in file `spec_path` and the map in `compression_path` (empty:
// none). NotFound for an unreadable file; InvalidArgument naming the file
// for JSON that is not a HashSpec, a spec that is not consistent or has no
// digest, a spec that names a map without `compression_path` (or the
// reverse), and a map that does not hash to the spec's compression_digest.
absl::StatusOr<TableAddressing> LoadTableAddressing(
    const std::string& spec_path, const std::string& compression_path);

}  // namespace engram::cli

#endif  // ENGRAM_CLI_HASH_SPEC_FILE_H_

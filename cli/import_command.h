// `engramctl import`: creates a table from a .npy, .safetensors or raw row
// file (see common/table_file.h for the formats), with a progress bar:
//
//   engramctl --server ADDR import TABLE FILE.npy [--dtype T] [--placement P]
//   engramctl --server ADDR import TABLE FILE.safetensors --tensor NAME[,NAME]
//   engramctl --server ADDR import TABLE FILE.bin --row-bytes 264
//   engramctl --server ADDR import TABLE ROWS.npy --ids IDS.npy
//       --id-space N [--missing zeros|report]        (a sparse table)
//   engramctl --server ADDR import TABLE PATH --server-file
//       (the server reads PATH itself, within its --import-dir)
//   engramctl --data-dir DIR import TABLE FILE ...   (offline: writes the
//       data directory of a stopped server)
//   engramctl --server ADDR import TABLE FILE.npy --row-range A:B
//       (one shard: rows [A, B) of the file's, served as the table's ids)
//   engramctl --shard-map shards.txt import TABLE FILE.npy [--jobs N]
//       (each shard's rows, read once, to all its replicas at once; N
//       shards at a time)
//   engramctl --server ADDR import TABLE FILE.npy --hash-layer 15
//       [--model-config model.json | --seed ... --layer-ids ...
//        (cli/hash_spec_flags.h)]
//       (the table is Engram layer 15's, addressed as that configuration
//       says: token lookups and prefetchers can then use it)
//   engramctl --server ADDR import TABLE OUT.npy --hash-spec SPEC.json
//       [--compression MAP.npy]
//       (addressed as the table `export --hash-spec SPEC.json` read was)
//
// Rows stream to the server (or the data directory) as they are read. If
// the table already exists, the file's content digest is compared with the
// table's: equal, the import is verified and nothing is sent; different,
// ALREADY_EXISTS.
#ifndef ENGRAM_CLI_IMPORT_COMMAND_H_
#define ENGRAM_CLI_IMPORT_COMMAND_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "cli/admin_channel.h"
#include "cli/hash_spec_file.h"
#include "common/addressing/hash_spec.h"

namespace engram::cli {

struct ImportOptions {
  // The server (its address, token and deadline); unused when data_dir is
  // set (offline).
  AdminChannelOptions server;
  std::string data_dir;
  std::string table;
  std::string file;
  // Element type overriding the file's; empty keeps it.
  std::string dtype;
  // Tensors to take from a .safetensors file, in order.
  std::vector<std::string> tensors;
  // Raw files: bytes per row.
  uint32_t row_bytes = 0;
  std::string placement = "ram";
  // Sparse tables: a .npy of the rows' ids, the id space (the table's row
  // count) and what lookups of unwritten rows get ("zeros" or "report").
  std::string ids_file;
  uint64_t id_space = 0;
  std::string missing = "report";
  // The server reads `file` from its own disk.
  bool server_file = false;
  // A shard: only rows [first_row, end_row) of the file (end_row 0: none).
  uint64_t first_row = 0;
  uint64_t end_row = 0;
  // Set: the table is Engram layer `hash_layer_id` of this configuration,
  // which the table declares as its hash spec. A zero n_embed_per_ngram is
  // the file's values per row times heads_per_ngram.
  std::optional<HashSpecConfig> hash_config;
  int64_t hash_layer_id = 0;
  // Or set: the table declares this spec (and keeps its map), as `export
  // --hash-spec` wrote it from a table (--hash-spec FILE.json).
  std::optional<TableAddressing> addressing;
  // Set: import each shard's rows of `file` (client/shard_map.h) to every
  // replica of the shard instead of to `server`: the shard's rows are read
  // once and streamed to all its replicas at once, `jobs` shards at a time
  // (each with its own reader of the file and progress lines).
  std::string shard_map_file;
  int jobs = 1;
  bool json = false;
};

// Imports options.file as options.table; prints the table (as JSON with
// options.json). The server's errors as they come; NotFound for an
// unreadable file; InvalidArgument for files that cannot be a table or
// that the hash configuration does not address; AlreadyExists for a table
// of that name with other rows or another hash spec.
absl::Status RunImportCommand(const ImportOptions& options);

}  // namespace engram::cli

#endif  // ENGRAM_CLI_IMPORT_COMMAND_H_

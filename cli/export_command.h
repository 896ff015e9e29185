// `engramctl export`: a table's rows, as one version serves them, written
// to a file that `import` takes back, e.g. to bake activated patches into
// a checkpoint or to move a table to another cluster:
//
//   engramctl --server ADDR export TABLE OUT.npy [--version V]
//       [--max-rate-mb R] [--json]
//   engramctl --server ADDR export TABLE ROWS.npy --ids IDS.npy
//       (a sparse table: the rows it has, and their ids)
//   engramctl --shard-map FILE export TABLE OUT.npy   (a table split over
//       servers, read through its shards)
//   engramctl --server ADDR export TABLE OUT.npy --hash-spec SPEC.json
//       [--compression MAP.npy]
//       (a table with addressing: its hash spec, and the map it compresses
//       token ids with, as `import TABLE OUT.npy --hash-spec SPEC.json
//       [--compression MAP.npy]` takes them back)
//
// Version V (default: the one active when the export starts) is pinned for
// the whole export, so patches activated meanwhile do not mix in, and
// released at the end. Rows are read by Lookup, a few batches in flight
// (with --max-rate-mb, started no faster than R MB/s), with a progress
// bar. OUT.npy gets a 2-D array [rows, values]: "<f4" for
// f32, "<f2" for f16, "<u2" for bf16 (what import reads as bf16), "|u1"
// [rows, row_bytes] for fp8 and opaque rows (import them with --dtype
// fp8_e4m3 or fp8_e5m2). A name not ending in .npy gets the raw rows
// (import with --row-bytes). A server holding one shard exports that
// shard's rows. A sparse table that reports its missing rows is read over
// its whole id space, and only the rows it has are written, their ids
// (int64) in IDS.npy, as `import TABLE ROWS.npy --ids IDS.npy --id-space
// N` takes them back. The rows alone do not say how a table is addressed
// (its hash spec): a table that has one is exported with --hash-spec, or
// a note on stderr says what the file lacks. Files appear only when
// complete (written beside them, synced to disk, then renamed; the rows
// last).
//
// Every GiB or 5 s the files are synced and the progress recorded in
// OUT.partial.progress (cli/export_progress.h). An export that fails after
// that (server gone, disk full...) leaves the files, and `export ...
// --resume` pins the same version again and goes on from the last
// checkpoint: it cuts the files back to it, hashes the rows kept, and
// checks the table is still the one exported (same row format; the same
// content digest while that version is active).
//
// The rows' content digest (common/content_digest.h; of ids and rows for a
// sparse table) is printed; when the exported version is the table's
// unpatched base, it must equal the table's content digest (DATA_LOSS and
// no file otherwise). Text prints one line; JSON is
//   {"table", "version", "rows" (written), "id_space" (sparse only),
//    "row_bytes", "dtype", "file", "ids_file" (sparse only),
//    "hash_spec_file", "compression_file" (when written), "bytes",
//    "content_digest", "verified": true|false,
//    "resumed_at_row" (with --resume), "seconds"}
#ifndef ENGRAM_CLI_EXPORT_COMMAND_H_
#define ENGRAM_CLI_EXPORT_COMMAND_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "client/engram_client.h"

namespace engram::cli {

struct ExportOptions {
  std::string table;
  // Ends in .npy: an .npy array; otherwise raw rows.
  std::string out_file;
  // --ids: sparse tables only, where the ids of the rows go (.npy, int64).
  std::string ids_file;
  // --hash-spec: tables with a hash spec only, where it goes
  // (cli/hash_spec_file.h); --compression: where the map goes, for a spec
  // that hashes compressed ids.
  std::string hash_spec_file;
  std::string compression_file;
  // 0: the version active when the export starts.
  uint64_t version = 0;
  // --max-rate-mb: rows asked of the server at most this many MB/s, to
  // spare the live traffic of a serving server; 0: no limit.
  double max_rate_mb = 0;
  // --resume: go on with the files an interrupted export of the same table
  // and output left, from its last checkpoint.
  bool resume = false;
  bool json = false;
};

// Exports options.table through `client` as above and prints the outcome.
// The server's errors (NOT_FOUND for an unknown table or version...);
// InvalidArgument for --ids with a dense table, a negative rate, or
// --compression without --hash-spec; FailedPrecondition for a sparse table
// without --ids, or one that reads unwritten rows as zeros (lookups cannot
// tell which rows it has), --hash-spec for a table without a spec,
// --compression for one that hashes raw ids or missing for one that
// compresses them (and the server's, for a map it does not hold);
// DataLoss for rows that do not
// match the table's content digest; the file system's errors, naming the
// file. FailedPrecondition for --resume with nothing to resume or a table
// that is not the one exported. On error no file is left, except the
// partial files a checkpoint records, which the error then names.
absl::Status RunExportCommand(client::EngramClient& client,
                              const ExportOptions& options);

}  // namespace engram::cli

#endif  // ENGRAM_CLI_EXPORT_COMMAND_H_

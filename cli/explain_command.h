// `engramctl explain`: where the rows of given tokens come from in a
// version of a table, so that a patch's author can see whether it covers
// the phrases they care about:
//
//   engramctl --server ADDR [--token-file F] explain --table TABLE
//       --tokens "1,2,3;4,5" [--version V]
//       [--compression MAP.npy | --model-config MODEL.json] [--json]
//
// The tokens are raw tokenizer ids, addressed with the table's hash spec
// (DescribeTable) as a worker addresses them: for a table whose spec hashes
// compressed ids they are first compressed with the map the server keeps
// with the table (GetCompressionMap), or with the one given, which must be
// the same (--compression, or the model config's). The server's ExplainRows
// then says, for each position's (max_ngram - 1) x heads rows, the row id,
// whether the base table or which patch (and the version its commit made)
// provides it in version V (default: the active one), and a fingerprint:
// the first 8 bytes of the SHA-256 of the row as served, in hex. Text
// prints one line per position and head and a count of patched rows; JSON
// is
//   {"table": T, "version": V, "patches": [{"patch_id", "version",
//    "description", "rows"}...], "rows": N, "patched_rows": K,
//    "positions": [{"sequence", "position", "token", "heads": [{"head",
//    "ngram", "row", "source": "base"|"patch", "patch_id",
//    "patch_version", "missing", "fingerprint"}...]}...]}
// Positions of a shorter sequence count from its first real token; the
// padding before it is not shown. ExplainRows is an admin call: with
// --admin-token-file on the server, pass --token-file.
#ifndef ENGRAM_CLI_EXPLAIN_COMMAND_H_
#define ENGRAM_CLI_EXPLAIN_COMMAND_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "cli/admin_channel.h"

namespace engram::cli {

struct ExplainOptions {
  AdminChannelOptions server;
  std::string table;     // --table, required
  std::string tokens;    // --tokens, required
  uint64_t version = 0;  // --version; 0: the active one
  // --compression; empty: the server's map for a table of compressed ids.
  std::string compression_file;
  bool json = false;
};

// InvalidArgument for missing flags, bad token lists or tokens outside the
// vocabulary (naming sequence, position and value); FailedPrecondition for
// a table without a hash spec; the compression map's errors; the server's
// (NOT_FOUND for an unknown table or version, ...).
absl::Status RunExplainCommand(const ExplainOptions& options);

}  // namespace engram::cli

#endif  // ENGRAM_CLI_EXPLAIN_COMMAND_H_

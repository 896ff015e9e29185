// `engramctl compression-map`: the token compression map of a Hugging Face
// tokenizer, built as the reference builds it in Python (see
// common/addressing/tokenizer_compression.h), with no Python:
//
//   engramctl compression-map --tokenizer tokenizer.json --out map.npy [--json]
//
// writes map.npy (int64, raw id -> compressed id; what --compression and a
// model config's compression_map read) and prints the compressed
// vocabulary size, the hash spec's tokenizer_vocab: as text, or with --json
// {"raw_vocab": N, "tokenizer_vocab": M, "out": "map.npy"}.
#ifndef ENGRAM_CLI_COMPRESSION_MAP_COMMAND_H_
#define ENGRAM_CLI_COMPRESSION_MAP_COMMAND_H_

#include <string>

#include "absl/status/status.h"

namespace engram::cli {

struct CompressionMapOptions {
  std::string tokenizer_file;  // --tokenizer, required
  std::string out_file;        // --out, required
  bool json = false;
};

// InvalidArgument for missing flags or a tokenizer.json that cannot be read
// as one (TokenizerJson's errors, naming the file); NotFound for an
// unreadable file; the write's errors.
absl::Status RunCompressionMapCommand(const CompressionMapOptions& options);

}  // namespace engram::cli

#endif  // ENGRAM_CLI_COMPRESSION_MAP_COMMAND_H_

#include "cli/compression_map_command.h"

#include <iostream>
#include <memory>

#include "absl/strings/str_cat.h"
#include "common/addressing/compression_map.h"
#include "common/addressing/npy.h"
#include "common/addressing/tokenizer_compression.h"
#include "common/addressing/tokenizer_json.h"
#include "common/json_writer.h"
#include "common/status_macros.h"
#include "common/write_file.h"

namespace engram::cli {

absl::Status RunCompressionMapCommand(const CompressionMapOptions& options) {
  if (options.tokenizer_file.empty() || options.out_file.empty()) {
    return absl::InvalidArgumentError(
        "compression-map needs --tokenizer FILE and --out FILE.npy");
  }
  ENGRAM_ASSIGN_OR_RETURN(const TokenizerJson tokenizer,
                          TokenizerJson::Load(options.tokenizer_file));
  ENGRAM_ASSIGN_OR_RETURN(CompressionLookup map,
                          BuildCompressionLookup(tokenizer));
  // The map is written only once it passes the checks every reader of it
  // applies, so a bad one cannot reach a server.
  CompressionMap::Options check;
  check.compressed_vocab = map.compressed_vocab;
  check.expected_raw_vocab = tokenizer.size();
  ENGRAM_RETURN_IF_ERROR(
      CompressionMap::FromLookup(map.lookup, check).status());
  ENGRAM_RETURN_IF_ERROR(WriteStringToFile(
      options.out_file, internal::EncodeNpyInt64(map.lookup)));
  if (options.json) {
    JsonWriter json;
    json.BeginObject();
    json.Key("raw_vocab").Int(tokenizer.size());
    json.Key("tokenizer_vocab").Int(map.compressed_vocab);
    json.Key("out").String(options.out_file);
    json.EndObject();
    std::cout << json.str() << "\n";
  } else {
    std::cout << "tokenizer_vocab " << map.compressed_vocab << " ("
              << tokenizer.size() << " raw ids folded; map written to "
              << options.out_file << ")\n";
  }
  return absl::OkStatus();
}

}  // namespace engram::cli

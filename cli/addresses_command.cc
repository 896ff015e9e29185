#include "cli/addresses_command.h"

#include <cstdint>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "cli/token_batch.h"
#include "common/addressing/compression_map.h"
#include "common/addressing/hash_spec.h"
#include "common/addressing/vector_json.h"
#include "common/cli_flags.h"
#include "common/status_macros.h"

ABSL_FLAG(int64_t, seed, 0, "addresses: global hash seed.");
ABSL_FLAG(std::string, layer_ids, "1,15", "addresses: Engram layer ids.");
ABSL_FLAG(std::string, vocab_sizes, "646400,646400",
          "addresses: target table size per n-gram order 2..max_ngram.");
ABSL_FLAG(int, max_ngram, 3, "addresses: largest n-gram order.");
ABSL_FLAG(int, heads, 8, "addresses: hash heads per n-gram order.");
ABSL_FLAG(int64_t, pad_id, 2, "addresses: padding token (raw id).");
ABSL_FLAG(int64_t, tokenizer_vocab, 129280,
          "addresses: size of the compressed vocabulary.");
ABSL_FLAG(std::string, compression, "",
          "addresses, explain: .npy int64 map raw id -> compressed id "
          "(identity if unset).");
ABSL_FLAG(std::string, tokens, "",
          "addresses, explain: token ids, ',' between tokens, ';' between "
          "sequences.");

namespace engram::cli {

absl::StatusOr<std::string> RunAddressesCommand() {
  if (absl::GetFlag(FLAGS_tokens).empty()) {
    return absl::InvalidArgumentError("--tokens is required");
  }
  HashSpecConfig config;
  config.seed = absl::GetFlag(FLAGS_seed);
  ENGRAM_ASSIGN_OR_RETURN(
      config.layer_ids,
      ParseIntegerList("layer-ids", absl::GetFlag(FLAGS_layer_ids)));
  ENGRAM_ASSIGN_OR_RETURN(
      config.vocab_sizes,
      ParseIntegerList("vocab-sizes", absl::GetFlag(FLAGS_vocab_sizes)));
  config.max_ngram = absl::GetFlag(FLAGS_max_ngram);
  config.heads_per_ngram = absl::GetFlag(FLAGS_heads);
  // Row width does not affect addresses; one value per head keeps it valid.
  config.n_embed_per_ngram = config.heads_per_ngram;
  config.pad_id = absl::GetFlag(FLAGS_pad_id);
  config.tokenizer_vocab = absl::GetFlag(FLAGS_tokenizer_vocab);
  if (const std::string path = absl::GetFlag(FLAGS_compression);
      !path.empty()) {
    CompressionMap::Options options;
    options.compressed_vocab = config.tokenizer_vocab;
    ENGRAM_ASSIGN_OR_RETURN(config.compression,
                            CompressionMap::Load(path, options));
  }
  ENGRAM_ASSIGN_OR_RETURN(HashSpec spec, HashSpec::FromConfig(config));
  ENGRAM_ASSIGN_OR_RETURN(
      TokenBatch batch,
      ParseTokenBatch(absl::GetFlag(FLAGS_tokens), config.pad_id));
  // Full-length batches get the reference layout exactly, with no lengths.
  return AddressesToJson(spec, batch.tokens, batch.batch, batch.time,
                         batch.ragged()
                             ? absl::Span<const int32_t>(batch.lengths)
                             : absl::Span<const int32_t>());
}

}  // namespace engram::cli

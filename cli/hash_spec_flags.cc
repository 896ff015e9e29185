#include "cli/hash_spec_flags.h"

#include <cstdint>
#include <string>

#include "absl/flags/flag.h"
#include "common/addressing/compression_map.h"
#include "common/cli_flags.h"
#include "common/status_macros.h"

ABSL_FLAG(int64_t, seed, 0,
          "addresses, import --hash-layer: global hash seed.");
ABSL_FLAG(std::string, layer_ids, "1,15",
          "addresses, import --hash-layer: the model's Engram layer ids.");
ABSL_FLAG(std::string, vocab_sizes, "646400,646400",
          "addresses, import --hash-layer: target table size per n-gram "
          "order 2..max_ngram.");
ABSL_FLAG(int, max_ngram, 3,
          "addresses, import --hash-layer: largest n-gram order.");
ABSL_FLAG(int, heads, 8,
          "addresses, import --hash-layer: hash heads per n-gram order.");
ABSL_FLAG(int64_t, pad_id, 2,
          "addresses, import --hash-layer: padding token (raw id).");
ABSL_FLAG(int64_t, tokenizer_vocab, 129280,
          "addresses, import --hash-layer: size of the compressed "
          "vocabulary.");
ABSL_FLAG(int64_t, n_embed_per_ngram, 0,
          "import --hash-layer: embedding width per n-gram order; 0: the "
          "file's values per row x --heads (give it for opaque rows).");
ABSL_FLAG(std::string, compression, "",
          "addresses, explain, import --hash-layer: .npy int64 map raw id "
          "-> compressed id (identity if unset).");

namespace engram::cli {

absl::StatusOr<HashSpecConfig> HashSpecConfigFromFlags() {
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
  config.n_embed_per_ngram = absl::GetFlag(FLAGS_n_embed_per_ngram);
  config.pad_id = absl::GetFlag(FLAGS_pad_id);
  config.tokenizer_vocab = absl::GetFlag(FLAGS_tokenizer_vocab);
  if (const std::string path = absl::GetFlag(FLAGS_compression);
      !path.empty()) {
    CompressionMap::Options options;
    options.compressed_vocab = config.tokenizer_vocab;
    ENGRAM_ASSIGN_OR_RETURN(config.compression,
                            CompressionMap::Load(path, options));
  }
  return config;
}

}  // namespace engram::cli

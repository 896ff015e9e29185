#include "cli/hash_spec_flags.h"

#include <cstdint>
#include <optional>
#include <string>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/addressing/compression_map.h"
#include "common/cli_flags.h"
#include "common/engram_model_config.h"
#include "common/status_macros.h"

// Unset (nullopt, empty) means the demo configuration's value, which
// HashSpecConfig holds, and lets --model-config tell a flag given beside it.
ABSL_FLAG(std::optional<int64_t>, seed, std::nullopt,
          "addresses, import --hash-layer: global hash seed (default 0).");
ABSL_FLAG(std::string, layer_ids, "",
          "addresses, import --hash-layer: the model's Engram layer ids "
          "(default 1,15).");
ABSL_FLAG(std::string, vocab_sizes, "",
          "addresses, import --hash-layer: target table size per n-gram "
          "order 2..max_ngram (default 646400 each).");
ABSL_FLAG(std::optional<int>, max_ngram, std::nullopt,
          "addresses, import --hash-layer: largest n-gram order (default "
          "3).");
ABSL_FLAG(std::optional<int>, heads, std::nullopt,
          "addresses, import --hash-layer: hash heads per n-gram order "
          "(default 8).");
ABSL_FLAG(std::optional<int64_t>, pad_id, std::nullopt,
          "addresses, import --hash-layer: padding token, a raw id (default "
          "2).");
ABSL_FLAG(std::optional<int64_t>, tokenizer_vocab, std::nullopt,
          "addresses, import --hash-layer: size of the compressed vocabulary "
          "(default 129280).");
ABSL_FLAG(std::optional<int64_t>, n_embed_per_ngram, std::nullopt,
          "import --hash-layer: embedding width per n-gram order (default: "
          "the file's values per row x --heads; give it for opaque rows).");
ABSL_FLAG(std::string, compression, "",
          "addresses, explain, import --hash-layer: .npy int64 map raw id "
          "-> compressed id (identity if unset). import --hash-spec: the map "
          "the spec names. export --hash-spec: where to write the table's "
          "map.");
ABSL_FLAG(std::string, hash_spec, "",
          "export: also write the table's addressing (its hash spec, JSON) "
          "to this file, and with --compression its map. import: the table "
          "is addressed by the spec in this file (as export --hash-spec "
          "wrote it, with --compression for its map), in place of "
          "--hash-layer.");
ABSL_FLAG(std::string, model_config, "",
          "addresses, explain, import --hash-layer: engram-worker's model "
          "config JSON, whose engram section (and its compression_map) "
          "gives the addressing in place of the flags above.");

namespace engram::cli {
namespace {

// The first addressing flag given, as typed ("--seed"); empty for none.
std::string GivenAddressingFlag() {
  if (absl::GetFlag(FLAGS_seed)) return "--seed";
  if (!absl::GetFlag(FLAGS_layer_ids).empty()) return "--layer-ids";
  if (!absl::GetFlag(FLAGS_vocab_sizes).empty()) return "--vocab-sizes";
  if (absl::GetFlag(FLAGS_max_ngram)) return "--max-ngram";
  if (absl::GetFlag(FLAGS_heads)) return "--heads";
  if (absl::GetFlag(FLAGS_pad_id)) return "--pad-id";
  if (absl::GetFlag(FLAGS_tokenizer_vocab)) return "--tokenizer-vocab";
  if (absl::GetFlag(FLAGS_n_embed_per_ngram)) return "--n-embed-per-ngram";
  if (!absl::GetFlag(FLAGS_compression).empty()) return "--compression";
  return "";
}

// InvalidArgument when an addressing flag is given beside --model-config:
// which of the two would win is not obvious to a reader of the command.
absl::Status NoAddressingFlagBeside(const std::string& model_config) {
  const std::string given = GivenAddressingFlag();
  if (given.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(given, " and --model-config ", model_config,
                   " both give the Engram addressing: give one"));
}

}  // namespace

absl::StatusOr<HashSpecConfig> HashSpecConfigFromFlags() {
  if (const std::string path = absl::GetFlag(FLAGS_model_config);
      !path.empty()) {
    ENGRAM_RETURN_IF_ERROR(NoAddressingFlagBeside(path));
    return LoadEngramConfig(path);
  }
  HashSpecConfig config;
  config.seed = absl::GetFlag(FLAGS_seed).value_or(config.seed);
  if (const std::string ids = absl::GetFlag(FLAGS_layer_ids); !ids.empty()) {
    ENGRAM_ASSIGN_OR_RETURN(config.layer_ids,
                            ParseIntegerList("layer-ids", ids));
  }
  if (const std::string sizes = absl::GetFlag(FLAGS_vocab_sizes);
      !sizes.empty()) {
    ENGRAM_ASSIGN_OR_RETURN(config.vocab_sizes,
                            ParseIntegerList("vocab-sizes", sizes));
  }
  config.max_ngram = absl::GetFlag(FLAGS_max_ngram).value_or(config.max_ngram);
  config.heads_per_ngram =
      absl::GetFlag(FLAGS_heads).value_or(config.heads_per_ngram);
  // 0 asks the import to count the file's values.
  config.n_embed_per_ngram = absl::GetFlag(FLAGS_n_embed_per_ngram).value_or(0);
  config.pad_id = absl::GetFlag(FLAGS_pad_id).value_or(config.pad_id);
  config.tokenizer_vocab =
      absl::GetFlag(FLAGS_tokenizer_vocab).value_or(config.tokenizer_vocab);
  if (const std::string path = absl::GetFlag(FLAGS_compression);
      !path.empty()) {
    CompressionMap::Options options;
    options.compressed_vocab = config.tokenizer_vocab;
    ENGRAM_ASSIGN_OR_RETURN(config.compression,
                            CompressionMap::Load(path, options));
  }
  return config;
}

absl::StatusOr<std::string> CompressionFileFromFlags() {
  const std::string path = absl::GetFlag(FLAGS_model_config);
  if (path.empty()) return absl::GetFlag(FLAGS_compression);
  ENGRAM_RETURN_IF_ERROR(NoAddressingFlagBeside(path));
  ENGRAM_ASSIGN_OR_RETURN(const v1::ModelConfig config,
                          ReadModelConfigJson(path));
  return CompressionMapPath(path, config.engram());
}

absl::StatusOr<std::optional<TableAddressing>> TableAddressingFromFlags() {
  const std::string path = absl::GetFlag(FLAGS_hash_spec);
  if (path.empty()) return std::nullopt;
  // GivenAddressingFlag names --compression, which goes with the spec, only
  // when no other addressing flag is given.
  if (const std::string given = !absl::GetFlag(FLAGS_model_config).empty()
                                    ? "--model-config"
                                    : GivenAddressingFlag();
      !given.empty() && given != "--compression") {
    return absl::InvalidArgumentError(
        absl::StrCat(given, " and --hash-spec ", path,
                     " both give the table's addressing: give one"));
  }
  return LoadTableAddressing(path, absl::GetFlag(FLAGS_compression));
}

bool AddressingFlagsGiven() {
  return !absl::GetFlag(FLAGS_model_config).empty() ||
         !absl::GetFlag(FLAGS_compression).empty();
}

}  // namespace engram::cli

#include "common/engram_model_config.h"

#include <filesystem>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/addressing/compression_map.h"
#include "common/read_file.h"
#include "common/status_context.h"
#include "common/status_macros.h"
#include "google/protobuf/util/json_util.h"

namespace engram {

absl::StatusOr<v1::ModelConfig> ReadModelConfigJson(const std::string& path) {
  ENGRAM_ASSIGN_OR_RETURN(const std::string text,
                          ReadFileToString(path, "model config "));
  v1::ModelConfig proto;
  const auto parsed = google::protobuf::util::JsonStringToMessage(text, &proto);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", parsed.message().as_string()));
  }
  return proto;
}

std::string CompressionMapPath(const std::string& config_path,
                               const v1::EngramModelConfig& engram) {
  if (engram.compression_map().empty()) return "";
  const std::filesystem::path map(engram.compression_map());
  if (map.is_absolute()) return map.string();
  return (std::filesystem::path(config_path).parent_path() / map).string();
}

absl::Status ApplyEngramModelConfig(const std::string& config_path,
                                    const v1::EngramModelConfig& engram,
                                    HashSpecConfig& config) {
  if (engram.layer_ids_size() > 0) {
    config.layer_ids.assign(engram.layer_ids().begin(),
                            engram.layer_ids().end());
  }
  if (engram.vocab_sizes_size() > 0) {
    config.vocab_sizes.assign(engram.vocab_sizes().begin(),
                              engram.vocab_sizes().end());
  }
  if (engram.has_seed()) config.seed = engram.seed();
  if (engram.has_max_ngram()) config.max_ngram = engram.max_ngram();
  if (engram.has_heads_per_ngram()) {
    config.heads_per_ngram = engram.heads_per_ngram();
  }
  if (engram.has_n_embed_per_ngram()) {
    config.n_embed_per_ngram = engram.n_embed_per_ngram();
  }
  if (engram.has_pad_id()) config.pad_id = engram.pad_id();
  if (engram.has_tokenizer_vocab()) {
    config.tokenizer_vocab = engram.tokenizer_vocab();
  }
  if (engram.has_compression_map()) {
    ENGRAM_ASSIGN_OR_RETURN(
        std::unique_ptr<CompressionMap> map,
        CompressionMap::Load(CompressionMapPath(config_path, engram),
                             {.compressed_vocab = config.tokenizer_vocab}));
    config.compression = std::move(map);
  }
  return absl::OkStatus();
}

absl::StatusOr<HashSpecConfig> LoadEngramConfig(const std::string& path) {
  ENGRAM_ASSIGN_OR_RETURN(const v1::ModelConfig proto,
                          ReadModelConfigJson(path));
  HashSpecConfig config;
  ENGRAM_RETURN_IF_ERROR(
      Annotate(ApplyEngramModelConfig(path, proto.engram(), config),
               absl::StrCat(path, ": ")));
  return config;
}

}  // namespace engram

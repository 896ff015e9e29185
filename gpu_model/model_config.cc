#include "gpu_model/model_config.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/engram_model_config.h"
#include "common/status_context.h"
#include "common/status_macros.h"
#include "engram/v1/model_config.pb.h"

namespace engram::gpu {
namespace {

absl::Status Positive(const char* field, int64_t value) {
  if (value > 0) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("model config: ", field, " must be positive, not ", value));
}

// Copies the fields `proto` (read from `path`) sets over the defaults in
// `config`.
absl::Status ApplyProto(const std::string& path, const v1::ModelConfig& proto,
                        ModelConfig& config) {
  if (proto.has_vocab_size()) config.vocab_size = proto.vocab_size();
  if (proto.has_hidden()) config.hidden = proto.hidden();
  if (proto.has_layers()) config.layers = proto.layers();
  if (proto.has_heads()) config.heads = proto.heads();
  if (proto.has_head_dim()) config.head_dim = proto.head_dim();
  if (proto.has_ffn_hidden()) config.ffn_hidden = proto.ffn_hidden();
  if (proto.has_max_seq()) config.max_seq = proto.max_seq();
  if (proto.has_rope_theta()) config.rope_theta = proto.rope_theta();
  if (proto.has_norm_eps()) config.norm_eps = proto.norm_eps();
  if (proto.has_hc_mult()) config.hc_mult = proto.hc_mult();
  if (proto.engram().has_conv_kernel()) {
    config.conv_kernel = proto.engram().conv_kernel();
  }
  return ApplyEngramModelConfig(path, proto.engram(), config.engram);
}

}  // namespace

absl::Status ValidateModelConfig(const ModelConfig& config) {
  ENGRAM_RETURN_IF_ERROR(Positive("vocab_size", config.vocab_size));
  ENGRAM_RETURN_IF_ERROR(Positive("hidden", config.hidden));
  ENGRAM_RETURN_IF_ERROR(Positive("layers", config.layers));
  ENGRAM_RETURN_IF_ERROR(Positive("heads", config.heads));
  ENGRAM_RETURN_IF_ERROR(Positive("head_dim", config.head_dim));
  ENGRAM_RETURN_IF_ERROR(Positive("ffn_hidden", config.ffn_hidden));
  ENGRAM_RETURN_IF_ERROR(Positive("max_seq", config.max_seq));
  ENGRAM_RETURN_IF_ERROR(Positive("hc_mult", config.hc_mult));
  ENGRAM_RETURN_IF_ERROR(Positive("engram.conv_kernel", config.conv_kernel));
  if (config.head_dim % 2 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("model config: head_dim must be even (rotary pairs), not ",
                     config.head_dim));
  }
  for (const int64_t layer : config.engram.layer_ids) {
    if (layer < 0 || layer >= config.layers) {
      return absl::InvalidArgumentError(
          absl::StrCat("model config: engram.layer_ids has ", layer,
                       ", outside the model's ", config.layers, " layers"));
    }
  }
  const int64_t raw_vocab = config.engram.compression != nullptr
                                ? config.engram.compression->raw_vocab()
                                : config.engram.tokenizer_vocab;
  if (config.vocab_size > raw_vocab) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model config: vocab_size ", config.vocab_size,
        " exceeds the Engram addressing's raw vocabulary of ", raw_vocab,
        " (engram.tokenizer_vocab or the compression map's length)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<ModelConfig> LoadModelConfig(const std::string& path) {
  ENGRAM_ASSIGN_OR_RETURN(const v1::ModelConfig proto,
                          ReadModelConfigJson(path));
  ModelConfig config;
  absl::Status status = ApplyProto(path, proto, config);
  if (status.ok()) status = ValidateModelConfig(config);
  if (!status.ok()) {
    return Annotate(status, absl::StrCat(path, ": "));
  }
  return config;
}

}  // namespace engram::gpu

// ModelConfig: the sizes of engram-worker's model and its Engram config,
// with the demo model as defaults, read from a JSON file of
// engram.v1.ModelConfig (proto/engram/v1/model_config.proto).
//
//   ENGRAM_ASSIGN_OR_RETURN(ModelConfig config, LoadModelConfig("m.json"));
//   ENGRAM_ASSIGN_OR_RETURN(HashSpec spec,
//   HashSpec::FromConfig(config.engram));
//
// The demo model (ModelConfig{}) is a 16-layer, 256-wide decoder with the
// reference's Engram layers 1 and 15, addressed exactly like the tables of
// `engram-server --demo`.
#ifndef ENGRAM_GPU_MODEL_MODEL_CONFIG_H_
#define ENGRAM_GPU_MODEL_MODEL_CONFIG_H_

#include <string>

#include "absl/status/statusor.h"
#include "common/addressing/hash_spec.h"

namespace engram::gpu {

struct ModelConfig {
  int vocab_size = 129280;  // token embedding and LM head rows
  int hidden = 256;
  int layers = 16;
  int heads = 4;
  int head_dim = 64;
  int ffn_hidden = 768;  // SwiGLU inner size
  int max_seq = 2048;    // KV cache positions per sequence
  float rope_theta = 10000.0f;
  float norm_eps = 1e-6f;  // the backbone's RMSNorms
  int hc_mult = 1;         // hyper-connection branches
  int conv_kernel = 4;     // the Engram ShortConv's kernel
  // The Engram layers (layer_ids) and their addressing.
  HashSpecConfig engram;

  // Values per token of an Engram layer: (max_ngram - 1) * n_embed_per_ngram.
  int engram_dim() const {
    return static_cast<int>((engram.max_ngram - 1) * engram.n_embed_per_ngram);
  }
};

// ValidateModelConfig: InvalidArgument naming the field for sizes that are
// not positive, an odd head_dim, Engram layers outside [0, layers), or a
// token vocabulary the Engram addressing cannot take (ids beyond its raw
// vocabulary).
absl::Status ValidateModelConfig(const ModelConfig& config);

// LoadModelConfig reads a JSON engram.v1.ModelConfig; absent fields keep
// the demo model's values. NotFound for an unreadable file; InvalidArgument
// naming the file and the field for bad JSON or values.
absl::StatusOr<ModelConfig> LoadModelConfig(const std::string& path);

}  // namespace engram::gpu

#endif  // ENGRAM_GPU_MODEL_MODEL_CONFIG_H_

// ModelWeights: the parameters of engram-worker's model in host memory, by
// name, from seeded random init or a .safetensors file.
//
//   ENGRAM_ASSIGN_OR_RETURN(ModelWeights weights,
//                           ModelWeights::Load("model.safetensors", config));
//   const ModelWeights::Tensor& lm_head = weights.Get("lm_head.weight");
//
// Tensor names and shapes (PyTorch layouts, linear weights [out][in];
// D = hidden, A = heads * head_dim, F = ffn_hidden, E = engram_dim,
// C = hc_mult, V = vocab_size, K = conv_kernel):
//   embed_tokens.weight [V, D]             norm.weight [D]
//   lm_head.weight [V, D]
//   layers.{i}.attn_norm.weight [D]        layers.{i}.mlp_norm.weight [D]
//   layers.{i}.attn.{q,k,v}_proj.weight [A, D]
//   layers.{i}.attn.o_proj.weight [D, A]
//   layers.{i}.mlp.{gate,up}_proj.weight [F, D]
//   layers.{i}.mlp.down_proj.weight [D, F]
// and at each Engram layer i, the reference module's names:
//   layers.{i}.engram.value_proj.{weight [D, E], bias [D]}
//   layers.{i}.engram.key_projs.{c}.{weight [D, E], bias [D]}   c < C
//   layers.{i}.engram.norm1.{c}.weight [D]  (key norms)
//   layers.{i}.engram.norm2.{c}.weight [D]  (query norms)
//   layers.{i}.engram.short_conv.conv.weight [C*D, 1, K]
//   layers.{i}.engram.short_conv.norms.{c}.weight [D]
// A file may hold F32, BF16 or F16 tensors; other tensors in it are ignored.
#ifndef ENGRAM_GPU_MODEL_MODEL_WEIGHTS_H_
#define ENGRAM_GPU_MODEL_MODEL_WEIGHTS_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "gpu_model/model_config.h"

namespace engram::gpu {

// The name and shape of every tensor the model of `config` needs, in a
// fixed order.
std::vector<std::pair<std::string, std::vector<uint64_t>>> ExpectedTensors(
    const ModelConfig& config);

class ModelWeights {
 public:
  struct Tensor {
    std::vector<uint64_t> shape;
    std::vector<float> values;
  };

  // Deterministic in `seed`: projections uniform with standard deviation
  // 1/sqrt(fan_in), norms 1, Engram biases small, embeddings of unit
  // scale.
  static ModelWeights Random(const ModelConfig& config, uint64_t seed);

  // Reads every tensor of ExpectedTensors(config) from a .safetensors file.
  // NotFound for an unreadable file; InvalidArgument naming the tensor for
  // one that is missing, of another shape, or of a dtype other than F32,
  // BF16 and F16.
  static absl::StatusOr<ModelWeights> Load(const std::string& path,
                                           const ModelConfig& config);

  // Writes the weights as a .safetensors file of F32 tensors (so a seeded
  // model can be loaded elsewhere, e.g. by PyTorch). Internal on I/O errors.
  absl::Status Save(const std::string& path) const;

  // REQUIRES: `name` is one of ExpectedTensors' names.
  const Tensor& Get(const std::string& name) const;

 private:
  std::vector<std::string> order_;
  absl::flat_hash_map<std::string, Tensor> tensors_;
};

}  // namespace engram::gpu

#endif  // ENGRAM_GPU_MODEL_MODEL_WEIGHTS_H_

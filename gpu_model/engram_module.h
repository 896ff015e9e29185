// EngramModule: the reference Engram block (engram_demo_v1.py's Engram
// class) on a Backend, given the rows the prefetcher fetched.
//
// For each token, e = its rows concatenated (engram_dim values). Per
// hyper-connection branch c: key = RMSNorm1_c(W_k,c e + b_k,c),
// query = RMSNorm2_c(h_c), g = dot(key, query) / sqrt(hidden),
// g = sign(g) sqrt(max(|g|, 1e-6)); value_c = sigmoid(g) (W_v e + b_v).
// Then out = value + ShortConv(value), where ShortConv is a per-branch
// RMSNorm (eps 1e-5), a causal depthwise conv1d over the branches' channels
// (kernel `kernel`, dilation max_ngram, no bias) and SiLU; the caller's
// hidden state gets out added (the block does this before attention).
//
//   ENGRAM_ASSIGN_OR_RETURN(std::unique_ptr<EngramModule> module,
//                           EngramModule::Create(backend, shape, weights,
//                                                /*max_batch=*/8,
//                                                /*max_tokens=*/8 * 512));
//   module->ResetHistory();                           // new sequences
//   module->Forward(embeddings, batch, time, hidden); // prefill
//   module->Forward(embeddings, batch, 1, hidden);    // each decode step
//
// The conv's history (the last (kernel-1)*dilation normalised values of
// each sequence) is kept between calls, so decode steps give what one
// prefill over the whole text would.
//
// Not thread-safe (a Backend is driven by one thread).
#ifndef ENGRAM_GPU_MODEL_ENGRAM_MODULE_H_
#define ENGRAM_GPU_MODEL_ENGRAM_MODULE_H_

#include <cstddef>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "gpu_model/backend.h"

namespace engram::gpu {

struct EngramModuleShape {
  // The backbone's hidden size (per branch).
  int hidden = 0;
  // Hyper-connection branches (the reference's hc_mult).
  int branches = 1;
  // Values per token: (max_ngram - 1) * n_embed_per_ngram.
  int engram_dim = 0;
  // ShortConv's kernel size and dilation (the reference: 4 and max_ngram).
  int kernel = 4;
  int dilation = 3;
  // RMSNorm epsilons: the gate's norms use nn.RMSNorm's default (the
  // float32 machine epsilon), ShortConv's norms 1e-5.
  float gate_norm_eps = 1.1920929e-07f;
  float conv_norm_eps = 1e-5f;
};

// The module's parameters, in backend memory, PyTorch layouts.
struct EngramModuleWeights {
  const float* value_proj_weight = nullptr;  // [hidden][engram_dim]
  const float* value_proj_bias = nullptr;    // [hidden]
  // One per branch.
  std::vector<const float*> key_proj_weight;  // [hidden][engram_dim]
  std::vector<const float*> key_proj_bias;    // [hidden]
  std::vector<const float*> key_norm;         // norm1: [hidden]
  std::vector<const float*> query_norm;       // norm2: [hidden]
  std::vector<const float*> conv_norm;        // short_conv.norms: [hidden]
  const float* conv_weight = nullptr;         // [branches * hidden][kernel]
};

class EngramModule {
 public:
  // Allocates scratch for up to max_batch sequences and max_tokens tokens
  // per call. InvalidArgument for a bad shape or missing weights;
  // ResourceExhausted. `backend` must outlive the module.
  static absl::StatusOr<std::unique_ptr<EngramModule>> Create(
      Backend* backend, const EngramModuleShape& shape,
      EngramModuleWeights weights, int max_batch, int max_tokens);

  const EngramModuleShape& shape() const { return shape_; }

  // Starts new sequences: the conv history becomes zeros.
  void ResetHistory();

  // hidden [batch][time][branches][hidden] += the module's output for
  // `embeddings` [batch][time][engram_dim], the next `time` tokens of each
  // sequence. REQUIRES: batch <= max_batch, batch * time <= max_tokens, the
  // same batch as since the last ResetHistory.
  void Forward(const float* embeddings, int batch, int time, float* hidden);

 private:
  EngramModule(Backend* backend, const EngramModuleShape& shape,
               EngramModuleWeights weights, int max_batch);
  size_t history_floats() const;

  Backend* const backend_;
  const EngramModuleShape shape_;
  const EngramModuleWeights weights_;
  const int max_batch_;
  // Scratch, [max_tokens] rows each.
  float* value_ = nullptr;     // [hidden]: W_v e + b_v
  float* key_ = nullptr;       // [hidden]
  float* query_ = nullptr;     // [hidden]
  float* gated_ = nullptr;     // [branches][hidden]
  float* conv_in_ = nullptr;   // [branches][hidden], normalised
  float* conv_out_ = nullptr;  // [branches][hidden]
  float* history_ = nullptr;   // [max_batch][(kernel-1)*dilation][channels]
  std::vector<float> zeros_;   // host zeros for ResetHistory
};

}  // namespace engram::gpu

#endif  // ENGRAM_GPU_MODEL_ENGRAM_MODULE_H_

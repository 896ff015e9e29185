// Model: engram-worker's decoder (token embedding, per layer RMSNorm +
// rotary attention with a KV cache + RMSNorm + SwiGLU MLP, final RMSNorm,
// LM head) with Engram modules at the config's layers, on a Backend, its
// Engram rows coming from a client::Prefetcher.
//
//   ENGRAM_ASSIGN_OR_RETURN(std::unique_ptr<Model> model,
//                           Model::Create(backend, config, weights,
//                                         prefetcher, {.max_batch = 1}));
//   ENGRAM_ASSIGN_OR_RETURN(std::vector<int32_t> next,
//                           model->Prefill(prompt, /*batch=*/1,
//                           prompt.size()));
//   for (...) ENGRAM_ASSIGN_OR_RETURN(next, model->Decode(next));
//
// Overlap: a step's addresses for every Engram layer are computed and all
// its lookups start before layer 0 runs (in decode: as soon as the token is
// sampled, which is the step's start); the model waits for a layer's rows
// only when it reaches that layer, and adds up how long it waited.
//
// Hyper-connections (hc_mult C > 1): the residual stream has C branches;
// the Engram module works on them as the reference does, attention and the
// MLP read their mean and add their output to every branch, and the LM head
// reads the mean. With C = 1 this is the plain pre-norm decoder.
//
// Sampling is greedy (the first of equal maxima), so outputs are
// deterministic. Not thread-safe.
#ifndef ENGRAM_GPU_MODEL_MODEL_H_
#define ENGRAM_GPU_MODEL_MODEL_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "client/prefetcher.h"
#include "gpu_model/backend.h"
#include "gpu_model/engram_module.h"
#include "gpu_model/model_config.h"
#include "gpu_model/model_weights.h"

namespace engram::gpu {

struct ModelOptions {
  // Sequences per step.
  int max_batch = 1;
  // KV cache positions per sequence (prompt plus generated tokens);
  // 0: the config's max_seq.
  int max_positions = 0;
  // How long a layer may wait for its rows before the step fails with
  // DeadlineExceeded.
  absl::Duration row_wait_timeout = absl::Seconds(10);
};

class Model {
 public:
  // Uploads the weights and allocates activations and caches.
  // InvalidArgument when the prefetcher's layers do not match the config's
  // Engram layers (count, values per token, element types other than f32,
  // bf16, f16); ResourceExhausted. `backend` and `prefetcher` must outlive
  // the model; `prefetcher` may be null for a model without Engram layers.
  static absl::StatusOr<std::unique_ptr<Model>> Create(
      Backend* backend, const ModelConfig& config, const ModelWeights& weights,
      client::Prefetcher* prefetcher, const ModelOptions& options);
  ~Model();

  const ModelConfig& config() const { return config_; }

  // Starts `batch` new sequences with `tokens` [batch][time] and returns
  // each one's next token. With `logits` non-null, also its logits
  // [batch][vocab_size]. InvalidArgument for bad shapes, tokens outside
  // the vocabulary or more than max_positions; the lookups' errors.
  absl::StatusOr<std::vector<int32_t>> Prefill(
      absl::Span<const int32_t> tokens, int batch, int time,
      std::vector<float>* logits = nullptr);

  // Appends one token per sequence (the last Prefill's batch) and returns
  // the next ones. Errors as Prefill; FailedPrecondition before a Prefill.
  absl::StatusOr<std::vector<int32_t>> Decode(
      absl::Span<const int32_t> tokens, std::vector<float>* logits = nullptr);

  // Time spent waiting for rows, per Engram layer, since creation.
  const std::vector<absl::Duration>& row_wait() const { return row_wait_; }

 private:
  struct LayerWeights;
  struct EngramLayer;

  Model(Backend* backend, const ModelConfig& config,
        client::Prefetcher* prefetcher, const ModelOptions& options);
  absl::Status Init(const ModelWeights& weights);
  absl::StatusOr<const float*> Upload(const ModelWeights& weights,
                                      const std::string& name);
  absl::Status CheckTokens(absl::Span<const int32_t> tokens) const;
  // Runs `time` new tokens of each sequence through the model, the step's
  // rows arriving through `step`, and samples.
  absl::StatusOr<std::vector<int32_t>> Forward(absl::Span<const int32_t> tokens,
                                               int batch, int time,
                                               const client::PrefetchStep* step,
                                               std::vector<float>* logits);
  // Starts the lookups of a step; null without Engram layers.
  absl::StatusOr<std::unique_ptr<client::PrefetchStep>> StartLookups(
      absl::Span<const int32_t> tokens, int batch, int time, bool prefill);
  // Output spans of the staging buffers for `positions` tokens.
  std::vector<absl::Span<char>> RowBuffers(int positions) const;
  // hidden_'s branch mean (or hidden_ itself for one branch).
  const float* BackboneInput(int rows);
  // Adds a backbone block's output [rows][hidden] to every branch.
  void AddToResidual(const float* output, int rows);

  Backend* const backend_;
  const ModelConfig config_;
  client::Prefetcher* const prefetcher_;
  const ModelOptions options_;
  int max_positions_ = 0;
  int max_tokens_ = 0;  // max_batch * max_positions

  const float* embed_ = nullptr;
  const float* final_norm_ = nullptr;
  const float* lm_head_ = nullptr;
  std::vector<LayerWeights> layers_;
  // Per Engram layer, in prefetcher order; layer_engram_[i] is the index of
  // layer i's Engram module or -1.
  std::vector<std::unique_ptr<EngramLayer>> engram_;
  std::vector<int> layer_engram_;

  // Activations, [max_tokens] rows.
  float* hidden_ = nullptr;  // [hc_mult][hidden]
  float* mixed_ = nullptr;   // [hidden]: the branch mean
  float* normed_ = nullptr;  // [hidden]
  float* q_ = nullptr;       // [heads * head_dim]
  float* k_ = nullptr;
  float* v_ = nullptr;
  float* attention_ = nullptr;
  float* block_out_ = nullptr;  // [hidden]
  float* gate_ = nullptr;       // [ffn_hidden]
  float* up_ = nullptr;
  float* embeddings_ = nullptr;  // [engram_dim]
  float* logits_ = nullptr;      // [max_batch][vocab_size]
  // KV caches per layer, [max_batch][max_positions][heads][head_dim].
  std::vector<float*> k_cache_;
  std::vector<float*> v_cache_;

  int batch_ = 0;     // sequences since the last Prefill; 0 before one
  int position_ = 0;  // tokens each sequence holds
  std::vector<absl::Duration> row_wait_;
};

}  // namespace engram::gpu

#endif  // ENGRAM_GPU_MODEL_MODEL_H_

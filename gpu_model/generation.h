// Generation: one greedy run of a Model (a prefill, then decode steps) with
// its timings, the unit engram-worker reports and compares across modes.
//
//   ENGRAM_ASSIGN_OR_RETURN(GenerationResult run,
//                           Generate(*model, prompt, batch,
//                           /*decode_tokens=*/32));
//   double decode_rate = run.decode_tokens_per_s();
#ifndef ENGRAM_GPU_MODEL_GENERATION_H_
#define ENGRAM_GPU_MODEL_GENERATION_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "gpu_model/model.h"

namespace engram::gpu {

struct GenerationResult {
  int batch = 0;
  int prompt_tokens = 0;  // per sequence
  int decode_tokens = 0;  // per sequence
  // Generated ids, [batch][decode_tokens]: the prefill's sample, then each
  // decode step's.
  std::vector<int32_t> tokens;
  // Logits of every step, [1 + decode_tokens - 1 steps][batch][vocab], when
  // asked for.
  std::vector<float> logits;
  absl::Duration prefill_time;
  absl::Duration decode_time;
  // Row wait per Engram layer over the whole run.
  std::vector<absl::Duration> row_wait;

  double prefill_tokens_per_s() const;
  double decode_tokens_per_s() const;
};

// Generate runs `prompt` ([batch][time]) through `model`, then samples
// decode_tokens tokens per sequence (the first from the prefill, each next
// one from a decode step fed the previous). With keep_logits, every step's
// logits are returned too. The model's errors.
absl::StatusOr<GenerationResult> Generate(Model& model,
                                          absl::Span<const int32_t> prompt,
                                          int batch, int decode_tokens,
                                          bool keep_logits = false);

}  // namespace engram::gpu

#endif  // ENGRAM_GPU_MODEL_GENERATION_H_

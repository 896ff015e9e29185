#include "gpu_model/generation.h"

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"

namespace engram::gpu {
namespace {

double Rate(int64_t tokens, absl::Duration time) {
  const double seconds = absl::ToDoubleSeconds(time);
  return seconds > 0 ? tokens / seconds : 0.0;
}

}  // namespace

double GenerationResult::prefill_tokens_per_s() const {
  return Rate(int64_t{batch} * prompt_tokens, prefill_time);
}

double GenerationResult::decode_tokens_per_s() const {
  // The first generated token comes from the prefill; decode steps make
  // the others.
  return Rate(int64_t{batch} * (decode_tokens - 1), decode_time);
}

absl::StatusOr<GenerationResult> Generate(Model& model,
                                          absl::Span<const int32_t> prompt,
                                          int batch, int decode_tokens,
                                          bool keep_logits) {
  if (batch <= 0 || prompt.size() % batch != 0 || decode_tokens < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "generation needs a [batch][time] prompt and at least one token to "
        "generate; got ",
        prompt.size(), " prompt tokens, batch ", batch, ", ", decode_tokens,
        " to generate"));
  }
  GenerationResult result;
  result.batch = batch;
  result.prompt_tokens = static_cast<int>(prompt.size() / batch);
  result.decode_tokens = decode_tokens;
  result.tokens.resize(static_cast<size_t>(batch) * decode_tokens);
  const std::vector<absl::Duration> wait_before = model.row_wait();
  std::vector<float> step_logits;
  std::vector<float>* logits_out = keep_logits ? &step_logits : nullptr;
  const auto record = [&](const std::vector<int32_t>& next, int step) {
    for (int b = 0; b < batch; ++b) {
      result.tokens[static_cast<size_t>(b) * decode_tokens + step] = next[b];
    }
    if (keep_logits) {
      result.logits.insert(result.logits.end(), step_logits.begin(),
                           step_logits.end());
    }
  };

  absl::Time start = absl::Now();
  ENGRAM_ASSIGN_OR_RETURN(
      std::vector<int32_t> next,
      model.Prefill(prompt, batch, result.prompt_tokens, logits_out));
  result.prefill_time = absl::Now() - start;
  record(next, 0);
  start = absl::Now();
  for (int step = 1; step < decode_tokens; ++step) {
    ENGRAM_ASSIGN_OR_RETURN(next, model.Decode(next, logits_out));
    record(next, step);
  }
  result.decode_time = absl::Now() - start;
  for (size_t e = 0; e < wait_before.size(); ++e) {
    result.row_wait.push_back(model.row_wait()[e] - wait_before[e]);
  }
  return result;
}

}  // namespace engram::gpu

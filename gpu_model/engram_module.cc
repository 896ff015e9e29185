#include "gpu_model/engram_module.h"

#include <cstddef>
#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace engram::gpu {
namespace {

absl::Status CheckShape(const EngramModuleShape& shape) {
  if (shape.hidden <= 0 || shape.branches <= 0 || shape.engram_dim <= 0 ||
      shape.kernel <= 0 || shape.dilation <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Engram module sizes must be positive: hidden ", shape.hidden,
        ", branches ", shape.branches, ", engram_dim ", shape.engram_dim,
        ", kernel ", shape.kernel, ", dilation ", shape.dilation));
  }
  return absl::OkStatus();
}

absl::Status CheckWeights(const EngramModuleWeights& weights, int branches) {
  const auto per_branch = [&](const std::vector<const float*>& list) {
    if (static_cast<int>(list.size()) != branches) return false;
    for (const float* w : list) {
      if (w == nullptr) return false;
    }
    return true;
  };
  if (weights.value_proj_weight == nullptr ||
      weights.value_proj_bias == nullptr || weights.conv_weight == nullptr ||
      !per_branch(weights.key_proj_weight) ||
      !per_branch(weights.key_proj_bias) || !per_branch(weights.key_norm) ||
      !per_branch(weights.query_norm) || !per_branch(weights.conv_norm)) {
    return absl::InvalidArgumentError(
        absl::StrCat("Engram module weights are incomplete (", branches,
                     " branches need a key projection and three norms each)"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<EngramModule>> EngramModule::Create(
    Backend* backend, const EngramModuleShape& shape,
    EngramModuleWeights weights, int max_batch, int max_tokens) {
  ENGRAM_RETURN_IF_ERROR(CheckShape(shape));
  ENGRAM_RETURN_IF_ERROR(CheckWeights(weights, shape.branches));
  if (max_batch <= 0 || max_tokens < max_batch) {
    return absl::InvalidArgumentError(
        absl::StrCat("Engram module needs 0 < max_batch <= max_tokens, got ",
                     max_batch, " and ", max_tokens));
  }
  std::unique_ptr<EngramModule> module(
      new EngramModule(backend, shape, std::move(weights), max_batch));
  const size_t tokens = max_tokens;
  const size_t hidden = shape.hidden;
  const size_t channels = hidden * shape.branches;
  ENGRAM_ASSIGN_OR_RETURN(module->value_, backend->Allocate(tokens * hidden));
  ENGRAM_ASSIGN_OR_RETURN(module->key_, backend->Allocate(tokens * hidden));
  ENGRAM_ASSIGN_OR_RETURN(module->query_, backend->Allocate(tokens * hidden));
  ENGRAM_ASSIGN_OR_RETURN(module->gated_, backend->Allocate(tokens * channels));
  ENGRAM_ASSIGN_OR_RETURN(module->conv_in_,
                          backend->Allocate(tokens * channels));
  ENGRAM_ASSIGN_OR_RETURN(module->conv_out_,
                          backend->Allocate(tokens * channels));
  ENGRAM_ASSIGN_OR_RETURN(module->history_,
                          backend->Allocate(module->history_floats()));
  return module;
}

EngramModule::EngramModule(Backend* backend, const EngramModuleShape& shape,
                           EngramModuleWeights weights, int max_batch)
    : backend_(backend),
      shape_(shape),
      weights_(std::move(weights)),
      max_batch_(max_batch) {}

size_t EngramModule::history_floats() const {
  return static_cast<size_t>(max_batch_) * (shape_.kernel - 1) *
         shape_.dilation * shape_.hidden * shape_.branches;
}

void EngramModule::ResetHistory() {
  // Zeros are what the reference's left padding of the conv reads.
  zeros_.assign(history_floats(), 0.0f);
  backend_->CopyToDevice(zeros_.data(), zeros_.size(), history_);
}

void EngramModule::Forward(const float* embeddings, int batch, int time,
                           float* hidden) {
  const int rows = batch * time;
  const int dim = shape_.hidden;
  const int branches = shape_.branches;
  const int channels = dim * branches;
  backend_->Linear(embeddings, rows, shape_.engram_dim,
                   weights_.value_proj_weight, weights_.value_proj_bias, dim,
                   value_);
  for (int branch = 0; branch < branches; ++branch) {
    backend_->Linear(embeddings, rows, shape_.engram_dim,
                     weights_.key_proj_weight[branch],
                     weights_.key_proj_bias[branch], dim, key_);
    backend_->RmsNorm(key_, rows, dim, dim, weights_.key_norm[branch],
                      shape_.gate_norm_eps, key_, dim);
    backend_->RmsNorm(hidden + branch * dim, rows, dim, channels,
                      weights_.query_norm[branch], shape_.gate_norm_eps, query_,
                      dim);
    backend_->EngramGate(key_, query_, value_, rows, dim, branch, branches,
                         gated_);
  }
  for (int branch = 0; branch < branches; ++branch) {
    backend_->RmsNorm(gated_ + branch * dim, rows, dim, channels,
                      weights_.conv_norm[branch], shape_.conv_norm_eps,
                      conv_in_ + branch * dim, channels);
  }
  backend_->ShortConvSilu(conv_in_, batch, time, channels, weights_.conv_weight,
                          shape_.kernel, shape_.dilation, history_, conv_out_);
  const size_t outputs = static_cast<size_t>(rows) * channels;
  backend_->Add(hidden, gated_, outputs);
  backend_->Add(hidden, conv_out_, outputs);
}

}  // namespace engram::gpu

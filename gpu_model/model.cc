#include "gpu_model/model.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/hash_spec_proto.h"
#include "common/status_macros.h"

namespace engram::gpu {

struct Model::LayerWeights {
  const float* attn_norm = nullptr;
  const float* q_proj = nullptr;
  const float* k_proj = nullptr;
  const float* v_proj = nullptr;
  const float* o_proj = nullptr;
  const float* mlp_norm = nullptr;
  const float* gate_proj = nullptr;
  const float* up_proj = nullptr;
  const float* down_proj = nullptr;
};

namespace {

// Where each Engram module's tensor of ModelWeights goes: per module
// ("layers.{i}.engram." + name), and per branch c ("layers.{i}.engram." +
// first + c + second).
constexpr std::pair<const float * EngramModuleWeights::*, const char*>
    kEngramTensors[] = {
        {&EngramModuleWeights::value_proj_weight, "value_proj.weight"},
        {&EngramModuleWeights::value_proj_bias, "value_proj.bias"},
        {&EngramModuleWeights::conv_weight, "short_conv.conv.weight"},
};
const std::pair<std::vector<const float*> EngramModuleWeights::*,
                std::pair<const char*, const char*>>
    kEngramBranchTensors[] = {
        {&EngramModuleWeights::key_proj_weight, {"key_projs.", ".weight"}},
        {&EngramModuleWeights::key_proj_bias, {"key_projs.", ".bias"}},
        {&EngramModuleWeights::key_norm, {"norm1.", ".weight"}},
        {&EngramModuleWeights::query_norm, {"norm2.", ".weight"}},
        {&EngramModuleWeights::conv_norm, {"short_conv.norms.", ".weight"}},
};

}  // namespace

struct Model::EngramLayer {
  std::unique_ptr<EngramModule> module;
  ElementType element_type = ElementType::kOpaque;
  // Bytes of one token's rows, and the pinned buffer the prefetcher
  // writes them to: [max_tokens][rows_per_token][row_bytes].
  size_t token_bytes = 0;
  char* staging = nullptr;
};

namespace {

// InvalidArgument unless `prefetcher` fetches, for each Engram layer of
// `config`, rows addressed as the config says with its values per token.
absl::Status CheckPrefetcher(const ModelConfig& config,
                             const client::Prefetcher* prefetcher) {
  const size_t engram_layers = config.engram.layer_ids.size();
  if (prefetcher == nullptr) {
    if (engram_layers == 0) return absl::OkStatus();
    return absl::InvalidArgumentError(
        "a model with Engram layers needs a prefetcher for their rows");
  }
  if (static_cast<size_t>(prefetcher->num_layers()) != engram_layers) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the model has ", engram_layers, " Engram layers but the prefetcher ",
        prefetcher->num_layers(), " tables"));
  }
  // The layer specs below are the identity ones the tables carry; whether
  // token ids are compressed first, and how, is the prefetcher's map.
  if (CompressionDigest(config.engram.compression.get()) !=
      CompressionDigest(prefetcher->compression())) {
    return absl::InvalidArgumentError(
        "the prefetcher compresses token ids otherwise than the model "
        "config's compression_map");
  }
  ENGRAM_ASSIGN_OR_RETURN(const HashSpec spec,
                          HashSpec::FromConfig(config.engram));
  for (int l = 0; l < prefetcher->num_layers(); ++l) {
    // The model was trained with these addresses; a table addressed
    // otherwise belongs to another model.
    ENGRAM_ASSIGN_OR_RETURN(
        const HashSpec layer_spec,
        HashSpecLayerFromProto(HashSpecLayerToProto(spec, l)));
    if (layer_spec.Digest() != prefetcher->hash_spec(l).Digest()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Engram layer ", config.engram.layer_ids[l],
          "'s table is addressed by another hash spec than the model "
          "config's (table ",
          prefetcher->hash_spec(l).Digest(), ", model ", layer_spec.Digest(),
          ")"));
    }
    const ElementType type = prefetcher->element_type(l);
    if (type != ElementType::kF32 && type != ElementType::kBf16 &&
        type != ElementType::kF16) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Engram layer ", config.engram.layer_ids[l], "'s rows are ",
          ElementTypeName(type), "; the model reads f32, bf16 or f16 rows"));
    }
    const int64_t values = static_cast<int64_t>(prefetcher->rows_per_token(l)) *
                           prefetcher->row_bytes(l) / ElementBytes(type);
    if (values != config.engram_dim()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Engram layer ", config.engram.layer_ids[l], "'s table gives ",
          values, " values per token; the model config needs ",
          config.engram_dim(), " ((max_ngram - 1) * n_embed_per_ngram)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Model>> Model::Create(
    Backend* backend, const ModelConfig& config, const ModelWeights& weights,
    client::Prefetcher* prefetcher, const ModelOptions& options) {
  ENGRAM_RETURN_IF_ERROR(ValidateModelConfig(config));
  if (options.max_batch <= 0 || options.max_positions < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model options: max_batch must be positive and max_positions not "
        "negative, got ",
        options.max_batch, " and ", options.max_positions));
  }
  ENGRAM_RETURN_IF_ERROR(CheckPrefetcher(config, prefetcher));
  std::unique_ptr<Model> model(new Model(backend, config, prefetcher, options));
  ENGRAM_RETURN_IF_ERROR(model->Init(weights));
  return model;
}

Model::Model(Backend* backend, const ModelConfig& config,
             client::Prefetcher* prefetcher, const ModelOptions& options)
    : backend_(backend),
      config_(config),
      prefetcher_(prefetcher),
      options_(options),
      max_positions_(options.max_positions > 0 ? options.max_positions
                                               : config.max_seq),
      max_tokens_(options.max_batch * max_positions_),
      row_wait_(config.engram.layer_ids.size()) {}

Model::~Model() = default;

absl::StatusOr<const float*> Model::Upload(const ModelWeights& weights,
                                           const std::string& name) {
  const std::vector<float>& values = weights.Get(name).values;
  ENGRAM_ASSIGN_OR_RETURN(float* device, backend_->Allocate(values.size()));
  backend_->CopyToDevice(values.data(), values.size(), device);
  return device;
}

absl::Status Model::Init(const ModelWeights& weights) {
  ENGRAM_ASSIGN_OR_RETURN(embed_, Upload(weights, "embed_tokens.weight"));
  ENGRAM_ASSIGN_OR_RETURN(final_norm_, Upload(weights, "norm.weight"));
  ENGRAM_ASSIGN_OR_RETURN(lm_head_, Upload(weights, "lm_head.weight"));
  const size_t tokens = max_tokens_;
  const size_t d = config_.hidden;
  const size_t attention =
      static_cast<size_t>(config_.heads) * config_.head_dim;
  layer_engram_.assign(config_.layers, -1);
  for (size_t e = 0; e < config_.engram.layer_ids.size(); ++e) {
    layer_engram_[config_.engram.layer_ids[e]] = static_cast<int>(e);
  }
  // Where each layer's tensor ("layers.{i}." + name) goes.
  static constexpr std::pair<const float * LayerWeights::*, const char*>
      kLayerTensors[] = {
          {&LayerWeights::attn_norm, "attn_norm.weight"},
          {&LayerWeights::q_proj, "attn.q_proj.weight"},
          {&LayerWeights::k_proj, "attn.k_proj.weight"},
          {&LayerWeights::v_proj, "attn.v_proj.weight"},
          {&LayerWeights::o_proj, "attn.o_proj.weight"},
          {&LayerWeights::mlp_norm, "mlp_norm.weight"},
          {&LayerWeights::gate_proj, "mlp.gate_proj.weight"},
          {&LayerWeights::up_proj, "mlp.up_proj.weight"},
          {&LayerWeights::down_proj, "mlp.down_proj.weight"},
      };
  for (int i = 0; i < config_.layers; ++i) {
    const std::string prefix = absl::StrCat("layers.", i, ".");
    LayerWeights layer;
    for (const auto& [field, name] : kLayerTensors) {
      ENGRAM_ASSIGN_OR_RETURN(layer.*field, Upload(weights, prefix + name));
    }
    layers_.push_back(layer);
    const size_t cache =
        static_cast<size_t>(options_.max_batch) * max_positions_ * attention;
    ENGRAM_ASSIGN_OR_RETURN(float* k_cache, backend_->Allocate(cache));
    ENGRAM_ASSIGN_OR_RETURN(float* v_cache, backend_->Allocate(cache));
    k_cache_.push_back(k_cache);
    v_cache_.push_back(v_cache);
  }
  for (size_t e = 0; e < config_.engram.layer_ids.size(); ++e) {
    const std::string prefix =
        absl::StrCat("layers.", config_.engram.layer_ids[e], ".engram.");
    EngramModuleWeights module_weights;
    for (const auto& [field, name] : kEngramTensors) {
      ENGRAM_ASSIGN_OR_RETURN(module_weights.*field,
                              Upload(weights, prefix + name));
    }
    for (int c = 0; c < config_.hc_mult; ++c) {
      for (const auto& [field, name] : kEngramBranchTensors) {
        ENGRAM_ASSIGN_OR_RETURN(
            const float* w,
            Upload(weights, absl::StrCat(prefix, name.first, c, name.second)));
        (module_weights.*field).push_back(w);
      }
    }
    EngramModuleShape shape;
    shape.hidden = config_.hidden;
    shape.branches = config_.hc_mult;
    shape.engram_dim = config_.engram_dim();
    shape.kernel = config_.conv_kernel;
    shape.dilation = config_.engram.max_ngram;
    auto layer = std::make_unique<EngramLayer>();
    ENGRAM_ASSIGN_OR_RETURN(
        layer->module,
        EngramModule::Create(backend_, shape, std::move(module_weights),
                             options_.max_batch, max_tokens_));
    const int l = static_cast<int>(e);
    layer->element_type = prefetcher_->element_type(l);
    layer->token_bytes = static_cast<size_t>(prefetcher_->rows_per_token(l)) *
                         prefetcher_->row_bytes(l);
    ENGRAM_ASSIGN_OR_RETURN(layer->staging, backend_->AllocateHostStaging(
                                                tokens * layer->token_bytes));
    engram_.push_back(std::move(layer));
  }
  const size_t branches = config_.hc_mult;
  ENGRAM_ASSIGN_OR_RETURN(hidden_, backend_->Allocate(tokens * branches * d));
  ENGRAM_ASSIGN_OR_RETURN(mixed_, backend_->Allocate(tokens * d));
  ENGRAM_ASSIGN_OR_RETURN(normed_, backend_->Allocate(tokens * d));
  ENGRAM_ASSIGN_OR_RETURN(q_, backend_->Allocate(tokens * attention));
  ENGRAM_ASSIGN_OR_RETURN(k_, backend_->Allocate(tokens * attention));
  ENGRAM_ASSIGN_OR_RETURN(v_, backend_->Allocate(tokens * attention));
  ENGRAM_ASSIGN_OR_RETURN(attention_, backend_->Allocate(tokens * attention));
  ENGRAM_ASSIGN_OR_RETURN(block_out_, backend_->Allocate(tokens * d));
  ENGRAM_ASSIGN_OR_RETURN(gate_,
                          backend_->Allocate(tokens * config_.ffn_hidden));
  ENGRAM_ASSIGN_OR_RETURN(up_, backend_->Allocate(tokens * config_.ffn_hidden));
  ENGRAM_ASSIGN_OR_RETURN(embeddings_,
                          backend_->Allocate(tokens * config_.engram_dim()));
  ENGRAM_ASSIGN_OR_RETURN(
      logits_, backend_->Allocate(static_cast<size_t>(options_.max_batch) *
                                  config_.vocab_size));
  return backend_->Synchronize();
}

absl::Status Model::CheckTokens(absl::Span<const int32_t> tokens) const {
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0 || tokens[i] >= config_.vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat(
          "token ", tokens[i], " at index ", i,
          " is outside the vocabulary [0, ", config_.vocab_size, ")"));
    }
  }
  return absl::OkStatus();
}

std::vector<absl::Span<char>> Model::RowBuffers(int positions) const {
  std::vector<absl::Span<char>> out;
  for (const std::unique_ptr<EngramLayer>& layer : engram_) {
    out.push_back(
        absl::MakeSpan(layer->staging, positions * layer->token_bytes));
  }
  return out;
}

absl::StatusOr<std::vector<int32_t>> Model::Prefill(
    absl::Span<const int32_t> tokens, int batch, int time,
    std::vector<float>* logits) {
  if (batch <= 0 || batch > options_.max_batch || time <= 0 ||
      time > max_positions_ ||
      tokens.size() != static_cast<size_t>(batch) * time) {
    return absl::InvalidArgumentError(absl::StrCat(
        "prefill of ", tokens.size(), " tokens as [", batch, "][", time,
        "]: needs batch in [1, ", options_.max_batch, "], time in [1, ",
        max_positions_, "] and batch * time tokens"));
  }
  ENGRAM_RETURN_IF_ERROR(CheckTokens(tokens));
  // The lookups go out first, so they travel while the layers before the
  // first Engram layer compute.
  ENGRAM_ASSIGN_OR_RETURN(std::unique_ptr<client::PrefetchStep> step,
                          StartLookups(tokens, batch, time, /*prefill=*/true));
  batch_ = batch;
  position_ = 0;
  for (const std::unique_ptr<EngramLayer>& layer : engram_) {
    layer->module->ResetHistory();
  }
  return Forward(tokens, batch, time, step.get(), logits);
}

absl::StatusOr<std::vector<int32_t>> Model::Decode(
    absl::Span<const int32_t> tokens, std::vector<float>* logits) {
  if (batch_ == 0) {
    return absl::FailedPreconditionError("decode before any prefill");
  }
  if (tokens.size() != static_cast<size_t>(batch_)) {
    return absl::InvalidArgumentError(
        absl::StrCat("decode step of ", tokens.size(), " tokens for ", batch_,
                     " sequences"));
  }
  if (position_ + 1 > max_positions_) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the sequences hold ", position_, " tokens, the KV cache's limit (",
        max_positions_, " positions)"));
  }
  ENGRAM_RETURN_IF_ERROR(CheckTokens(tokens));
  ENGRAM_ASSIGN_OR_RETURN(std::unique_ptr<client::PrefetchStep> step,
                          StartLookups(tokens, batch_, 1, /*prefill=*/false));
  return Forward(tokens, batch_, 1, step.get(), logits);
}

absl::StatusOr<std::unique_ptr<client::PrefetchStep>> Model::StartLookups(
    absl::Span<const int32_t> tokens, int batch, int time, bool prefill) {
  if (engram_.empty()) return nullptr;
  const std::vector<int64_t> wide(tokens.begin(), tokens.end());
  if (prefill) {
    return prefetcher_->Prefill(wide, batch, time, {},
                                RowBuffers(batch * time));
  }
  return prefetcher_->Decode(wide, RowBuffers(batch));
}

const float* Model::BackboneInput(int rows) {
  if (config_.hc_mult == 1) return hidden_;
  backend_->MeanOfBranches(hidden_, rows, config_.hc_mult, config_.hidden,
                           mixed_);
  return mixed_;
}

void Model::AddToResidual(const float* output, int rows) {
  if (config_.hc_mult == 1) {
    backend_->Add(hidden_, output, static_cast<size_t>(rows) * config_.hidden);
  } else {
    backend_->AddToBranches(hidden_, output, rows, config_.hc_mult,
                            config_.hidden);
  }
}

absl::StatusOr<std::vector<int32_t>> Model::Forward(
    absl::Span<const int32_t> tokens, int batch, int time,
    const client::PrefetchStep* step, std::vector<float>* logits) {
  const int rows = batch * time;
  const int d = config_.hidden;
  const int heads = config_.heads;
  const int head_dim = config_.head_dim;
  const int attention = heads * head_dim;
  backend_->EmbedTokens(tokens.data(), rows, embed_, d, config_.hc_mult,
                        hidden_);
  for (int i = 0; i < config_.layers; ++i) {
    const LayerWeights& w = layers_[i];
    if (const int e = layer_engram_[i]; e >= 0) {
      EngramLayer& engram = *engram_[e];
      const absl::Time wait_start = absl::Now();
      ENGRAM_RETURN_IF_ERROR(
          step->Wait(e, wait_start + options_.row_wait_timeout));
      row_wait_[e] += absl::Now() - wait_start;
      const size_t values = static_cast<size_t>(rows) * config_.engram_dim();
      backend_->RowsToFloat(engram.staging, values, engram.element_type,
                            embeddings_);
      engram.module->Forward(embeddings_, batch, time, hidden_);
    }
    backend_->RmsNorm(BackboneInput(rows), rows, d, d, w.attn_norm,
                      config_.norm_eps, normed_, d);
    backend_->Linear(normed_, rows, d, w.q_proj, nullptr, attention, q_);
    backend_->Linear(normed_, rows, d, w.k_proj, nullptr, attention, k_);
    backend_->Linear(normed_, rows, d, w.v_proj, nullptr, attention, v_);
    backend_->Rotary(q_, batch, time, heads, head_dim, position_,
                     config_.rope_theta);
    backend_->Rotary(k_, batch, time, heads, head_dim, position_,
                     config_.rope_theta);
    backend_->WriteKvCache(k_, v_, batch, time, heads, head_dim, position_,
                           max_positions_, k_cache_[i], v_cache_[i]);
    backend_->Attention(q_, k_cache_[i], v_cache_[i], batch, time, heads,
                        head_dim, position_, max_positions_, attention_);
    backend_->Linear(attention_, rows, attention, w.o_proj, nullptr, d,
                     block_out_);
    AddToResidual(block_out_, rows);

    backend_->RmsNorm(BackboneInput(rows), rows, d, d, w.mlp_norm,
                      config_.norm_eps, normed_, d);
    backend_->Linear(normed_, rows, d, w.gate_proj, nullptr, config_.ffn_hidden,
                     gate_);
    backend_->Linear(normed_, rows, d, w.up_proj, nullptr, config_.ffn_hidden,
                     up_);
    backend_->SiluMul(gate_, up_,
                      static_cast<size_t>(rows) * config_.ffn_hidden, gate_);
    backend_->Linear(gate_, rows, config_.ffn_hidden, w.down_proj, nullptr, d,
                     block_out_);
    AddToResidual(block_out_, rows);
  }
  position_ += time;
  // Only each sequence's last position is sampled.
  const float* last = BackboneInput(rows) + static_cast<size_t>(time - 1) * d;
  backend_->RmsNorm(last, batch, d, time * d, final_norm_, config_.norm_eps,
                    normed_, d);
  backend_->Linear(normed_, batch, d, lm_head_, nullptr, config_.vocab_size,
                   logits_);
  std::vector<int32_t> next(batch);
  ENGRAM_RETURN_IF_ERROR(backend_->ArgmaxRows(
      logits_, batch, config_.vocab_size, config_.vocab_size, next.data()));
  if (logits != nullptr) {
    logits->resize(static_cast<size_t>(batch) * config_.vocab_size);
    ENGRAM_RETURN_IF_ERROR(
        backend_->CopyToHost(logits_, logits->size(), logits->data()));
  }
  return next;
}

}  // namespace engram::gpu

#include "gpu_model/model.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "client/prefetcher.h"
#include "common/demo_rows.h"
#include "common/status_macros.h"
#include "gmock/gmock.h"
#include "gpu_model/cpu_backend.h"
#include "gpu_model/generation.h"
#include "gpu_model/local_row_client.h"
#include "gpu_model/model_config.h"
#include "gpu_model/model_weights.h"
#include "gtest/gtest.h"

namespace engram::gpu {
namespace {

using ::testing::HasSubstr;

// A model small enough to run in milliseconds, with two Engram layers.
ModelConfig SmallConfig(int hc_mult = 1) {
  ModelConfig config;
  config.vocab_size = 3000;
  config.hidden = 32;
  config.layers = 3;
  config.heads = 2;
  config.head_dim = 16;
  config.ffn_hidden = 48;
  config.max_seq = 64;
  config.hc_mult = hc_mult;
  config.engram.layer_ids = {0, 2};
  config.engram.vocab_sizes = {211, 211};
  config.engram.heads_per_ngram = 2;
  config.engram.n_embed_per_ngram = 16;
  config.engram.tokenizer_vocab = 3000;
  return config;
}

// A model over local demo rows.
struct LocalModel {
  std::unique_ptr<Backend> backend = CreateCpuBackend();
  std::unique_ptr<LocalRowClient> rows;
  std::unique_ptr<client::Prefetcher> prefetcher;
  std::unique_ptr<Model> model;
};

absl::StatusOr<std::unique_ptr<LocalModel>> MakeLocalModel(
    const ModelConfig& config, const HashSpecConfig& table_config,
    uint64_t seed = 1, std::unique_ptr<Backend> backend = nullptr) {
  auto local = std::make_unique<LocalModel>();
  if (backend != nullptr) local->backend = std::move(backend);
  ENGRAM_ASSIGN_OR_RETURN(
      local->rows, LocalRowClient::CreateDemo(table_config, ElementType::kF32));
  client::PrefetcherOptions options;
  for (const int64_t layer : config.engram.layer_ids) {
    options.tables.push_back(DemoTableName(layer));
  }
  ENGRAM_ASSIGN_OR_RETURN(
      local->prefetcher,
      client::Prefetcher::Create(local->rows.get(), std::move(options)));
  ENGRAM_ASSIGN_OR_RETURN(
      local->model,
      Model::Create(local->backend.get(), config,
                    ModelWeights::Random(config, seed), local->prefetcher.get(),
                    {.max_batch = 2, .max_positions = 32}));
  return local;
}

std::vector<int32_t> Tokens(int count, int vocab, int salt) {
  std::vector<int32_t> tokens(count);
  for (int i = 0; i < count; ++i) tokens[i] = (i * 977 + salt * 131) % vocab;
  return tokens;
}

// Relative distance of b from a, scaled by a's largest magnitude.
double MaxRelativeError(const std::vector<float>& a,
                        const std::vector<float>& b) {
  double scale = 0, worst = 0;
  for (const float v : a) scale = std::max(scale, double{std::fabs(v)});
  for (size_t i = 0; i < a.size(); ++i) {
    worst = std::max(worst, double{std::fabs(a[i] - b[i])});
  }
  return worst / std::max(scale, 1e-30);
}

class ModelDecodeTest : public ::testing::TestWithParam<int> {};

// The KV cache, rotary positions and the Engram conv history must make a
// decode step compute what a prefill of the whole text computes.
TEST_P(ModelDecodeTest, DecodeStepEqualsPrefillOfTheWholeText) {
  const ModelConfig config = SmallConfig(/*hc_mult=*/GetParam());
  auto local = MakeLocalModel(config, config.engram);
  ASSERT_TRUE(local.ok()) << local.status();
  Model& model = *(*local)->model;
  constexpr int kBatch = 2, kTime = 12;
  // Sequence b's text is whole[b][0..kTime]; the decode path sees its last
  // token only after a prefill of the others.
  const std::vector<int32_t> whole = Tokens(kBatch * (kTime + 1), 3000, 1);
  std::vector<int32_t> prefix, last;
  for (int b = 0; b < kBatch; ++b) {
    const auto begin = whole.begin() + b * (kTime + 1);
    prefix.insert(prefix.end(), begin, begin + kTime);
    last.push_back(*(begin + kTime));
  }
  std::vector<float> whole_logits, decode_logits;
  ASSERT_TRUE(model.Prefill(whole, kBatch, kTime + 1, &whole_logits).ok());
  ASSERT_TRUE(model.Prefill(prefix, kBatch, kTime).ok());
  ASSERT_TRUE(model.Decode(last, &decode_logits).ok());
  ASSERT_EQ(whole_logits.size(), decode_logits.size());
  EXPECT_LT(MaxRelativeError(whole_logits, decode_logits), 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Branches, ModelDecodeTest, ::testing::Values(1, 2));

TEST(ModelTest, CudaMatchesTheCpuPath) {
  absl::StatusOr<std::unique_ptr<Backend>> cuda =
      CreateBackend(BackendKind::kCuda);
  if (!cuda.ok()) GTEST_SKIP() << "no CUDA device: " << cuda.status();
  const ModelConfig config = SmallConfig(/*hc_mult=*/2);
  auto cpu_model = MakeLocalModel(config, config.engram);
  auto gpu_model = MakeLocalModel(config, config.engram, 1, *std::move(cuda));
  ASSERT_TRUE(cpu_model.ok() && gpu_model.ok());
  const std::vector<int32_t> prompt = Tokens(2 * 9, 3000, 5);
  std::vector<float> cpu, gpu;
  ASSERT_TRUE((*cpu_model)->model->Prefill(prompt, 2, 9, &cpu).ok());
  ASSERT_TRUE((*gpu_model)->model->Prefill(prompt, 2, 9, &gpu).ok());
  EXPECT_LT(MaxRelativeError(cpu, gpu), 1e-3);
  const std::vector<int32_t> step = {7, 11};
  ASSERT_TRUE((*cpu_model)->model->Decode(step, &cpu).ok());
  ASSERT_TRUE((*gpu_model)->model->Decode(step, &gpu).ok());
  EXPECT_LT(MaxRelativeError(cpu, gpu), 1e-3);
}

TEST(ModelTest, EngramRowsChangeTheOutput) {
  // The same backbone (random init depends on each tensor's name) without
  // Engram layers: if the logits did not move, the rows would not matter.
  const ModelConfig config = SmallConfig();
  auto local = MakeLocalModel(config, config.engram);
  ASSERT_TRUE(local.ok()) << local.status();
  const std::vector<int32_t> prompt = Tokens(8, 3000, 2);
  std::vector<float> with_rows;
  ASSERT_TRUE((*local)->model->Prefill(prompt, 1, 8, &with_rows).ok());

  ModelConfig no_engram = config;
  no_engram.engram.layer_ids = {};
  ModelWeights weights = ModelWeights::Random(no_engram, 1);
  auto plain = Model::Create((*local)->backend.get(), no_engram, weights,
                             /*prefetcher=*/nullptr, {.max_positions = 32});
  ASSERT_TRUE(plain.ok()) << plain.status();
  std::vector<float> without_rows;
  const auto plain_next = (*plain)->Prefill(prompt, 1, 8, &without_rows);
  ASSERT_TRUE(plain_next.ok()) << plain_next.status();
  EXPECT_GT(MaxRelativeError(with_rows, without_rows), 1e-3);
}

TEST(ModelTest, RefusesTablesAddressedForAnotherModel) {
  const ModelConfig config = SmallConfig();
  HashSpecConfig other = config.engram;
  other.vocab_sizes = {223, 223};
  auto local = MakeLocalModel(config, other);
  ASSERT_FALSE(local.ok());
  EXPECT_EQ(local.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(local.status().message(), HasSubstr("another hash spec"));
}

TEST(ModelTest, RejectsBadStepsWithoutRunning) {
  const ModelConfig config = SmallConfig();
  auto local = MakeLocalModel(config, config.engram);
  ASSERT_TRUE(local.ok()) << local.status();
  Model& model = *(*local)->model;
  EXPECT_EQ(model.Decode(std::vector<int32_t>{1}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(model.Prefill(std::vector<int32_t>{1, 3000}, 1, 2).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(model.Prefill(Tokens(33, 3000, 3), 1, 33).status().code(),
            absl::StatusCode::kInvalidArgument);  // beyond max_positions
  ASSERT_TRUE(model.Prefill(Tokens(4, 3000, 3), 2, 2).ok());
  EXPECT_EQ(model.Decode(std::vector<int32_t>{1}).status().code(),
            absl::StatusCode::kInvalidArgument);  // batch of 2
}

TEST(ModelTest, GenerationIsDeterministicAndCountsRowWaits) {
  const ModelConfig config = SmallConfig();
  auto a = MakeLocalModel(config, config.engram);
  auto b = MakeLocalModel(config, config.engram);
  ASSERT_TRUE(a.ok() && b.ok());
  const std::vector<int32_t> prompt = Tokens(10, 3000, 4);
  auto run_a = Generate(*(*a)->model, prompt, 1, 6);
  auto run_b = Generate(*(*b)->model, prompt, 1, 6);
  ASSERT_TRUE(run_a.ok() && run_b.ok());
  EXPECT_EQ(run_a->tokens, run_b->tokens);
  EXPECT_EQ(run_a->tokens.size(), 6u);
  EXPECT_EQ(run_a->row_wait.size(), 2u);
  EXPECT_GT(run_a->decode_tokens_per_s(), 0);
}

std::string TempPath(const std::string& name) {
  return ::testing::TempDir() + "/" + name;
}

TEST(ModelWeightsTest, SavedWeightsLoadBackExactly) {
  const ModelConfig config = SmallConfig(/*hc_mult=*/2);
  const ModelWeights weights = ModelWeights::Random(config, 7);
  const std::string path = TempPath("weights.safetensors");
  ASSERT_TRUE(weights.Save(path).ok());
  auto loaded = ModelWeights::Load(path, config);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  for (const auto& [name, shape] : ExpectedTensors(config)) {
    EXPECT_EQ(loaded->Get(name).shape, shape) << name;
    EXPECT_EQ(loaded->Get(name).values, weights.Get(name).values) << name;
  }
}

TEST(ModelWeightsTest, NamesTheTensorThatDoesNotFit) {
  const ModelConfig config = SmallConfig();
  const std::string path = TempPath("small.safetensors");
  ASSERT_TRUE(ModelWeights::Random(config, 7).Save(path).ok());
  ModelConfig wider = config;
  wider.ffn_hidden = 64;
  auto wrong_shape = ModelWeights::Load(path, wider);
  ASSERT_FALSE(wrong_shape.ok());
  EXPECT_THAT(wrong_shape.status().message(),
              HasSubstr("layers.0.mlp.gate_proj.weight' has shape [48, 32]"));
  ModelConfig branches = config;
  branches.hc_mult = 2;
  auto missing = ModelWeights::Load(path, branches);
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(),
              HasSubstr("no tensor 'layers.0.engram.key_projs.1.weight'"));
  EXPECT_EQ(ModelWeights::Load(TempPath("absent"), config).status().code(),
            absl::StatusCode::kNotFound);
}

absl::StatusOr<ModelConfig> LoadText(const std::string& json) {
  const std::string path = TempPath("model.json");
  std::ofstream(path) << json;
  return LoadModelConfig(path);
}

TEST(ModelConfigTest, FieldsOverrideTheDemoModel) {
  auto config = LoadText(R"({"layers": 4, "hc_mult": 2,
                             "engram": {"layer_ids": [1, 3],
                                        "vocab_sizes": [1009, 1009]}})");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->layers, 4);
  EXPECT_EQ(config->hc_mult, 2);
  EXPECT_EQ(config->hidden, ModelConfig().hidden);
  EXPECT_EQ(config->engram.layer_ids, (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(config->engram_dim(), 1024);
}

TEST(ModelConfigTest, BadFilesNameTheProblem) {
  auto unknown = LoadText(R"({"layerz": 4})");
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(unknown.status().message(), HasSubstr("layerz"));
  auto outside = LoadText(R"({"layers": 4})");  // Engram layer 15
  EXPECT_THAT(outside.status().message(),
              HasSubstr("engram.layer_ids has 15, outside the model's 4"));
  auto odd = LoadText(R"({"head_dim": 15})");
  EXPECT_THAT(odd.status().message(), HasSubstr("head_dim must be even"));
  EXPECT_EQ(LoadModelConfig(TempPath("none.json")).status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace engram::gpu

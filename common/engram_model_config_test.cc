#include "common/engram_model_config.h"

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_processes.h"

namespace engram {
namespace {

using ::engram::testing::Int64s;
using ::engram::testing::TempDir;
using ::engram::testing::WriteNpyFile;
using ::testing::HasSubstr;

class EngramModelConfigTest : public ::testing::Test {
 protected:
  std::string WriteConfig(const std::string& json) {
    const std::string path = dir_.path() + "/model.json";
    std::ofstream(path) << json;
    return path;
  }

  TempDir dir_;
};

TEST_F(EngramModelConfigTest, EngramFieldsOverrideTheDemoAddressing) {
  const std::string map_file = dir_.path() + "/map.npy";
  std::vector<int64_t> lookup(600);
  for (int64_t i = 0; i < 600; ++i) lookup[i] = i % 500;
  WriteNpyFile(map_file, "<i8", {lookup.size()}, Int64s(lookup));
  auto config = LoadEngramConfig(WriteConfig(R"({"layers": 4, "engram": {
      "layer_ids": [1, 3], "seed": 7, "vocab_sizes": [1009, 1013],
      "heads_per_ngram": 2, "n_embed_per_ngram": 32, "pad_id": 5,
      "tokenizer_vocab": 500, "conv_kernel": 2,
      "compression_map": ")" + map_file + R"("}})"));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->layer_ids, (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(config->seed, 7);
  EXPECT_EQ(config->vocab_sizes, (std::vector<int64_t>{1009, 1013}));
  EXPECT_EQ(config->heads_per_ngram, 2);
  EXPECT_EQ(config->n_embed_per_ngram, 32);
  EXPECT_EQ(config->pad_id, 5);
  EXPECT_EQ(config->tokenizer_vocab, 500);
  ASSERT_NE(config->compression, nullptr);
  EXPECT_EQ(config->compression->raw_vocab(), 600);
  EXPECT_EQ(config->max_ngram, HashSpecConfig().max_ngram);

  auto demo = LoadEngramConfig(WriteConfig(R"({"hidden": 64})"));
  ASSERT_TRUE(demo.ok()) << demo.status();
  const HashSpecConfig defaults;
  EXPECT_EQ(demo->layer_ids, defaults.layer_ids);
  EXPECT_EQ(demo->vocab_sizes, defaults.vocab_sizes);
  EXPECT_EQ(demo->n_embed_per_ngram, defaults.n_embed_per_ngram);
  EXPECT_EQ(demo->compression, nullptr);
}

TEST_F(EngramModelConfigTest, ARelativeMapIsFoundBesideTheConfig) {
  // The config and its map in a directory of their own, away from the
  // working directory.
  const std::string model_dir = dir_.path() + "/model";
  std::filesystem::create_directories(model_dir + "/maps");
  WriteNpyFile(model_dir + "/maps/map.npy", "<i8", {3}, Int64s({0, 1, 1}));
  const std::string config_path = model_dir + "/model.json";
  std::ofstream(config_path) << R"({"engram": {"tokenizer_vocab": 2, )"
                             << R"("compression_map": "maps/map.npy"}})";
  ASSERT_NE(std::filesystem::current_path(), model_dir);
  auto config = LoadEngramConfig(config_path);
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_NE(config->compression, nullptr);
  EXPECT_EQ(config->compression->raw_vocab(), 3);

  v1::EngramModelConfig engram;
  engram.set_compression_map("maps/map.npy");
  EXPECT_EQ(CompressionMapPath(config_path, engram),
            model_dir + "/maps/map.npy");
  EXPECT_EQ(CompressionMapPath("model.json", engram), "maps/map.npy");
  engram.set_compression_map("/srv/map.npy");
  EXPECT_EQ(CompressionMapPath(config_path, engram), "/srv/map.npy");
  engram.clear_compression_map();
  EXPECT_EQ(CompressionMapPath(config_path, engram), "");
}

TEST_F(EngramModelConfigTest, BadFilesNameThemselvesAndTheProblem) {
  const std::string unknown = WriteConfig(R"({"engram": {"layer_idz": [1]}})");
  auto unknown_field = LoadEngramConfig(unknown);
  EXPECT_EQ(unknown_field.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(unknown_field.status().message(), HasSubstr(unknown));
  EXPECT_THAT(unknown_field.status().message(), HasSubstr("layer_idz"));

  const std::string no_map =
      WriteConfig(R"({"engram": {"compression_map": "/nonexistent/map.npy"}})");
  auto missing_map = LoadEngramConfig(no_map);
  EXPECT_EQ(missing_map.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing_map.status().message(), HasSubstr(no_map + ": "));
  EXPECT_THAT(missing_map.status().message(),
              HasSubstr("/nonexistent/map.npy"));

  auto absent = LoadEngramConfig(dir_.path() + "/none.json");
  EXPECT_EQ(absent.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(absent.status().message(), HasSubstr("cannot read model config"));
}

}  // namespace
}  // namespace engram

// Checks the C++ addressing against vector files: the shared reference
// vectors (an independent numpy + sympy implementation) and, when
// ENGRAM_ADDRESSING_VECTOR_DIR names a directory, the files that
// tools/gen_vectors.py generated there from random configs (ctest runs
// engram_addressing_gen_vectors first, then this binary's GeneratedVectors
// suite with the variable set).
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/addressing/addresser.h"
#include "common/addressing/compression_map.h"
#include "common/addressing/hash_spec.h"
#include "common/addressing/mini_json.h"
#include "common/addressing/sha256.h"
#include "common/addressing/test_paths.h"
#include "gtest/gtest.h"

namespace engram {
namespace {

using internal::JsonValue;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

HashSpecConfig ConfigFromJson(const JsonValue& json, const std::string& dir) {
  HashSpecConfig config;
  config.seed = json["seed"].AsInt64();
  config.layer_ids = json["layer_ids"].FlattenInt64();
  config.vocab_sizes = json["vocab_sizes"].FlattenInt64();
  config.max_ngram = static_cast<int>(json["max_ngram"].AsInt64());
  config.heads_per_ngram = static_cast<int>(json["heads_per_ngram"].AsInt64());
  config.n_embed_per_ngram = json.Has("n_embed_per_ngram")
                                 ? json["n_embed_per_ngram"].AsInt64()
                                 : 64 * config.heads_per_ngram;
  config.pad_id = json["pad_id"].AsInt64();
  config.tokenizer_vocab = json["tokenizer_vocab"].AsInt64();
  if (json.Has("compression_npy")) {
    CompressionMap::Options options;
    options.compressed_vocab = config.tokenizer_vocab;
    options.expected_raw_vocab = json["compression_raw_vocab"].AsInt64();
    absl::StatusOr<std::unique_ptr<CompressionMap>> map = CompressionMap::Load(
        dir + "/" + json["compression_npy"].AsString(), options);
    EXPECT_TRUE(map.ok()) << map.status();
    if (map.ok()) {
      EXPECT_EQ(internal::Sha256::ToHex((*map)->content_digest()),
                json["compression_sha256"].AsString());
      config.compression = *std::move(map);
    }
  }
  return config;
}

std::vector<int64_t> ToVector(absl::Span<const int64_t> span) {
  return std::vector<int64_t>(span.begin(), span.end());
}

// Returns the number of row ids compared.
int64_t CheckVectorFile(const std::string& path) {
  SCOPED_TRACE(path);
  absl::StatusOr<JsonValue> doc = internal::ReadJsonFile(path);
  EXPECT_TRUE(doc.ok()) << doc.status();
  if (!doc.ok()) return 0;
  const std::string dir = std::filesystem::path(path).parent_path().string();
  const JsonValue& json_config = (*doc)["config"];
  const HashSpecConfig config = ConfigFromJson(json_config, dir);
  absl::StatusOr<HashSpec> spec = HashSpec::FromConfig(config);
  EXPECT_TRUE(spec.ok()) << spec.status();
  if (!spec.ok()) return 0;

  const JsonValue& json_tokens = (*doc)["tokens"];
  const int batch = static_cast<int>(json_tokens.size());
  const int time = batch > 0 ? static_cast<int>(json_tokens[0].size()) : 0;
  const std::vector<int64_t> tokens = json_tokens.FlattenInt64();
  std::vector<int32_t> lengths;
  if (doc->Has("lengths")) {
    EXPECT_EQ((*doc)["padding"].AsString(), "left");
    for (int64_t v : (*doc)["lengths"].FlattenInt64()) lengths.push_back(v);
  }
  const bool unchecked =
      json_config.Has("unchecked") && json_config["unchecked"].AsBool();
  const int rows_per_token = spec->rows_per_token();
  const size_t outputs = static_cast<size_t>(batch) * time * rows_per_token;

  std::vector<std::vector<int64_t>> multipliers, head_sizes;
  int64_t compared = 0;
  EXPECT_EQ((*doc)["layers"].size(), static_cast<size_t>(spec->num_layers()));
  for (int layer = 0; layer < spec->num_layers(); ++layer) {
    SCOPED_TRACE(testing::Message() << "layer " << spec->layer_id(layer));
    const JsonValue& expected =
        (*doc)["layers"][std::to_string(spec->layer_id(layer))];
    EXPECT_EQ(ToVector(spec->multipliers(layer)),
              expected["multipliers"].FlattenInt64());
    EXPECT_EQ(ToVector(spec->head_sizes(layer)),
              expected["head_sizes"].FlattenInt64());
    multipliers.push_back(expected["multipliers"].FlattenInt64());
    head_sizes.push_back(expected["head_sizes"].FlattenInt64());

    const std::vector<int64_t> want_hash = expected["hash_ids"].FlattenInt64();
    const std::vector<int64_t> want_rows = expected["row_ids"].FlattenInt64();
    EXPECT_EQ(want_hash.size(), outputs);
    EXPECT_EQ(want_rows.size(), outputs);
    std::vector<int64_t> rows(outputs), hashes(outputs);
    if (unchecked) {
      // Out-of-range ids: the checked API refuses them, the kernel wraps
      // exactly like numpy.
      EXPECT_FALSE(ComputeRowIds(*spec, layer, tokens, batch, time, lengths,
                                 absl::MakeSpan(rows))
                       .ok());
      EXPECT_EQ(spec->compression(), nullptr);
      internal::AddressCompressed(*spec, layer, tokens.data(), batch, time,
                                  nullptr, 0, rows.data(), hashes.data());
    } else {
      const absl::Status status =
          ComputeRowIds(*spec, layer, tokens, batch, time, lengths,
                        absl::MakeSpan(rows), absl::MakeSpan(hashes));
      EXPECT_TRUE(status.ok()) << status;
    }
    EXPECT_EQ(hashes, want_hash);
    EXPECT_EQ(rows, want_rows);
    compared += rows.size();
    if (unchecked) continue;

    // Decode at every real position gives the same rows.
    const int n = spec->max_ngram();
    for (int b = 0; b < batch; ++b) {
      const int start = lengths.empty() ? 0 : time - lengths[b];
      for (int t = start; t < time; ++t) {
        std::vector<int64_t> window(n, -1);
        for (int k = 0; k < n; ++k) {
          const int pos = t - (n - 1) + k;
          if (pos >= start) window[k] = tokens[b * time + pos];
        }
        const int32_t window_length = std::min(n, t - start + 1);
        std::vector<int64_t> decode(rows_per_token);
        const absl::Status status = ComputeDecodeRowIds(
            *spec, layer, window, 1, {window_length}, absl::MakeSpan(decode));
        EXPECT_TRUE(status.ok()) << status;
        const size_t at = (static_cast<size_t>(b) * time + t) * rows_per_token;
        EXPECT_TRUE(
            std::equal(decode.begin(), decode.end(), want_rows.begin() + at))
            << "decode differs at batch " << b << ", position " << t;
      }
    }
  }
  // A manifest carrying the file's values describes the same function.
  absl::StatusOr<HashSpec> manifest =
      HashSpec::FromManifest(config, multipliers, head_sizes);
  EXPECT_TRUE(manifest.ok()) << manifest.status();
  if (manifest.ok()) {
    EXPECT_EQ(manifest->Digest(), spec->Digest());
  }
  return compared;
}

TEST(ReferenceVectors, DefaultConfig) {
  EXPECT_EQ(CheckVectorFile(internal::ReferenceVectorPath(
                "addressing-vectors-default.json")),
            2 * 2 * 8 * 16);
}

TEST(ReferenceVectors, SmallConfig) {
  EXPECT_EQ(CheckVectorFile(
                internal::ReferenceVectorPath("addressing-vectors-small.json")),
            3 * 2 * 7 * 12);
}

// The checked-in copies must not drift from /work/shared/reference.
TEST(ReferenceVectors, CopiesMatchSharedOriginals) {
  for (const char* name :
       {"addressing-vectors-default.json", "addressing-vectors-small.json"}) {
    const std::string shared = internal::SharedReferencePath(name);
    if (!std::filesystem::exists(shared)) {
      GTEST_SKIP() << shared << " is absent";
    }
    EXPECT_EQ(ReadFile(internal::ReferenceVectorPath(name)), ReadFile(shared))
        << name;
  }
}

TEST(GeneratedVectors, MatchNumpyReference) {
  const char* dir = std::getenv("ENGRAM_ADDRESSING_VECTOR_DIR");
  if (dir == nullptr || *dir == '\0') {
    GTEST_SKIP() << "ENGRAM_ADDRESSING_VECTOR_DIR is not set (ctest sets it "
                    "for engram_addressing_generated_vectors)";
  }
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("vectors-", 0) == 0 && entry.path().extension() == ".json") {
      files.push_back(entry.path().string());
    }
  }
  std::sort(files.begin(), files.end());
  ASSERT_FALSE(files.empty()) << "no vectors-*.json in " << dir;
  int64_t compared = 0;
  for (const std::string& file : files) compared += CheckVectorFile(file);
  std::cout << "checked " << files.size() << " files, " << compared
            << " row ids\n";
}

}  // namespace
}  // namespace engram

#include "common/addressing/vector_json.h"

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/addressing/addresser.h"
#include "common/addressing/compression_map.h"
#include "common/addressing/hash_spec.h"
#include "common/addressing/mini_json.h"
#include "common/addressing/sha256.h"
#include "common/addressing/test_paths.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace engram {
namespace {

using ::testing::HasSubstr;

// Re-creating each shared vector file from its config and tokens gives the
// same bytes (the files are Python json.dumps output).
TEST(VectorJsonTest, ReproducesReferenceFilesByteForByte) {
  for (const char* name :
       {"addressing-vectors-default.json", "addressing-vectors-small.json"}) {
    SCOPED_TRACE(name);
    const std::string text =
        internal::ReadTestFile(internal::ReferenceVectorPath(name));
    absl::StatusOr<internal::JsonValue> doc = internal::ParseJson(text);
    ASSERT_TRUE(doc.ok());
    const internal::JsonValue& c = (*doc)["config"];
    HashSpecConfig config;
    config.seed = c["seed"].AsInt64();
    config.layer_ids = c["layer_ids"].FlattenInt64();
    config.vocab_sizes = c["vocab_sizes"].FlattenInt64();
    config.max_ngram = c["max_ngram"].AsInt64();
    config.heads_per_ngram = c["heads_per_ngram"].AsInt64();
    config.pad_id = c["pad_id"].AsInt64();
    config.tokenizer_vocab = c["tokenizer_vocab"].AsInt64();
    absl::StatusOr<HashSpec> spec = HashSpec::FromConfig(config);
    ASSERT_TRUE(spec.ok()) << spec.status();
    const int batch = (*doc)["tokens"].size();
    const int time = (*doc)["tokens"][0].size();
    absl::StatusOr<std::string> json = AddressesToJson(
        *spec, (*doc)["tokens"].FlattenInt64(), batch, time, {});
    ASSERT_TRUE(json.ok()) << json.status();
    EXPECT_EQ(*json, text);
    // Full-length lengths add nothing.
    std::vector<int32_t> full(batch, time);
    EXPECT_EQ(*AddressesToJson(*spec, (*doc)["tokens"].FlattenInt64(), batch,
                               time, full),
              text);
  }
}

TEST(VectorJsonTest, PaddingAndCompressionAreDescribed) {
  HashSpecConfig config;
  config.tokenizer_vocab = 10;
  config.pad_id = 11;
  config.layer_ids = {4};
  CompressionMap::Options options;
  options.compressed_vocab = 10;
  std::vector<int64_t> lookup(12);
  for (int i = 0; i < 12; ++i) lookup[i] = i % 10;
  config.compression = *CompressionMap::FromLookup(lookup, options);
  absl::StatusOr<HashSpec> spec = HashSpec::FromConfig(config);
  ASSERT_TRUE(spec.ok()) << spec.status();
  const std::vector<int64_t> tokens = {-5, 3, 11, 1, 2, 0};
  absl::StatusOr<std::string> json =
      AddressesToJson(*spec, tokens, 2, 3, {2, 3});
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_THAT(
      *json,
      HasSubstr("\"pad_id\": 11, \"tokenizer_vocab\": 10, "
                "\"compression_raw_vocab\": 12, "
                "\"compression_sha256\": \"" +
                internal::Sha256::ToHex(spec->compression()->content_digest()) +
                "\"}"));
  EXPECT_THAT(*json, HasSubstr("\"tokens\": [[-5, 3, 11], [1, 2, 0]], "
                               "\"padding\": \"left\", \"lengths\": [2, 3], "
                               "\"layers\": {\"4\": {\"multipliers\": ["));
  absl::StatusOr<internal::JsonValue> doc = internal::ParseJson(*json);
  ASSERT_TRUE(doc.ok()) << doc.status();
  std::vector<int64_t> rows(6 * spec->rows_per_token());
  ASSERT_TRUE(
      ComputeRowIds(*spec, 0, tokens, 2, 3, {2, 3}, absl::MakeSpan(rows)).ok());
  EXPECT_EQ((*doc)["layers"]["4"]["row_ids"].FlattenInt64(), rows);

  const absl::Status status = AddressesToJson(*spec, tokens, 2, 3, {}).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("raw token -5 at batch 0"));
}

}  // namespace
}  // namespace engram

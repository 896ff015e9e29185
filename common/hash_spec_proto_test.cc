#include "common/hash_spec_proto.h"

#include <cstdint>

#include "absl/status/status.h"
#include "common/addressing/sha256.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace engram {
namespace {

using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

// Layer 5 of a two-layer config: 2 heads of 4 values per row.
HashSpec TwoLayerSpec() {
  HashSpecConfig config;
  config.layer_ids = {2, 5};
  config.max_ngram = 3;
  config.vocab_sizes = {100, 120};
  config.heads_per_ngram = 2;
  config.n_embed_per_ngram = 8;
  config.tokenizer_vocab = 1000;
  return *HashSpec::FromConfig(config);
}

// A typed table of layer 5's rows that declares its spec.
v1::TableInfo LayerTable() {
  const HashSpec spec = TwoLayerSpec();
  v1::TableInfo info;
  info.set_name("layer_5");
  info.set_rows(spec.rows_in_layer(1));
  info.set_row_bytes(16);
  info.set_element_type(v1::ELEMENT_TYPE_F32);
  info.add_dims(4);
  *info.mutable_hash_spec() = HashSpecLayerToProto(spec, 1);
  return info;
}

TEST(HashSpecProtoTest, ALayerComesBackAddressingAlike) {
  const HashSpec spec = TwoLayerSpec();
  const absl::StatusOr<HashSpec> layer =
      HashSpecLayerFromProto(HashSpecLayerToProto(spec, 1));
  ASSERT_TRUE(layer.ok()) << layer.status();
  EXPECT_EQ(layer->rows_in_layer(0), spec.rows_in_layer(1));
  EXPECT_THAT(layer->head_sizes(0), ElementsAreArray(spec.head_sizes(1)));
  EXPECT_THAT(layer->multipliers(0), ElementsAreArray(spec.multipliers(1)));
}

TEST(HashSpecProtoTest, ACompressedSpecNamesItsMapAndComesBackIdentity) {
  EXPECT_TRUE(
      HashSpecLayerToProto(TwoLayerSpec(), 0).compression_digest().empty());
  HashSpecConfig config = TwoLayerSpec().config();
  config.compression = *CompressionMap::FromLookup(
      {0, 1, 1, 2, 999}, {.compressed_vocab = config.tokenizer_vocab});
  const HashSpec compressed = *HashSpec::FromConfig(config);
  const v1::HashSpec proto = HashSpecLayerToProto(compressed, 0);
  EXPECT_EQ(proto.compression_digest(),
            internal::Sha256::ToHex(config.compression->content_digest()));
  // The spec hashes compressed ids: its pad id is the compressed one.
  const absl::StatusOr<HashSpec> layer = HashSpecLayerFromProto(proto);
  ASSERT_TRUE(layer.ok()) << layer.status();
  EXPECT_EQ(layer->compression(), nullptr);
  EXPECT_EQ(layer->pad_id(), compressed.pad_id());
  EXPECT_EQ(layer->pad_id(), 1);
}

TEST(TableHashSpecTest, ATableWithoutASpecHasNone) {
  v1::TableInfo info = LayerTable();
  info.clear_hash_spec();
  const absl::StatusOr<std::optional<HashSpec>> spec = TableHashSpec(info);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_FALSE(spec->has_value());
}

TEST(TableHashSpecTest, ASpecMustAddressTheTablesRows) {
  v1::TableInfo info = LayerTable();
  const absl::StatusOr<std::optional<HashSpec>> spec = TableHashSpec(info);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_TRUE(spec->has_value());

  info.set_rows(info.rows() - 1);
  const absl::Status short_table = TableHashSpec(info).status();
  EXPECT_EQ(short_table.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(short_table.message(), HasSubstr("its hash spec addresses"));
}

TEST(TableHashSpecTest, AShardIsAddressedAsTheWholeTable) {
  v1::TableInfo info = LayerTable();
  info.set_total_rows(info.rows());
  info.set_first_row(10);
  info.set_rows(20);
  EXPECT_TRUE(TableHashSpec(info).ok());
  info.set_total_rows(info.total_rows() + 1);
  EXPECT_EQ(TableHashSpec(info).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(TableHashSpecTest,
     TypedRowsMustHoldTheSpecsValuesAndOpaqueRowsAreNotCounted) {
  v1::TableInfo info = LayerTable();
  info.set_dims(0, 8);
  const absl::Status wide = TableHashSpec(info).status();
  EXPECT_EQ(wide.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(wide.message(), HasSubstr("8 values per row"));
  info.set_element_type(v1::ELEMENT_TYPE_OPAQUE);
  info.clear_dims();
  EXPECT_TRUE(TableHashSpec(info).ok());
}

TEST(TableHashSpecTest, AnInconsistentSpecIsRefused) {
  v1::TableInfo info = LayerTable();
  info.mutable_hash_spec()->set_heads_per_ngram(0);
  const absl::Status bad = TableHashSpec(info).status();
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.message(), HasSubstr("bad hash spec"));
}

}  // namespace
}  // namespace engram

#include "server/tables/table.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/storage/ram_row_store.h"

namespace engram::server {
namespace {

using ::testing::HasSubstr;

std::shared_ptr<const Table> MakeTable(uint64_t rows, uint32_t row_bytes) {
  auto builder = *RamRowStore::Builder::Create(rows, row_bytes);
  for (uint64_t i = 0; i < rows * row_bytes; ++i) {
    builder->mutable_data()[i] = static_cast<char>(i / row_bytes);
  }
  v1::TableInfo info;
  info.set_name("t");
  info.set_rows(rows);
  info.set_row_bytes(row_bytes);
  return *Table::Create(info, std::move(*builder).Build());
}

TEST(TableTest, LooksUpValidIds) {
  auto table = MakeTable(10, 4);
  std::string packed;
  AppendPackedRowIds({9, 0, 3}, &packed);
  std::string out(12, '\0');
  ASSERT_TRUE(table->Lookup(PackedRowIds(packed), out.data(), nullptr).ok());
  EXPECT_EQ(
      out, std::string("\x09\x09\x09\x09\x00\x00\x00\x00\x03\x03\x03\x03", 12));
}

TEST(TableTest, NamesTheFirstOutOfRangeId) {
  auto table = MakeTable(10, 4);
  std::string packed;
  AppendPackedRowIds({1, 2, 10, 11, ~uint64_t{0}}, &packed);
  std::string out(20, '\0');
  const absl::Status status =
      table->Lookup(PackedRowIds(packed), out.data(), nullptr);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("row id 10 at position 2"));
  EXPECT_THAT(status.message(), HasSubstr("10 rows"));
}

TEST(TableTest, EmptyTableRejectsEveryId) {
  auto table = MakeTable(0, 4);
  std::string packed;
  AppendPackedRowIds({0}, &packed);
  std::string out(4, '\0');
  EXPECT_EQ(table->Lookup(PackedRowIds(packed), out.data(), nullptr).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(table->Lookup(PackedRowIds(""), out.data(), nullptr).ok());
}

}  // namespace
}  // namespace engram::server

namespace engram::server {
namespace {

TEST(TableCreateTest, RejectsMismatchedStoreAndSpec) {
  v1::TableInfo info;
  info.set_name("t");
  info.set_rows(5);
  info.set_row_bytes(4);
  auto store = std::shared_ptr<const RowStore>(
      std::move(**RamRowStore::Builder::Create(6, 4)).Build());
  EXPECT_EQ(Table::Create(info, store).status().code(),
            absl::StatusCode::kInvalidArgument);

  // A spec whose heads do not add up to the table's rows.
  info.set_rows(6);
  v1::HashSpec* spec = info.mutable_hash_spec();
  spec->set_layer_id(1);
  spec->set_max_ngram(2);
  spec->set_heads_per_ngram(1);
  spec->set_n_embed_per_ngram(1);
  spec->set_tokenizer_vocab(3);
  spec->add_vocab_sizes(5);
  spec->add_multipliers(1);
  spec->add_multipliers(3);
  spec->add_head_sizes(7);
  absl::StatusOr<std::shared_ptr<const Table>> table =
      Table::Create(info, store);
  EXPECT_EQ(table.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(table.status().message(), HasSubstr("addresses 7"));

  auto seven = std::shared_ptr<const RowStore>(
      std::move(**RamRowStore::Builder::Create(7, 4)).Build());
  info.set_rows(7);
  table = Table::Create(info, seven);
  ASSERT_TRUE(table.ok()) << table.status();
  ASSERT_NE((*table)->hash_spec(), nullptr);
  EXPECT_EQ((*table)->hash_spec()->rows_in_layer(0), 7);
}

}  // namespace
}  // namespace engram::server

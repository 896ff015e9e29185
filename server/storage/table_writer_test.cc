#include "server/storage/table_writer.h"

#include <filesystem>
#include <string>
#include <vector>

#include "common/content_digest.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/storage/table_storage.h"
#include "tests/test_processes.h"

namespace engram::server {
namespace {

using ::testing::HasSubstr;

v1::TableInfo Info(
    const std::string& name, const std::string& placement, uint64_t rows,
    v1::MissingRowPolicy missing = v1::MISSING_ROW_POLICY_UNSPECIFIED) {
  v1::TableInfo info;
  info.set_name(name);
  info.set_rows(rows);
  info.set_row_bytes(3);
  info.set_element_type(v1::ELEMENT_TYPE_OPAQUE);
  info.set_version(1);
  info.set_placement(placement);
  info.set_missing_rows(missing);
  return info;
}

std::string Packed(const std::vector<uint64_t>& ids) {
  std::string packed;
  AppendPackedRowIds(ids, &packed);
  return packed;
}

// Rows of `ids` from `store`, and which were missing.
std::pair<std::string, std::vector<bool>> Read(
    const RowStore& store, const std::vector<uint64_t>& ids) {
  const std::string packed = Packed(ids);
  std::string out(ids.size() * store.row_bytes(), '?');
  MissingRows missing(ids.size());
  EXPECT_TRUE(
      store.GatherSparse(PackedRowIds(packed), out.data(), missing).ok());
  std::vector<bool> flags;
  for (size_t i = 0; i < ids.size(); ++i) flags.push_back(missing.Get(i));
  return {out, flags};
}

std::vector<std::string> Entries(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    names.push_back(entry.path().filename().string());
  }
  return names;
}

class TableWriterTest : public ::testing::TestWithParam<const char*> {
 protected:
  std::unique_ptr<TableStorage> Storage() {
    return *TableStorage::Create({.data_dir = dir_.path()});
  }
  testing::TempDir dir_;
};

TEST_P(TableWriterTest, DenseRowsSplitAnywhereAreStoredExactly) {
  auto storage = Storage();
  auto writer = *storage->BeginTable(Info("t", GetParam(), 4), {});
  // Pieces that cut rows in the middle.
  for (const char* piece : {"aa", "abbbc", "c", "cddd"}) {
    ASSERT_TRUE(writer->Append(piece).ok());
  }
  EXPECT_EQ(writer->Append("x").code(), absl::StatusCode::kInvalidArgument);
  ContentDigest digest;
  digest.AddRows("aaabbbcccddd");
  absl::StatusOr<StoredTable> stored =
      writer->Commit(std::move(digest).Finish());
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->info.rows_written(), 4);
  EXPECT_EQ(Read(*stored->store, {3, 0, 2}).first, "dddaaaccc");
  EXPECT_EQ(stored->info.placement(), GetParam());
}

TEST_P(TableWriterTest, SparseRowsReadBackWithTheRestMissing) {
  {
    auto storage = Storage();
    auto writer = *storage->BeginTable(
        Info("s", GetParam(), 1000, v1::MISSING_ROW_POLICY_REPORT), {});
    EXPECT_EQ(writer->Append("abc").code(),
              absl::StatusCode::kInvalidArgument);  // Dense rows.
    const std::string ids = Packed({3, 4, 900});
    ASSERT_TRUE(writer->AppendSparse(PackedRowIds(ids), "333444999").ok());
    const std::string backwards = Packed({5});
    EXPECT_THAT(writer->AppendSparse(PackedRowIds(backwards), "555").message(),
                HasSubstr("out of order"));
    absl::StatusOr<StoredTable> stored = writer->Commit("");
    ASSERT_TRUE(stored.ok()) << stored.status();
    EXPECT_EQ(stored->info.rows_written(), 3);
    ContentDigest digest;
    digest.AddSparseRows(PackedRowIds(ids), "333444999", 3);
    EXPECT_EQ(stored->info.content_digest(), std::move(digest).Finish());
  }
  // After a reopen, as the server reads it.
  auto storage = Storage();
  std::vector<StoredTable> tables = *storage->LoadTables();
  ASSERT_EQ(tables.size(), 1);
  const auto [rows, missing] = Read(*tables[0].store, {900, 0, 4, 4, 999});
  EXPECT_EQ(rows, std::string("999") + std::string(3, '\0') + "444444" +
                      std::string(3, '\0'));
  EXPECT_THAT(missing, ::testing::ElementsAre(false, true, false, false, true));
}

TEST_P(TableWriterTest, AbandonedOrMisdigestedWritesLeaveNothing) {
  auto storage = Storage();
  {
    auto writer = *storage->BeginTable(Info("gone", GetParam(), 2), {});
    ASSERT_TRUE(writer->Append("aaab").ok());
    // A second writer of the same name is refused while this one lives.
    EXPECT_EQ(
        storage->BeginTable(Info("gone", GetParam(), 2), {}).status().code(),
        absl::StatusCode::kAlreadyExists);
  }
  {
    auto writer = *storage->BeginTable(Info("bad", GetParam(), 1), {});
    ASSERT_TRUE(writer->Append("abc").ok());
    EXPECT_THAT(writer->Commit(std::string(64, '0')).status().message(),
                HasSubstr("content_digest"));
  }
  {
    auto writer = *storage->BeginTable(Info("short", GetParam(), 2), {});
    ASSERT_TRUE(writer->Append("abc").ok());
    EXPECT_THAT(writer->Commit("").status().message(),
                HasSubstr("ended after 3 bytes"));
  }
  EXPECT_THAT(Entries(dir_.path() + "/tables"), ::testing::IsEmpty());
  EXPECT_TRUE(storage->LoadTables()->empty());
  // The names are free again.
  auto writer = *storage->BeginTable(Info("gone", GetParam(), 1), {});
  ASSERT_TRUE(writer->Append("abc").ok());
  EXPECT_TRUE(writer->Commit("").ok());
}

INSTANTIATE_TEST_SUITE_P(Placements, TableWriterTest,
                         ::testing::Values("ram", "ssd"));

}  // namespace
}  // namespace engram::server

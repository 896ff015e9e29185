#include "server/storage/data_dir.h"

#include <filesystem>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/storage/ram_row_store.h"
#include "tests/test_processes.h"

namespace engram::server {
namespace {

using ::testing::HasSubstr;

v1::TableInfo MakeInfo(const std::string& name, uint64_t rows,
                       uint32_t row_bytes) {
  v1::TableInfo info;
  info.set_name(name);
  info.set_rows(rows);
  info.set_row_bytes(row_bytes);
  info.set_element_type(v1::ELEMENT_TYPE_OPAQUE);
  info.set_version(3);
  return info;
}

TEST(DataDirTest, WrittenTablesLoadBack) {
  testing::TempDir dir;
  absl::StatusOr<DataDir> data = DataDir::Open(dir.path() + "/data");
  ASSERT_TRUE(data.ok()) << data.status();
  const std::string rows = "abcdefghijkl";
  ASSERT_TRUE(data->WriteTable(MakeInfo("t1", 3, 4), rows.data(), {}).ok());
  ASSERT_TRUE(
      data->WriteTable(MakeInfo("t2", 2, 6), rows.data(), {.sync = false})
          .ok());
  EXPECT_TRUE(data->HasTable("t1"));
  EXPECT_FALSE(data->HasTable("t3"));

  absl::StatusOr<std::vector<StoredTable>> tables = data->LoadTables(NoSsdTier);
  ASSERT_TRUE(tables.ok()) << tables.status();
  ASSERT_EQ(tables->size(), 2);
  for (const StoredTable& table : *tables) {
    EXPECT_EQ(table.info.version(), 3);
    EXPECT_EQ(table.store->rows(), table.info.rows());
    const auto* ram = dynamic_cast<const RamRowStore*>(table.store.get());
    ASSERT_NE(ram, nullptr);
    EXPECT_EQ(std::string(ram->data(), ram->size_bytes()), rows);
  }
}

TEST(DataDirTest, DuplicateAndBadNamesAreRefused) {
  testing::TempDir dir;
  absl::StatusOr<DataDir> data = DataDir::Open(dir.path());
  ASSERT_TRUE(data.ok());
  const std::string rows(8, 'x');
  ASSERT_TRUE(data->WriteTable(MakeInfo("t", 2, 4), rows.data(), {}).ok());
  EXPECT_EQ(data->WriteTable(MakeInfo("t", 2, 4), rows.data(), {}).code(),
            absl::StatusCode::kAlreadyExists);
  for (const char* name : {"", "../escape", ".hidden", "a/b", "sp ace"}) {
    const absl::Status status =
        data->WriteTable(MakeInfo(name, 2, 4), rows.data(), {});
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << name;
  }
}

TEST(DataDirTest, RemovedTablesLeaveNothingBehind) {
  testing::TempDir dir;
  absl::StatusOr<DataDir> data = DataDir::Open(dir.path());
  ASSERT_TRUE(data.ok());
  const std::string rows(8, 'x');
  ASSERT_TRUE(data->WriteTable(MakeInfo("gone", 2, 4), rows.data(), {}).ok());
  ASSERT_TRUE(data->WriteTable(MakeInfo("kept", 2, 4), rows.data(), {}).ok());
  // A mapped table stays readable after its files go.
  absl::StatusOr<StoredTable> mapped = data->LoadTable("gone");
  ASSERT_TRUE(mapped.ok());

  ASSERT_TRUE(data->RemoveTable("gone").ok());
  EXPECT_FALSE(data->HasTable("gone"));
  EXPECT_EQ(data->RemoveTable("gone").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(data->RemoveTable("../kept").code(),
            absl::StatusCode::kInvalidArgument);
  const auto* ram = dynamic_cast<const RamRowStore*>(mapped->store.get());
  ASSERT_NE(ram, nullptr);
  EXPECT_EQ(std::string(ram->data(), ram->size_bytes()), rows);
  // Only the other table is left on disk, and the name is free again.
  std::vector<std::string> entries;
  for (const auto& entry :
       std::filesystem::directory_iterator(dir.path() + "/tables")) {
    entries.push_back(entry.path().filename().string());
  }
  EXPECT_THAT(entries, ::testing::ElementsAre("kept"));
  EXPECT_TRUE(data->WriteTable(MakeInfo("gone", 2, 4), rows.data(), {}).ok());
}

TEST(DataDirTest, DamagedTablesAreSkippedAndTemporariesRemoved) {
  testing::TempDir dir;
  namespace fs = std::filesystem;
  {
    absl::StatusOr<DataDir> data = DataDir::Open(dir.path());
    ASSERT_TRUE(data.ok());
    const std::string rows(8, 'x');
    ASSERT_TRUE(data->WriteTable(MakeInfo("good", 2, 4), rows.data(), {}).ok());
    ASSERT_TRUE(
        data->WriteTable(MakeInfo("short", 2, 4), rows.data(), {}).ok());
  }
  // A truncated row file, a manifest that does not parse, and a leftover
  // from an interrupted write.
  fs::resize_file(dir.path() + "/tables/short/rows.bin", 5);
  fs::create_directories(dir.path() + "/tables/garbled");
  std::ofstream(dir.path() + "/tables/garbled/manifest.textproto") << "{{{";
  fs::create_directories(dir.path() + "/tables/.tmp-half-123");

  absl::StatusOr<DataDir> data = DataDir::Open(dir.path());
  ASSERT_TRUE(data.ok());
  EXPECT_FALSE(fs::exists(dir.path() + "/tables/.tmp-half-123"));
  absl::StatusOr<std::vector<StoredTable>> tables = data->LoadTables(NoSsdTier);
  ASSERT_TRUE(tables.ok()) << tables.status();
  ASSERT_EQ(tables->size(), 1);
  EXPECT_EQ((*tables)[0].info.name(), "good");
}

TEST(DataDirTest, UnwritableDirectoryIsAnError) {
  const absl::StatusOr<DataDir> data = DataDir::Open("/proc/engram-no");
  EXPECT_FALSE(data.ok());
  EXPECT_THAT(data.status().message(), HasSubstr("/proc/engram-no"));
}

}  // namespace
}  // namespace engram::server

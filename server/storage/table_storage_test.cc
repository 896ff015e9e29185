#include "server/storage/table_storage.h"

#include <filesystem>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_processes.h"

namespace engram::server {
namespace {

v1::TableInfo Info(const std::string& name, const std::string& placement) {
  v1::TableInfo info;
  info.set_name(name);
  info.set_rows(3);
  info.set_row_bytes(4);
  info.set_element_type(v1::ELEMENT_TYPE_OPAQUE);
  info.set_version(1);
  info.set_placement(placement);
  return info;
}

std::string Gather(const RowStore& store, std::vector<uint64_t> ids) {
  std::string packed;
  AppendPackedRowIds(ids, &packed);
  std::string out(ids.size() * store.row_bytes(), '\0');
  EXPECT_TRUE(store.Gather(PackedRowIds(packed), out.data()).ok());
  return out;
}

TEST(TableStorageTest, StoresAndReloadsBothPlacements) {
  testing::TempDir dir;
  const std::string rows = "aaaabbbbcccc";
  {
    auto storage = *TableStorage::Create({.data_dir = dir.path()});
    for (const char* placement : {"ram", "ssd"}) {
      absl::StatusOr<StoredTable> stored =
          storage->StoreTable(Info(placement, placement), rows.data(), {});
      ASSERT_TRUE(stored.ok()) << stored.status();
      EXPECT_EQ(Gather(*stored->store, {2, 0}), "ccccaaaa");
    }
    EXPECT_EQ(storage->StoreTable(Info("ssd", "ssd"), rows.data(), {})
                  .status()
                  .code(),
              absl::StatusCode::kAlreadyExists);
  }
  auto storage = *TableStorage::Create({.data_dir = dir.path()});
  absl::StatusOr<std::vector<StoredTable>> tables = storage->LoadTables();
  ASSERT_TRUE(tables.ok()) << tables.status();
  ASSERT_EQ(tables->size(), 2);
  for (const StoredTable& table : *tables) {
    EXPECT_EQ(table.info.placement(), table.info.name());
    EXPECT_EQ(Gather(*table.store, {1, 1}), "bbbbbbbb");
  }
}

TEST(TableStorageTest, SsdRowsWithoutAManifestAreDroppedAtLoad) {
  testing::TempDir dir;
  const std::string rows = "aaaabbbbcccc";
  {
    auto storage = *TableStorage::Create({.data_dir = dir.path()});
    ASSERT_TRUE(storage->StoreTable(Info("t", "ssd"), rows.data(), {}).ok());
  }
  // As if the process died between ingesting the rows and the manifest.
  std::filesystem::remove_all(dir.path() + "/tables/t");
  auto storage = *TableStorage::Create({.data_dir = dir.path()});
  absl::StatusOr<std::vector<StoredTable>> tables = storage->LoadTables();
  ASSERT_TRUE(tables.ok());
  EXPECT_TRUE(tables->empty());
  // The name is free again.
  EXPECT_TRUE(storage->StoreTable(Info("t", "ssd"), rows.data(), {}).ok());
}

TEST(TableStorageTest, AutoPlacementFollowsTheRamBudget) {
  testing::TempDir dir;
  auto limited = *TableStorage::Create(
      {.data_dir = dir.path() + "/a", .ram_budget_bytes = 1000});
  EXPECT_EQ(*limited->ChoosePlacement("auto", 600, 300), "ram");
  EXPECT_EQ(*limited->ChoosePlacement("auto", 800, 300), "ssd");
  EXPECT_EQ(*limited->ChoosePlacement("auto", 1, 2000), "ssd");
  EXPECT_EQ(*limited->ChoosePlacement("ram", 5000, 0), "ram");
  EXPECT_EQ(*limited->ChoosePlacement("", 5000, 0), "ram");
  EXPECT_EQ(*limited->ChoosePlacement("ssd", 1, 0), "ssd");
  EXPECT_EQ(limited->ChoosePlacement("disk", 1, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto unlimited = *TableStorage::Create({.data_dir = dir.path() + "/b"});
  EXPECT_EQ(*unlimited->ChoosePlacement("auto", uint64_t{1} << 50, 0), "ram");
}

}  // namespace
}  // namespace engram::server

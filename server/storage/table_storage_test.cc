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

TEST(TableStorageTest, RamBudgetCoversTablesAndCaches) {
  testing::TempDir dir;
  // 100 B of block cache, then 1000 B for RAM tables and caches.
  auto storage = *TableStorage::Create({.data_dir = dir.path(),
                                        .ram_budget_bytes = 1100,
                                        .row_cache_bytes = 1 << 20,
                                        .block_cache_bytes = 100});
  EXPECT_EQ(storage->ram_use().charged_bytes, 100);
  const std::string rows(600, 'r');
  auto info = [](const std::string& name, const std::string& placement,
                 uint64_t rows) {
    v1::TableInfo table = Info(name, placement);
    table.set_rows(rows);
    return table;
  };
  // auto: 600 B fit in RAM, the next 600 B do not.
  absl::StatusOr<StoredTable> first =
      storage->StoreTable(info("first", "auto", 150), rows.data(), {});
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->info.placement(), "ram");
  EXPECT_EQ(storage->ram_use().charged_bytes, 700);
  absl::Status explicit_ram =
      storage->StoreTable(info("ram", "ram", 150), rows.data(), {}).status();
  EXPECT_EQ(explicit_ram.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(explicit_ram.message(), ::testing::HasSubstr("--ram-budget"));
  EXPECT_EQ(storage->ram_use().charged_bytes, 700);  // Given back.
  // The ssd table's cache gets the 400 B left, not the 1 MiB asked for.
  absl::StatusOr<StoredTable> second =
      storage->StoreTable(info("second", "auto", 150), rows.data(), {});
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->info.placement(), "ssd");
  EXPECT_EQ(second->store->Stats().cache_capacity_bytes, 400);
  EXPECT_EQ(storage->ram_use().charged_bytes, 1100);
  EXPECT_EQ(Gather(*second->store, {149, 0}), "rrrrrrrr");

  EXPECT_EQ(storage->StoreTable(info("where", "moon", 1), rows.data(), {})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(TableStorage::Create({.data_dir = dir.path() + "/b",
                                  .ram_budget_bytes = 10,
                                  .block_cache_bytes = 100})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(TableStorageTest, DroppedTablesGiveBackTheirRamAndName) {
  testing::TempDir dir;
  // 100 B of block cache, then 1000 B for RAM tables and caches.
  auto storage = *TableStorage::Create({.data_dir = dir.path(),
                                        .ram_budget_bytes = 1100,
                                        .row_cache_bytes = 300,
                                        .block_cache_bytes = 100});
  const std::string rows = "aaaabbbbcccc";
  ASSERT_TRUE(storage->StoreTable(Info("r", "ram"), rows.data(), {}).ok());
  absl::StatusOr<StoredTable> ssd =
      storage->StoreTable(Info("s", "ssd"), rows.data(), {});
  ASSERT_TRUE(ssd.ok()) << ssd.status();
  EXPECT_EQ(storage->ram_use().charged_bytes, 100 + 12 + 300);

  ASSERT_TRUE(storage->DropTable("s").ok());
  EXPECT_EQ(storage->ram_use().charged_bytes, 100 + 12);
  // The store a lookup still holds reads on.
  EXPECT_EQ(Gather(*ssd->store, {2}), "cccc");
  ASSERT_TRUE(storage->DropTable("r").ok());
  EXPECT_EQ(storage->ram_use().charged_bytes, 100);
  EXPECT_EQ(storage->DropTable("r").code(), absl::StatusCode::kNotFound);

  // A new table of the name has its own rows; nothing of the dropped ones
  // loads at the next start.
  const std::string other = "xxxxyyyyzzzz";
  absl::StatusOr<StoredTable> again =
      storage->StoreTable(Info("s", "ssd"), other.data(), {});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(Gather(*again->store, {0, 2}), "xxxxzzzz");
  ssd->store.reset();
  again->store.reset();
  storage.reset();
  storage = *TableStorage::Create({.data_dir = dir.path()});
  absl::StatusOr<std::vector<StoredTable>> tables = storage->LoadTables();
  ASSERT_TRUE(tables.ok()) << tables.status();
  ASSERT_EQ(tables->size(), 1);
  EXPECT_EQ(tables->front().info.name(), "s");
  EXPECT_EQ(Gather(*tables->front().store, {1}), "yyyy");
}

TEST(TableStorageTest, BuiltTablesAreChargedUntilDropped) {
  testing::TempDir dir;
  auto storage = *TableStorage::Create({.data_dir = dir.path(),
                                        .ram_budget_bytes = 1000,
                                        .block_cache_bytes = 100});
  storage->ChargeBuiltTable("built", 300);
  EXPECT_EQ(storage->ram_use().charged_bytes, 100 + 300);
  // Nothing of it is on disk; its RAM comes back all the same.
  EXPECT_EQ(storage->DropTable("built").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(storage->ram_use().charged_bytes, 100);
}

TEST(TableStorageTest, UnlimitedAutoPlacementIsRam) {
  testing::TempDir dir;
  auto storage = *TableStorage::Create({.data_dir = dir.path()});
  absl::StatusOr<StoredTable> stored =
      storage->StoreTable(Info("t", "auto"), "aaaabbbbcccc", {});
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->info.placement(), "ram");
}

}  // namespace
}  // namespace engram::server

#include "server/tables/table_manager.h"

#include <atomic>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "server/storage/ram_row_store.h"

namespace engram::server {
namespace {

std::shared_ptr<const Table> MakeTable(const std::string& name,
                                       uint64_t version) {
  v1::TableInfo info;
  info.set_name(name);
  info.set_rows(1);
  info.set_row_bytes(8);
  info.set_version(version);
  return *Table::Create(
      info, std::move(**RamRowStore::Builder::Create(1, 8)).Build());
}

TEST(TableManagerTest, PublishGetAndList) {
  TableManager manager;
  EXPECT_EQ(manager.Get("a").status().code(), absl::StatusCode::kNotFound);
  manager.Publish(MakeTable("b", 1));
  manager.Publish(MakeTable("a", 1));
  ASSERT_TRUE(manager.Get("a").ok());
  const std::vector<std::shared_ptr<const Table>> tables = manager.List();
  ASSERT_EQ(tables.size(), 2);
  EXPECT_EQ(tables[0]->name(), "a");
  EXPECT_EQ(tables[1]->name(), "b");
}

TEST(TableManagerTest, ReplacedTableLivesWhileHeld) {
  TableManager manager;
  manager.Publish(MakeTable("t", 1));
  std::shared_ptr<const Table> held = *manager.Get("t");
  manager.Publish(MakeTable("t", 2));
  EXPECT_EQ(held->info().version(), 1);
  EXPECT_EQ((*manager.Get("t"))->info().version(), 2);
}

TEST(TableManagerTest, ReadersSeeMonotonicVersionsDuringPublishes) {
  TableManager manager;
  manager.Publish(MakeTable("t", 0));
  std::atomic<bool> stop{false};
  std::atomic<int> regressions{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&] {
      uint64_t last = 0;
      while (!stop) {
        const uint64_t version = (*manager.Get("t"))->info().version();
        if (version < last) ++regressions;
        last = version;
      }
    });
  }
  for (uint64_t v = 1; v <= 2000; ++v) manager.Publish(MakeTable("t", v));
  stop = true;
  for (std::thread& reader : readers) reader.join();
  EXPECT_EQ(regressions, 0);
  EXPECT_EQ((*manager.Get("t"))->info().version(), 2000);
}

}  // namespace
}  // namespace engram::server

#include "server/tables/demo_tables.h"

#include <cmath>
#include <string>

#include "gtest/gtest.h"
#include "server/storage/ram_row_store.h"
#include "tests/test_processes.h"

namespace engram::server {
namespace {

DemoTablesOptions SmallOptions() {
  DemoTablesOptions options;
  options.hash_config.layer_ids = {2, 5};
  options.hash_config.vocab_sizes = {100, 150};
  options.hash_config.heads_per_ngram = 2;
  options.hash_config.n_embed_per_ngram = 2 * 4;
  options.element_type = ElementType::kBf16;
  return options;
}

TEST(DemoTablesTest, RowsAreDeterministicAndInRange) {
  std::string a(16 * 2, '\0'), b(16 * 2, '\0'), c(16 * 2, '\0');
  FillDemoRow(1, 77, ElementType::kBf16, 16, a.data());
  FillDemoRow(1, 77, ElementType::kBf16, 16, b.data());
  FillDemoRow(1, 78, ElementType::kBf16, 16, c.data());
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  for (int i = 0; i < 16; ++i) {
    const float value = DecodeElement(ElementType::kBf16, a.data() + 2 * i);
    EXPECT_GE(std::fabs(value), 0.5f);
    EXPECT_LT(std::fabs(value), 1.0f);
  }
}

TEST(DemoTablesTest, CreatesOneTablePerLayerOnce) {
  testing::TempDir dir;
  absl::StatusOr<DataDir> data = DataDir::Open(dir.path());
  ASSERT_TRUE(data.ok());
  const DemoTablesOptions options = SmallOptions();
  absl::StatusOr<std::vector<DemoTable>> built =
      BuildMissingDemoTables(*data, options);
  ASSERT_TRUE(built.ok()) << built.status();
  ASSERT_EQ(built->size(), 2);
  for (const DemoTable& table : *built) {
    ASSERT_TRUE(data->WriteTable(table.info, table.rows->data(), {}).ok());
  }
  absl::StatusOr<std::vector<StoredTable>> tables = data->LoadTables(NoSsdTier);
  ASSERT_TRUE(tables.ok());
  ASSERT_EQ(tables->size(), 2);
  const HashSpec spec = *HashSpec::FromConfig(options.hash_config);
  for (const StoredTable& table : *tables) {
    const int layer = *spec.LayerIndex(table.info.hash_spec().layer_id());
    EXPECT_EQ(table.info.name(), DemoTableName(spec.layer_id(layer)));
    EXPECT_EQ(table.info.rows(), spec.rows_in_layer(layer));
    EXPECT_EQ(table.info.rows_written(), table.info.rows());
    EXPECT_EQ(table.info.row_bytes(), 8);
    EXPECT_EQ(table.info.hash_spec().digest(), spec.Digest());
    const auto* ram = dynamic_cast<const RamRowStore*>(table.store.get());
    std::string expected(8, '\0');
    FillDemoRow(spec.layer_id(layer), 3, ElementType::kBf16, 4,
                expected.data());
    EXPECT_EQ(std::string(ram->data() + 3 * 8, 8), expected);
  }
  // Tables on disk are not built again.
  built = BuildMissingDemoTables(*data, options);
  ASSERT_TRUE(built.ok());
  EXPECT_TRUE(built->empty());
}

TEST(DemoTablesTest, RejectsBadOptions) {
  testing::TempDir dir;
  absl::StatusOr<DataDir> data = DataDir::Open(dir.path());
  DemoTablesOptions options = SmallOptions();
  options.element_type = ElementType::kOpaque;
  EXPECT_EQ(BuildMissingDemoTables(*data, options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options = SmallOptions();
  options.hash_config.heads_per_ngram = 0;
  EXPECT_EQ(BuildMissingDemoTables(*data, options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace engram::server

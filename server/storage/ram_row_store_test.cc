#include "server/storage/ram_row_store.h"

#include <fstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/test_processes.h"

namespace engram::server {
namespace {

std::string Pack(const std::vector<uint64_t>& ids) {
  std::string packed;
  AppendPackedRowIds(ids, &packed);
  return packed;
}

// Row i holds bytes (i * 31 + j) for j in [0, row_bytes).
void FillPattern(char* data, uint64_t rows, uint32_t row_bytes) {
  for (uint64_t i = 0; i < rows; ++i) {
    for (uint32_t j = 0; j < row_bytes; ++j) {
      data[i * row_bytes + j] = static_cast<char>(i * 31 + j);
    }
  }
}

class RamRowStoreTest : public ::testing::TestWithParam<uint32_t> {};

TEST_P(RamRowStoreTest, GathersRowsInIdOrder) {
  const uint32_t row_bytes = GetParam();
  constexpr uint64_t kRows = 1000;
  absl::StatusOr<std::unique_ptr<RamRowStore::Builder>> builder =
      RamRowStore::Builder::Create(kRows, row_bytes);
  ASSERT_TRUE(builder.ok()) << builder.status();
  FillPattern((*builder)->mutable_data(), kRows, row_bytes);
  std::unique_ptr<RamRowStore> store = std::move(**builder).Build();
  EXPECT_EQ(store->rows(), kRows);
  EXPECT_EQ(store->row_bytes(), row_bytes);

  const std::vector<uint64_t> ids = {999, 0, 5, 5, 123};
  const std::string packed = Pack(ids);
  std::string out(ids.size() * row_bytes, '\0');
  ASSERT_TRUE(store->Gather(PackedRowIds(packed), out.data()).ok());
  for (size_t i = 0; i < ids.size(); ++i) {
    for (uint32_t j = 0; j < row_bytes; ++j) {
      ASSERT_EQ(out[i * row_bytes + j], static_cast<char>(ids[i] * 31 + j))
          << "row " << i << " byte " << j;
    }
  }
}

// 64/128/256 take the fixed-size paths; the others the generic one.
INSTANTIATE_TEST_SUITE_P(RowSizes, RamRowStoreTest,
                         ::testing::Values(1, 64, 128, 256, 264, 1000));

TEST(RamRowStoreFileTest, MapsAFileAndChecksItsSize) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/rows.bin";
  std::vector<char> data(10 * 16);
  FillPattern(data.data(), 10, 16);
  std::ofstream(path, std::ios::binary).write(data.data(), data.size());

  absl::StatusOr<std::unique_ptr<RamRowStore>> store =
      RamRowStore::MapFile(path, 10, 16);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ(std::string((*store)->data(), data.size()),
            std::string(data.data(), data.size()));

  EXPECT_EQ(RamRowStore::MapFile(path, 11, 16).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(
      RamRowStore::MapFile(dir.path() + "/missing", 1, 16).status().code(),
      absl::StatusCode::kNotFound);
  EXPECT_EQ(RamRowStore::MapFile(path, 10, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(RamRowStoreFileTest, EmptyTableNeedsNoMemory) {
  absl::StatusOr<std::unique_ptr<RamRowStore::Builder>> builder =
      RamRowStore::Builder::Create(0, 8);
  ASSERT_TRUE(builder.ok());
  std::unique_ptr<RamRowStore> store = std::move(**builder).Build();
  EXPECT_EQ(store->rows(), 0);
  EXPECT_TRUE(store->Gather(PackedRowIds(""), nullptr).ok());
}

}  // namespace
}  // namespace engram::server

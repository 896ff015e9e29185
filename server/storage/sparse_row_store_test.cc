#include "server/storage/sparse_row_store.h"

#include <cstring>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/storage/ram_row_store.h"

namespace engram::server {
namespace {

std::shared_ptr<const RowStore> Dense(const std::string& rows,
                                      uint32_t row_bytes) {
  auto builder =
      *RamRowStore::Builder::Create(rows.size() / row_bytes, row_bytes);
  std::memcpy(builder->mutable_data(), rows.data(), rows.size());
  return std::move(*builder).Build();
}

TEST(SparseRowStoreTest, ReportsRowsNotInTheBitmap) {
  // Rows 0 and 9 of 10 written.
  std::string present(2, '\0');
  present[0] = 0x01;
  present[1] = 0x02;
  const std::string rows = "aa" + std::string(16, '\0') + "jj";
  auto store = *SparseRowStore::Create(Dense(rows, 2), present);
  EXPECT_EQ(store->rows_present(), 2);
  EXPECT_EQ(store->Stats().rows_in_ram, 2);
  std::string ids;
  AppendPackedRowIds({9, 5, 0}, &ids);
  std::string out(6, '?');
  MissingRows missing(3);
  ASSERT_TRUE(store->GatherSparse(PackedRowIds(ids), out.data(), missing).ok());
  EXPECT_EQ(out, std::string("jj") + std::string(2, '\0') + "aa");
  EXPECT_FALSE(missing.Get(0));
  EXPECT_TRUE(missing.Get(1));
  EXPECT_FALSE(missing.Get(2));
  EXPECT_TRUE(missing.any());
  EXPECT_EQ(missing.bits(), std::string(1, '\x02'));
}

TEST(SparseRowStoreTest, RejectsABitmapOfTheWrongSize) {
  EXPECT_EQ(SparseRowStore::Create(Dense(std::string(20, 'x'), 2),
                                   std::string(3, '\0'))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace engram::server

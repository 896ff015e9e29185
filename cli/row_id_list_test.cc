#include "cli/row_id_list.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace engram::cli {
namespace {

using ::testing::ElementsAre;

TEST(RowIdListTest, ParsesIdsAndRanges) {
  absl::StatusOr<std::vector<uint64_t>> ids =
      ParseRowIdList("7, 0-3,18446744073709551615", 100);
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_THAT(*ids, ElementsAre(7, 0, 1, 2, 3, 18446744073709551615ull));
}

TEST(RowIdListTest, RejectsBadItems) {
  for (const char* text : {"", "x", "-1", "3-1", "1-", "1,,a", "2-b"}) {
    EXPECT_EQ(ParseRowIdList(text, 100).status().code(),
              absl::StatusCode::kInvalidArgument)
        << text;
  }
}

TEST(RowIdListTest, BoundsExpansion) {
  EXPECT_FALSE(ParseRowIdList("0-100", 100).ok());
  EXPECT_TRUE(ParseRowIdList("0-99", 100).ok());
  EXPECT_FALSE(ParseRowIdList("0-18446744073709551615", 100).ok());
}

}  // namespace
}  // namespace engram::cli

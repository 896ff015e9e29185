#include "cli/token_batch.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace engram::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(TokenBatchTest, ShorterSequencesAreLeftPadded) {
  absl::StatusOr<TokenBatch> batch = ParseTokenBatch("1, 2,3;4", 9);
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_EQ(batch->batch, 2);
  EXPECT_EQ(batch->time, 3);
  EXPECT_THAT(batch->tokens, ElementsAre(1, 2, 3, 9, 9, 4));
  EXPECT_THAT(batch->lengths, ElementsAre(3, 1));
  EXPECT_TRUE(batch->ragged());
  EXPECT_FALSE(ParseTokenBatch("1,2;3,4", 0)->ragged());
}

TEST(TokenBatchTest, BadItemsAreNamed) {
  const absl::Status status = ParseTokenBatch("1,x;2", 0).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("--tokens: 'x' is not an integer"));
}

}  // namespace
}  // namespace engram::cli

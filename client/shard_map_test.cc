#include "client/shard_map.h"

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace engram::client {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(ParseShardMapTest, ReadsTablesAndTheirShardsInRowOrder) {
  const absl::StatusOr<ShardMap> map = ParseShardMap(
      "# two shards, the second given first\n"
      "table t rows 100\n"
      "shard t 40 100 c:1\n"
      "shard t 0 40 a:1 b:1  # two replicas\n");
  ASSERT_TRUE(map.ok()) << map.status();
  const TableShards& t = map->at("t");
  EXPECT_EQ(t.rows, 100);
  ASSERT_EQ(t.shards.size(), 2);
  EXPECT_EQ(t.shards[0].end_row, 40);
  EXPECT_THAT(t.shards[0].replicas, ElementsAre("a:1", "b:1"));
  EXPECT_THAT(t.shards[1].replicas, ElementsAre("c:1"));
}

// The message ParseShardMap gives for `text`, which it must refuse.
std::string Refusal(const std::string& text) {
  const absl::StatusOr<ShardMap> map = ParseShardMap(text);
  EXPECT_EQ(map.status().code(), absl::StatusCode::kInvalidArgument) << text;
  return std::string(map.status().message());
}

TEST(ParseShardMapTest, RefusesShardsThatDoNotTileTheTable) {
  EXPECT_THAT(Refusal("table t rows 100\nshard t 0 40 a:1\nshard t 50 100 "
                      "b:1\n"),
              HasSubstr("do not tile [0, 100): expected one from row 40"));
  EXPECT_THAT(Refusal("table t rows 100\nshard t 0 90 a:1\n"),
              HasSubstr("end at row 90 of 100"));
  EXPECT_THAT(Refusal("shard t 0 90 a:1\n"),
              HasSubstr("line 1: shard of table 't' before its 'table' line"));
  EXPECT_THAT(Refusal("table t rows 1\nreplica a:1\n"),
              HasSubstr("line 2: unknown directive 'replica'"));
}

TEST(ParseShardMapTest, RefusesAServerListedTwiceForATable) {
  EXPECT_THAT(
      Refusal("table t rows 100\nshard t 0 40 a:1 b:1\nshard t 40 100 a:1\n"),
      HasSubstr("server a:1 is listed twice for table 't' (shard [0, 40) and "
                "shard [40, 100))"));
  EXPECT_THAT(Refusal("table t rows 10\nshard t 0 10 a:1 a:1\n"),
              HasSubstr("server a:1 is listed twice"));
  // Other tables may be on the same server.
  EXPECT_TRUE(ParseShardMap("table t rows 10\nshard t 0 10 a:1\n"
                            "table u rows 10\nshard u 0 10 a:1\n")
                  .ok());
}

}  // namespace
}  // namespace engram::client

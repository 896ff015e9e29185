#include "common/addressing/mini_json.h"

#include <cstdint>
#include <string>

#include "gtest/gtest.h"

namespace engram::internal {
namespace {

TEST(MiniJsonTest, ParsesNestedValuesAndExactIntegers) {
  absl::StatusOr<JsonValue> doc = ParseJson(R"(
    {"a": [1, -2, 9223372036854775807, -9223372036854775808],
     "b": {"c": "x\"y\\z\u0041", "d": true, "e": false, "f": null},
     "g": [[1, 2], [3]], "h": 1.5, "u": "18446744073709551615"})");
  ASSERT_TRUE(doc.ok()) << doc.status();
  EXPECT_EQ((*doc)["a"][2].AsInt64(), INT64_MAX);
  EXPECT_EQ((*doc)["a"][3].AsInt64(), INT64_MIN);
  EXPECT_EQ((*doc)["b"]["c"].AsString(), "x\"y\\zA");
  EXPECT_TRUE((*doc)["b"]["d"].AsBool());
  EXPECT_FALSE((*doc)["b"]["e"].AsBool());
  EXPECT_TRUE((*doc)["b"]["f"].is_null());
  EXPECT_EQ((*doc)["g"].FlattenInt64(), (std::vector<int64_t>{1, 2, 3}));
  EXPECT_DOUBLE_EQ((*doc)["h"].AsDouble(), 1.5);
  EXPECT_EQ((*doc)["u"].AsUint64(), UINT64_MAX);
  EXPECT_TRUE(doc->Has("g"));
  EXPECT_FALSE(doc->Has("z"));
  EXPECT_EQ(doc->members().front().first, "a");
}

TEST(MiniJsonTest, RejectsSyntaxErrors) {
  for (const char* text : {"", "{", "[1,", "{\"a\" 1}", "[1] x", "\"abc",
                           "{1: 2}", "[1 2]", "@"}) {
    EXPECT_FALSE(ParseJson(text).ok()) << text;
  }
  EXPECT_TRUE(ParseJson(" [ ] ").ok());
  EXPECT_TRUE(ParseJson("{}").ok());
}

}  // namespace
}  // namespace engram::internal

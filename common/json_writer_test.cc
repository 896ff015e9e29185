#include "common/json_writer.h"

#include <cmath>
#include <cstdint>
#include <limits>

#include "gtest/gtest.h"

namespace engram {
namespace {

TEST(JsonWriterTest, NestedContainersGetCommas) {
  JsonWriter json;
  json.BeginObject();
  json.Key("tables").BeginArray();
  json.BeginObject().Key("name").String("a").Key("rows").Uint(3).EndObject();
  json.BeginObject().Key("name").String("b").Key("rows").Uint(4).EndObject();
  json.EndArray();
  json.Key("ok").Bool(true);
  json.EndObject();
  EXPECT_EQ(
      json.str(),
      R"({"tables":[{"name":"a","rows":3},{"name":"b","rows":4}],"ok":true})");
}

TEST(JsonWriterTest, IntegersAreExact) {
  JsonWriter json;
  json.BeginArray()
      .Int(std::numeric_limits<int64_t>::min())
      .Uint(std::numeric_limits<uint64_t>::max())
      .EndArray();
  EXPECT_EQ(json.str(), "[-9223372036854775808,18446744073709551615]");
}

TEST(JsonWriterTest, EscapesStringsAndNullsNonFinite) {
  JsonWriter json;
  json.BeginArray().String("a\"b\\c\n\x01").Double(NAN).Double(0.5).EndArray();
  EXPECT_EQ(json.str(), R"(["a\"b\\c\n\u0001",null,0.5])");
}

}  // namespace
}  // namespace engram

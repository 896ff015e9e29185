// Checks SHA-256 against Python's hashlib (tools/gen_test_data.py).
#include "common/addressing/sha256.h"

#include <string>

#include "absl/strings/escaping.h"
#include "common/addressing/mini_json.h"
#include "common/addressing/test_paths.h"
#include "gtest/gtest.h"

namespace engram::internal {
namespace {

TEST(Sha256Test, MatchesHashlib) {
  absl::StatusOr<JsonValue> doc = ReadJsonFile(TestDataPath("sha256.json"));
  ASSERT_TRUE(doc.ok()) << doc.status();
  ASSERT_GT(doc->size(), 5u);
  for (const JsonValue& c : doc->items()) {
    const std::string input = absl::HexStringToBytes(c["hex_input"].AsString());
    EXPECT_EQ(Sha256::ToHex(Sha256::Of(input)), c["sha256"].AsString())
        << input.size() << " bytes";
    // Fed in uneven pieces, the digest is the same.
    Sha256 pieces;
    size_t pos = 0;
    for (size_t step = 1; pos < input.size(); step = step * 3 % 71 + 1) {
      const size_t take = std::min(step, input.size() - pos);
      pieces.Update(input.data() + pos, take);
      pos += take;
    }
    EXPECT_EQ(Sha256::ToHex(pieces.Finish()), c["sha256"].AsString());
  }
}

}  // namespace
}  // namespace engram::internal

// Checks SHA-256 against Python's hashlib (tools/gen_test_data.py), and the
// SHA-NI path against the portable one.
#include "common/addressing/sha256.h"

#include <algorithm>
#include <fstream>
#include <random>
#include <string>
#include <string_view>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/addressing/mini_json.h"
#include "common/addressing/test_paths.h"
#include "gtest/gtest.h"

namespace engram::internal {
namespace {

using Implementation = Sha256::Implementation;

std::string RandomBytes(std::mt19937_64& rng, size_t n) {
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng());
  return out;
}

// DigestInPieces feeds `input` to a fresh hasher in pieces of random sizes up
// to `max_piece` (zero-length pieces included), so that blocks straddle
// Update calls and whole blocks start at every offset within the input.
Sha256::Digest DigestInPieces(Implementation implementation,
                              std::string_view input, std::mt19937_64& rng,
                              size_t max_piece) {
  Sha256 h(implementation);
  size_t pos = 0;
  while (pos < input.size()) {
    const size_t take =
        std::min<size_t>(rng() % (max_piece + 1), input.size() - pos);
    h.Update(input.data() + pos, take);
    pos += take;
  }
  return h.Finish();
}

class Sha256HashlibTest : public testing::TestWithParam<Implementation> {};

TEST_P(Sha256HashlibTest, MatchesHashlib) {
  absl::StatusOr<JsonValue> doc = ReadJsonFile(TestDataPath("sha256.json"));
  ASSERT_TRUE(doc.ok()) << doc.status();
  ASSERT_GT(doc->size(), 5u);
  for (const JsonValue& c : doc->items()) {
    const std::string input = absl::HexStringToBytes(c["hex_input"].AsString());
    Sha256 whole(GetParam());
    whole.Update(input);
    EXPECT_EQ(Sha256::ToHex(whole.Finish()), c["sha256"].AsString())
        << input.size() << " bytes";
    // Fed in uneven pieces, the digest is the same.
    Sha256 pieces(GetParam());
    size_t pos = 0;
    for (size_t step = 1; pos < input.size(); step = step * 3 % 71 + 1) {
      const size_t take = std::min(step, input.size() - pos);
      pieces.Update(input.data() + pos, take);
      pos += take;
    }
    EXPECT_EQ(Sha256::ToHex(pieces.Finish()), c["sha256"].AsString());
  }
}

INSTANTIATE_TEST_SUITE_P(BothPaths, Sha256HashlibTest,
                         testing::Values(Implementation::kFastest,
                                         Implementation::kScalar),
                         [](const testing::TestParamInfo<Implementation>& p) {
                           return p.param == Implementation::kFastest
                                      ? "Fastest"
                                      : "Scalar";
                         });

// Where Linux reports SHA-NI, the fast path must be in use: otherwise imports
// silently run at scalar speed.
TEST(Sha256Test, UsesShaNiWhereTheCpuHasIt) {
  std::ifstream cpuinfo("/proc/cpuinfo");
  if (!cpuinfo) GTEST_SKIP() << "no /proc/cpuinfo";
  bool sha_ni = false;
  for (std::string line; std::getline(cpuinfo, line);) {
    if (absl::StartsWith(line, "flags") &&
        absl::StrContains(absl::StrCat(line, " "), " sha_ni ")) {
      sha_ni = true;
    }
  }
  EXPECT_EQ(Sha256::HardwareAccelerated(), sha_ni);
}

TEST(Sha256Test, PathsAgreeOnRandomMessages) {
  if (!Sha256::HardwareAccelerated()) GTEST_SKIP() << "no SHA-NI on this CPU";
  std::mt19937_64 rng(20240611);
  for (size_t length = 0; length <= 5000; length += 1 + rng() % 7) {
    const std::string input = RandomBytes(rng, length);
    const Sha256::Digest scalar =
        DigestInPieces(Implementation::kScalar, input, rng, 1 + rng() % 200);
    const Sha256::Digest fast =
        DigestInPieces(Implementation::kFastest, input, rng, 1 + rng() % 200);
    ASSERT_EQ(Sha256::ToHex(fast), Sha256::ToHex(scalar)) << length << " bytes";
    ASSERT_EQ(Sha256::ToHex(Sha256::Of(input)), Sha256::ToHex(scalar))
        << length << " bytes";
  }
}

TEST(Sha256Test, PathsAgreeOnMultiMegabyteMessage) {
  if (!Sha256::HardwareAccelerated()) GTEST_SKIP() << "no SHA-NI on this CPU";
  std::mt19937_64 rng(7);
  // Not a multiple of the block size, so Finish pads a partial block.
  const std::string input = RandomBytes(rng, (5 << 20) + 37);
  Sha256 scalar(Implementation::kScalar);
  scalar.Update(input);
  const std::string expected = Sha256::ToHex(scalar.Finish());
  EXPECT_EQ(Sha256::ToHex(Sha256::Of(input)), expected);
  // Large pieces at odd offsets, as an import streams row chunks.
  EXPECT_EQ(Sha256::ToHex(
                DigestInPieces(Implementation::kFastest, input, rng, 300000)),
            expected);
}

}  // namespace
}  // namespace engram::internal

// Checks the numpy reproduction against values numpy itself computed at
// build time (tools/gen_test_data.py -> numpy_random.json).
#include "common/addressing/numpy_random.h"

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "common/addressing/mini_json.h"
#include "common/addressing/test_paths.h"
#include "gtest/gtest.h"

namespace engram::internal {
namespace {

std::string Uint128ToString(unsigned __int128 value) {
  if (value == 0) return "0";
  std::string digits;
  while (value > 0) {
    digits.insert(digits.begin(), static_cast<char>('0' + value % 10));
    value /= 10;
  }
  return digits;
}

class NumpyRandomTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<JsonValue> doc =
        ReadJsonFile(TestDataPath("numpy_random.json"));
    ASSERT_TRUE(doc.ok()) << doc.status();
    doc_ = *std::move(doc);
  }
  JsonValue doc_;
};

TEST_F(NumpyRandomTest, SeedSequenceMatchesNumpy) {
  ASSERT_GT(doc_["seeds"].size(), 0u);
  for (const JsonValue& c : doc_["seeds"].items()) {
    const uint64_t seed = c["seed"].AsUint64();
    SCOPED_TRACE(seed);
    const NumpySeedSequence seq = NumpySeedSequence::FromUint64(seed);
    for (int i = 0; i < NumpySeedSequence::kPoolSize; ++i) {
      EXPECT_EQ(seq.pool()[i], c["pool"][i].AsUint64());
    }
    const std::vector<uint32_t> state32 = seq.GenerateState32(6);
    ASSERT_EQ(state32.size(), c["state32"].size());
    for (size_t i = 0; i < state32.size(); ++i) {
      EXPECT_EQ(state32[i], c["state32"][i].AsUint64());
    }
    const std::vector<uint64_t> state64 = seq.GenerateState64(4);
    for (size_t i = 0; i < state64.size(); ++i) {
      EXPECT_EQ(state64[i], c["state64"][i].AsUint64());
    }
  }
}

TEST_F(NumpyRandomTest, Pcg64StateAndDrawsMatchNumpy) {
  for (const JsonValue& c : doc_["seeds"].items()) {
    const uint64_t seed = c["seed"].AsUint64();
    SCOPED_TRACE(seed);
    NumpyPcg64 rng = NumpyPcg64::FromSeed(seed);
    const unsigned __int128 state =
        (static_cast<unsigned __int128>(rng.state_high()) << 64) |
        rng.state_low();
    const unsigned __int128 inc =
        (static_cast<unsigned __int128>(rng.inc_high()) << 64) | rng.inc_low();
    EXPECT_EQ(Uint128ToString(state), c["pcg_state"].AsString());
    EXPECT_EQ(Uint128ToString(inc), c["pcg_inc"].AsString());
    for (const JsonValue& v : c["raw"].items()) {
      EXPECT_EQ(rng.NextUint64(), v.AsUint64());
    }
    // integers(0, 2**32, dtype=uint32) is a stream of buffered 32-bit draws.
    NumpyPcg64 rng32 = NumpyPcg64::FromSeed(seed);
    for (const JsonValue& v : c["uint32"].items()) {
      EXPECT_EQ(rng32.NextUint32(), v.AsUint64());
    }
  }
}

TEST_F(NumpyRandomTest, IntegersInt64MatchNumpyAcrossCalls) {
  int checked = 0;
  for (const JsonValue& c : doc_["integers"].items()) {
    const uint64_t seed = c["seed"].AsUint64();
    NumpyPcg64 rng = NumpyPcg64::FromSeed(seed);
    for (const JsonValue& call : c["calls"].items()) {
      const int64_t low = call["low"].AsInt64();
      const int64_t high = call["high"].AsInt64();
      SCOPED_TRACE(testing::Message() << "seed " << seed << " integers(" << low
                                      << ", " << high << ")");
      absl::StatusOr<std::vector<int64_t>> values =
          NumpyIntegersInt64(rng, low, high, call["n"].AsInt64());
      ASSERT_TRUE(values.ok()) << values.status();
      ASSERT_EQ(values->size(), call["values"].size());
      for (size_t i = 0; i < values->size(); ++i) {
        EXPECT_EQ((*values)[i], call["values"][i].AsInt64());
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 100);
}

TEST(NumpyRandomErrorsTest, RejectsEmptyRange) {
  NumpyPcg64 rng = NumpyPcg64::FromSeed(0);
  EXPECT_EQ(NumpyIntegersInt64(rng, 5, 5, 1).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(NumpyDefaultRngIntegersInt64(0, 1, 0, 3).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(NumpyRandomErrorsTest, SingleValueRangeDrawsNothing) {
  NumpyPcg64 a = NumpyPcg64::FromSeed(3);
  NumpyPcg64 b = NumpyPcg64::FromSeed(3);
  absl::StatusOr<std::vector<int64_t>> v = NumpyIntegersInt64(a, 7, 8, 4);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, std::vector<int64_t>(4, 7));
  EXPECT_EQ(a.NextUint64(), b.NextUint64());
}

}  // namespace
}  // namespace engram::internal

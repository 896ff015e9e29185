// engramctl compression-map on small tokenizer.json files, against maps
// that tests/compression_map_reference.py computes with Python's standard
// library (the fixtures and the manifest are generated at build time into
// ENGRAM_COMPRESSION_FIXTURE_DIR).
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/addressing/npy.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "gtest/gtest.h"
#include "tests/test_processes.h"

namespace engram::testing {
namespace {

using ::testing::HasSubstr;

google::protobuf::Struct Manifest() {
  std::ifstream in(ENGRAM_COMPRESSION_FIXTURE_DIR "/manifest.json");
  const std::string text((std::istreambuf_iterator<char>(in)),
                         std::istreambuf_iterator<char>());
  return ParseJson(text);
}

TEST(CompressionMapCliTest, MatchesThePythonReferenceOnEveryFixture) {
  TempDir dir;
  const google::protobuf::Struct manifest = Manifest();
  const auto& fixtures = manifest.fields().at("fixtures").list_value();
  ASSERT_GE(fixtures.values_size(), 7);
  for (const google::protobuf::Value& value : fixtures.values()) {
    const auto& fixture = value.struct_value().fields();
    const std::string name = fixture.at("name").string_value();
    SCOPED_TRACE(name);
    const std::string out = absl::StrCat(dir.path(), "/", name, ".npy");
    const CommandResult result = RunCommand(
        {EngramctlPath(), "compression-map", "--tokenizer",
         fixture.at("tokenizer").string_value(), "--out", out, "--json"});
    ASSERT_EQ(result.exit_code, 0) << result.err;
    const google::protobuf::Struct printed = ParseJson(result.out);
    const auto& expected = fixture.at("lookup").list_value().values();
    EXPECT_EQ(printed.fields().at("tokenizer_vocab").number_value(),
              fixture.at("tokenizer_vocab").number_value());
    EXPECT_EQ(printed.fields().at("raw_vocab").number_value(), expected.size());
    absl::StatusOr<std::vector<int64_t>> lookup = internal::ReadNpyInt64(out);
    ASSERT_TRUE(lookup.ok()) << lookup.status();
    ASSERT_EQ(lookup->size(), expected.size());
    for (int id = 0; id < expected.size(); ++id) {
      EXPECT_EQ((*lookup)[id], expected[id].number_value()) << "raw id " << id;
    }
  }
}

TEST(CompressionMapCliTest, TheMapWorksAsTheAddressesCommandsCompression) {
  TempDir dir;
  const google::protobuf::Struct manifest = Manifest();
  const auto& fixture =
      manifest.fields().at("fixtures").list_value().values(0).struct_value();
  const std::string map = dir.path() + "/map.npy";
  CommandResult result = RunCommand(
      {EngramctlPath(), "compression-map", "--tokenizer",
       fixture.fields().at("tokenizer").string_value(), "--out", map});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr("tokenizer_vocab "));
  const std::string vocab =
      absl::StrCat(fixture.fields().at("tokenizer_vocab").number_value());
  result = RunCommand({EngramctlPath(), "addresses", "--layer-ids", "1",
                       "--vocab-sizes", "1000,1000", "--pad-id", "2",
                       "--tokenizer-vocab", vocab, "--compression", map,
                       "--tokens", "0,1,2"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
}

TEST(CompressionMapCliTest, BadTokenizersExitNonZeroWithPreciseErrors) {
  TempDir dir;
  const auto run = [&](const std::string& json) {
    const std::string path = dir.path() + "/tokenizer.json";
    std::ofstream(path) << json;
    return RunCommand({EngramctlPath(), "compression-map", "--tokenizer", path,
                       "--out", dir.path() + "/map.npy"});
  };
  CommandResult result = run("{\"model\": {\"vocab\": ");
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("INVALID_ARGUMENT"));
  EXPECT_THAT(result.err, HasSubstr("tokenizer.json: not JSON"));

  result = run(R"({"model": {"type": "Unigram", "vocab": [["a", 0.0]]}})");
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("no model.vocab object"));

  result = run(R"({"model": {"vocab": {"a": 0, "b": 0}}})");
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("tokens 'a' and 'b' both have id 0"));

  result = RunCommand({EngramctlPath(), "compression-map", "--tokenizer",
                       dir.path() + "/none.json", "--out", "x.npy"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("NOT_FOUND"));

  result = RunCommand({EngramctlPath(), "compression-map", "--out", "x.npy"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("--tokenizer"));
  EXPECT_TRUE(result.out.empty());
}

}  // namespace
}  // namespace engram::testing

// engramctl explain against a real engram-server serving the small demo
// tables: each position's rows, whether a patch provides them, and their
// fingerprints, checked against addresses and rows computed here.
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/addressing/addresser.h"
#include "common/addressing/compression_map.h"
#include "common/addressing/sha256.h"
#include "common/demo_rows.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "gtest/gtest.h"
#include "tests/demo_server_fixture.h"

namespace engram::testing {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kLayer = 3;
constexpr char kTokens[] = "5,17,42;9";

std::string Fingerprint(const std::string& row) {
  return internal::Sha256::ToHex(internal::Sha256::Of(row)).substr(0, 16);
}

class ExplainCliTest : public DemoServerTest {
 protected:
  void SetUp() override {
    DemoServerTest::SetUp();
    absl::StatusOr<HashSpec> spec = HashSpec::FromConfig(SmallDemoConfig());
    ASSERT_TRUE(spec.ok()) << spec.status();
    heads_ = spec->rows_per_token();
    // [batch 2][time 3][heads], the second sequence left-padded.
    row_ids_.resize(2 * 3 * heads_);
    const std::vector<int64_t> tokens = {5, 17, 42, 0, 0, 9};
    const std::vector<int32_t> lengths = {3, 1};
    ASSERT_TRUE(ComputeRowIds(*spec, *spec->LayerIndex(kLayer), tokens, 2, 3,
                              lengths, absl::MakeSpan(row_ids_))
                    .ok());
  }

  CommandResult Ctl(const std::vector<std::string>& args) {
    return RunEngramctl(server_->address(), args);
  }

  // The rows of sequence 0, position `t`.
  std::vector<uint64_t> RowsAt(int t) const {
    return std::vector<uint64_t>(row_ids_.begin() + t * heads_,
                                 row_ids_.begin() + (t + 1) * heads_);
  }

  // Patches `ids` with rows of 8 values 999 + id; returns the rows by id.
  std::map<uint64_t, std::string> Patch(const std::vector<uint64_t>& ids) {
    std::map<uint64_t, std::string> rows;
    std::string all;
    for (uint64_t id : ids) {
      rows[id] = F32Rows(1, kSmallDemoValues, 999 + id);
      all += rows[id];
    }
    std::vector<int64_t> signed_ids(ids.begin(), ids.end());
    WriteNpyFile(dir_.path() + "/ids.npy", "<i8", {ids.size()},
                 Int64s(signed_ids));
    WriteNpyFile(dir_.path() + "/rows.npy", "<f4",
                 {ids.size(), kSmallDemoValues}, all);
    const CommandResult applied =
        Ctl({"patch", "apply", DemoTableName(kLayer), "--ids",
             dir_.path() + "/ids.npy", "--rows", dir_.path() + "/rows.npy",
             "--description", "token 17"});
    EXPECT_EQ(applied.exit_code, 0) << applied.err;
    return rows;
  }

  int heads_ = 0;
  std::vector<int64_t> row_ids_;
};

TEST_F(ExplainCliTest, SaysWhichRowsAPatchProvides) {
  const std::vector<uint64_t> patched_ids = RowsAt(1);
  std::map<uint64_t, std::string> patched = Patch(patched_ids);

  CommandResult result = Ctl({"explain", "--table", DemoTableName(kLayer),
                              "--tokens", kTokens, "--json"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  google::protobuf::Struct json = ParseJson(result.out);
  EXPECT_EQ(json.fields().at("table").string_value(), DemoTableName(kLayer));
  EXPECT_EQ(json.fields().at("version").number_value(), 2);
  const auto& patches = json.fields().at("patches").list_value().values();
  ASSERT_EQ(patches.size(), 1);
  EXPECT_EQ(patches[0].struct_value().fields().at("version").number_value(), 2);
  EXPECT_EQ(patches[0].struct_value().fields().at("description").string_value(),
            "token 17");
  const double patch_id =
      patches[0].struct_value().fields().at("patch_id").number_value();

  const auto& positions = json.fields().at("positions").list_value().values();
  ASSERT_EQ(positions.size(), 4);  // 3 + 1 real tokens; padding left out.
  const std::vector<std::vector<int>> where = {
      {0, 0, 0}, {0, 1, 1}, {0, 2, 2}, {1, 0, 5}};
  int patched_rows = 0;
  for (int p = 0; p < 4; ++p) {
    const auto& position = positions[p].struct_value().fields();
    EXPECT_EQ(position.at("sequence").number_value(), where[p][0]);
    EXPECT_EQ(position.at("position").number_value(), where[p][1]);
    const auto& heads = position.at("heads").list_value().values();
    ASSERT_EQ(heads.size(), heads_);
    for (int h = 0; h < heads_; ++h) {
      const auto& head = heads[h].struct_value().fields();
      const uint64_t row = row_ids_[where[p][2] * heads_ + h];
      SCOPED_TRACE(absl::StrCat("position ", p, " head ", h, " row ", row));
      EXPECT_EQ(head.at("row").number_value(), row);
      EXPECT_EQ(head.at("ngram").number_value(), 2 + h / 2);
      EXPECT_EQ(head.at("head").number_value(), h % 2);
      const auto it = patched.find(row);
      if (it != patched.end()) {
        ++patched_rows;
        EXPECT_EQ(head.at("source").string_value(), "patch");
        EXPECT_EQ(head.at("patch_id").number_value(), patch_id);
        EXPECT_EQ(head.at("patch_version").number_value(), 2);
        EXPECT_EQ(head.at("fingerprint").string_value(),
                  Fingerprint(it->second));
      } else {
        EXPECT_EQ(head.at("source").string_value(), "base");
        EXPECT_EQ(head.at("fingerprint").string_value(),
                  Fingerprint(ExpectedDemoRows(kLayer, {row})));
      }
      EXPECT_FALSE(head.at("missing").bool_value());
    }
  }
  EXPECT_GE(patched_rows, heads_);
  EXPECT_EQ(json.fields().at("patched_rows").number_value(), patched_rows);
  EXPECT_EQ(json.fields().at("rows").number_value(), 4 * heads_);

  // Version 1, the base, has no patch; `--version` is explain's, not
  // Abseil's.
  result = Ctl({"explain", "--table", DemoTableName(kLayer), "--tokens",
                kTokens, "--version", "1", "--json"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  json = ParseJson(result.out);
  EXPECT_EQ(json.fields().at("version").number_value(), 1);
  EXPECT_EQ(json.fields().at("patched_rows").number_value(), 0);

  result =
      Ctl({"explain", "--table", DemoTableName(kLayer), "--tokens", kTokens});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr("sequence 0 position 1 token 17"));
  EXPECT_THAT(result.out, HasSubstr(absl::StrCat("patch ", patch_id, " (v2)")));
  EXPECT_THAT(result.out,
              HasSubstr(absl::StrCat(patched_rows, " of ", 4 * heads_,
                                     " rows from patches")));
}

TEST_F(ExplainCliTest, BadRequestsExitNonZeroWithTheServersCode) {
  CommandResult result =
      Ctl({"explain", "--table", "nope", "--tokens", kTokens});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("NOT_FOUND"));

  result = Ctl({"explain", "--table", DemoTableName(kLayer), "--tokens",
                kTokens, "--version", "9"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("NOT_FOUND"));

  result = Ctl(
      {"explain", "--table", DemoTableName(kLayer), "--tokens", "1,999999999"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("INVALID_ARGUMENT"));

  result = Ctl({"explain", "--table", DemoTableName(kLayer)});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("--tokens"));

  WriteNpyFile(dir_.path() + "/plain.npy", "<f4", {4, 2}, F32Rows(4, 2));
  ASSERT_EQ(Ctl({"import", "plain", dir_.path() + "/plain.npy"}).exit_code, 0);
  result = Ctl({"explain", "--table", "plain", "--tokens", "1,2"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("FAILED_PRECONDITION"));
}

TEST_F(ExplainCliTest, ATableOfCompressedIdsIsExplainedWithItsMapOnly) {
  // 130000 raw ids onto the 129280 compressed ones of SmallDemoConfig.
  HashSpecConfig config = SmallDemoConfig();
  std::vector<int64_t> lookup(130000);
  for (size_t i = 0; i < lookup.size(); ++i) {
    lookup[i] = int64_t(i) * 7919 % config.tokenizer_vocab;
  }
  const std::string map_file = dir_.path() + "/map.npy";
  WriteNpyFile(map_file, "<i8", {lookup.size()}, Int64s(lookup));
  const std::string other_map = dir_.path() + "/other.npy";
  WriteNpyFile(other_map, "<i8", {3}, Int64s({0, 1, 2}));
  ASSERT_EQ(ImportDemoLayerAs(server_->address(), dir_.path(), kLayer,
                              "compressed", {"--compression", map_file})
                .exit_code,
            0);

  internal::Sha256 map_hash;
  map_hash.Update(Int64s(lookup));
  const CommandResult described = Ctl({"describe", "compressed", "--json"});
  const std::string map_digest = internal::Sha256::ToHex(map_hash.Finish());
  EXPECT_EQ(
      ParseJson(described.out).fields().at("compression_digest").string_value(),
      map_digest);
  EXPECT_THAT(Ctl({"describe", "compressed"}).out,
              HasSubstr(absl::StrCat(" compression=", map_digest)));

  CommandResult result = Ctl({"explain", "--table", "compressed", "--tokens",
                              "1", "--compression", other_map});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("; table 'compressed' hashes ids "
                                    "compressed by map "));
  result = Ctl({"explain", "--table", DemoTableName(kLayer), "--tokens", "1",
                "--compression", map_file});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("hashes raw token ids; --compression "
                                    "does not apply"));

  // The map comes from the server, the file, or engram-worker's model
  // config naming the file; all three explain alike.
  const std::string model_config = dir_.path() + "/model.json";
  std::ofstream(model_config)
      << R"({"engram": {"compression_map": ")" << map_file << R"("}})";
  const std::string explain[] = {"explain",  "--table",   "compressed",
                                 "--tokens", "129999,10", "--json"};
  result = Ctl({std::begin(explain), std::end(explain)});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  for (const std::vector<std::string>& map_flags :
       std::vector<std::vector<std::string>>{
           {"--compression", map_file}, {"--model-config", model_config}}) {
    std::vector<std::string> args(std::begin(explain), std::end(explain));
    args.insert(args.end(), map_flags.begin(), map_flags.end());
    const CommandResult given = Ctl(args);
    ASSERT_EQ(given.exit_code, 0) << map_flags[0] << ": " << given.err;
    EXPECT_EQ(given.out, result.out) << map_flags[0];
  }
  config.compression = *CompressionMap::FromLookup(
      lookup, {.compressed_vocab = config.tokenizer_vocab});
  absl::StatusOr<HashSpec> spec = HashSpec::FromConfig(config);
  ASSERT_TRUE(spec.ok()) << spec.status();
  std::vector<int64_t> rows(2 * heads_);
  ASSERT_TRUE(ComputeRowIds(*spec, *spec->LayerIndex(kLayer), {129999, 10}, 1,
                            2, {}, absl::MakeSpan(rows))
                  .ok());
  const google::protobuf::Struct json = ParseJson(result.out);
  const auto& positions = json.fields().at("positions").list_value().values();
  ASSERT_EQ(positions.size(), 2);
  for (int p = 0; p < 2; ++p) {
    const auto& heads =
        positions[p].struct_value().fields().at("heads").list_value().values();
    ASSERT_EQ(heads.size(), heads_);
    for (int h = 0; h < heads_; ++h) {
      EXPECT_EQ(heads[h].struct_value().fields().at("row").number_value(),
                rows[p * heads_ + h])
          << "position " << p << " head " << h;
    }
  }
}

}  // namespace
}  // namespace engram::testing

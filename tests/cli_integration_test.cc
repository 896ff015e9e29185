// engramctl and engram-bench against a real engram-server, checked through
// their documented command shapes and JSON output.
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/element_type.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "server/storage/data_dir.h"
#include "tests/demo_server_fixture.h"

namespace engram::testing {
namespace {

using ::testing::HasSubstr;

class CliIntegrationTest : public DemoServerTest {
 protected:
  CommandResult Ctl(const std::vector<std::string>& args) {
    return RunEngramctl(server_->address(), args);
  }
};

TEST_F(CliIntegrationTest, TablesJsonHasTheDocumentedShape) {
  const CommandResult result = Ctl({"tables", "--json"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const google::protobuf::Struct json = ParseJson(result.out);
  const auto& tables = json.fields().at("tables").list_value().values();
  ASSERT_EQ(tables.size(), 2);
  const auto& first = tables[0].struct_value().fields();
  EXPECT_EQ(first.at("name").string_value(), "layer_3");
  EXPECT_EQ(first.at("rows").number_value(), LayerRows(3));
  EXPECT_EQ(first.at("row_bytes").number_value(), kSmallDemoValues * 4);
  EXPECT_EQ(first.at("dtype").string_value(), "f32");
  EXPECT_EQ(first.at("version").number_value(), 1);
}

TEST_F(CliIntegrationTest, LookupJsonPrintsTypedRowsAsNumbers) {
  const CommandResult result =
      Ctl({"lookup", "layer_7", "--rows", "0,5,9", "--json"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const google::protobuf::Struct json = ParseJson(result.out);
  EXPECT_EQ(json.fields().at("table").string_value(), "layer_7");
  EXPECT_EQ(json.fields().at("version").number_value(), 1);
  EXPECT_EQ(json.fields().at("row_bytes").number_value(), kSmallDemoValues * 4);
  EXPECT_EQ(json.fields().at("dtype").string_value(), "f32");
  const auto& rows = json.fields().at("rows").list_value().values();
  const std::vector<uint64_t> ids = {0, 5, 9};
  const std::string expected = ExpectedDemoRows(7, ids);
  ASSERT_EQ(rows.size(), ids.size());
  for (size_t r = 0; r < ids.size(); ++r) {
    const auto& values = rows[r].list_value().values();
    ASSERT_EQ(values.size(), kSmallDemoValues);
    for (int v = 0; v < kSmallDemoValues; ++v) {
      const float want = DecodeElement(
          ElementType::kF32, expected.data() + (r * kSmallDemoValues + v) * 4);
      EXPECT_FLOAT_EQ(values[v].number_value(), want);
    }
  }
}

TEST_F(CliIntegrationTest, DescribeJson) {
  const CommandResult result = Ctl({"describe", "layer_3", "--json"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(ParseJson(result.out).fields().at("rows").number_value(),
            LayerRows(3));
}

TEST_F(CliIntegrationTest, ErrorsPrintStatusCodeNameAndExitNonZero) {
  CommandResult result = Ctl({"lookup", "missing", "--rows", "1", "--json"});
  EXPECT_NE(result.exit_code, 0);
  EXPECT_THAT(result.err, HasSubstr("NOT_FOUND: "));
  EXPECT_THAT(result.err, HasSubstr("missing"));

  result = Ctl({"lookup", "layer_3", "--rows", absl::StrCat(LayerRows(3))});
  EXPECT_NE(result.exit_code, 0);
  EXPECT_THAT(result.err, HasSubstr("INVALID_ARGUMENT: "));

  result = Ctl({"lookup", "layer_3", "--rows", "x"});
  EXPECT_NE(result.exit_code, 0);
  EXPECT_THAT(result.err, HasSubstr("bad row id 'x'"));

  result = Ctl({"frobnicate"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr("unknown command"));
}

TEST(CliUnreachableTest, UnavailableServer) {
  const CommandResult result =
      RunEngramctl("127.0.0.1:1", {"--timeout", "5s", "tables"});
  EXPECT_NE(result.exit_code, 0);
  EXPECT_THAT(result.err, HasSubstr("UNAVAILABLE: "));
}

TEST(CliOpaqueTableTest, LookupPrintsOpaqueRowsAsHex) {
  TempDir dir;
  const std::string data_dir = dir.path() + "/data";
  {
    absl::StatusOr<server::DataDir> data = server::DataDir::Open(data_dir);
    ASSERT_TRUE(data.ok()) << data.status();
    v1::TableInfo info;
    info.set_name("fp8_rows");
    info.set_rows(4);
    info.set_row_bytes(3);
    info.set_element_type(v1::ELEMENT_TYPE_OPAQUE);
    info.set_version(1);
    const std::string rows("\x00\x01\x02\xab\xcd\xef\x10\x20\x30\xff\xfe\xfd",
                           12);
    ASSERT_TRUE(data->WriteTable(info, rows.data(), {}).ok());
  }
  absl::StatusOr<std::unique_ptr<ServerProcess>> server =
      ServerProcess::Start(data_dir, {});
  ASSERT_TRUE(server.ok()) << server.status();
  const CommandResult result = RunEngramctl(
      (*server)->address(), {"lookup", "fp8_rows", "--rows", "1,3", "--json"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const google::protobuf::Struct json = ParseJson(result.out);
  EXPECT_EQ(json.fields().at("dtype").string_value(), "opaque");
  const auto& rows = json.fields().at("rows").list_value().values();
  ASSERT_EQ(rows.size(), 2);
  EXPECT_EQ(rows[0].string_value(), "abcdef");
  EXPECT_EQ(rows[1].string_value(), "fffefd");
}

TEST_F(CliIntegrationTest, BenchJsonReportsThroughputWithoutErrors) {
  const CommandResult result = RunCommand(
      {BenchPath(), "--server", server_->address(), "--table", "layer_3",
       "--batch", "256", "--concurrency", "2", "--seconds", "1", "--warmup",
       "0.2", "--zipf", "1.0", "--json"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const google::protobuf::Struct json = ParseJson(result.out);
  for (const char* key :
       {"rows_per_s", "gb_per_s", "p50_us", "p99_us", "p999_us", "errors"}) {
    ASSERT_TRUE(json.fields().contains(key)) << key << " in " << result.out;
  }
  EXPECT_GT(json.fields().at("rows_per_s").number_value(), 0);
  EXPECT_EQ(json.fields().at("errors").number_value(), 0);
  EXPECT_LE(json.fields().at("p50_us").number_value(),
            json.fields().at("p99_us").number_value());
}

TEST_F(CliIntegrationTest, BenchCountsErrorsForAMissingTable) {
  const CommandResult result =
      RunCommand({BenchPath(), "--server", server_->address(), "--table",
                  "missing", "--seconds", "0.2", "--json"});
  EXPECT_NE(result.exit_code, 0);
  EXPECT_THAT(result.err, HasSubstr("NOT_FOUND"));
}

// The CLI must print exactly the reference's addresses for the shared test
// vectors' configs and tokens.
class CliAddressesTest : public ::testing::TestWithParam<const char*> {};

std::string JoinNumbers(const google::protobuf::ListValue& list) {
  std::string joined;
  for (const auto& value : list.values()) {
    absl::StrAppend(&joined, joined.empty() ? "" : ",",
                    static_cast<int64_t>(value.number_value()));
  }
  return joined;
}

TEST_P(CliAddressesTest, MatchesTheReferenceVectors) {
  std::ifstream in(absl::StrCat(ENGRAM_REFERENCE_VECTOR_DIR, "/", GetParam()));
  std::stringstream text;
  text << in.rdbuf();
  const google::protobuf::Struct vectors = ParseJson(text.str());
  const auto& config = vectors.fields().at("config").struct_value().fields();
  std::string tokens;
  for (const auto& sequence :
       vectors.fields().at("tokens").list_value().values()) {
    absl::StrAppend(&tokens, tokens.empty() ? "" : ";",
                    JoinNumbers(sequence.list_value()));
  }
  auto integer = [&](const char* key) {
    return absl::StrCat(static_cast<int64_t>(config.at(key).number_value()));
  };
  const std::string layer_ids =
      JoinNumbers(config.at("layer_ids").list_value());
  const std::string vocab_sizes =
      JoinNumbers(config.at("vocab_sizes").list_value());
  // The same config as engramctl's hash flags and as engram-worker's model
  // config file.
  TempDir dir;
  const std::string model_config = dir.path() + "/model.json";
  std::ofstream(model_config) << absl::StrCat(
      R"({"engram": {"seed": )", integer("seed"), R"(, "layer_ids": [)",
      layer_ids, R"(], "vocab_sizes": [)", vocab_sizes, R"(], "max_ngram": )",
      integer("max_ngram"), R"(, "heads_per_ngram": )",
      integer("heads_per_ngram"), R"(, "pad_id": )", integer("pad_id"),
      R"(, "tokenizer_vocab": )", integer("tokenizer_vocab"), "}}");
  const std::vector<std::vector<std::string>> addressings = {
      {"--seed", integer("seed"), "--layer-ids", layer_ids, "--vocab-sizes",
       vocab_sizes, "--max-ngram", integer("max_ngram"), "--heads",
       integer("heads_per_ngram"), "--pad-id", integer("pad_id"),
       "--tokenizer-vocab", integer("tokenizer_vocab")},
      {"--model-config", model_config}};
  for (const std::vector<std::string>& addressing : addressings) {
    std::vector<std::string> argv = {EngramctlPath(), "addresses", "--tokens",
                                     tokens};
    argv.insert(argv.end(), addressing.begin(), addressing.end());
    const CommandResult result = RunCommand(argv);
    ASSERT_EQ(result.exit_code, 0) << addressing[0] << ": " << result.err;
    const google::protobuf::Struct printed = ParseJson(result.out);
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(
        printed.fields().at("layers"), vectors.fields().at("layers")))
        << addressing[0] << ": " << result.out;
  }
}

INSTANTIATE_TEST_SUITE_P(SharedVectors, CliAddressesTest,
                         ::testing::Values("addressing-vectors-default.json",
                                           "addressing-vectors-small.json"));

TEST(CliAddressesErrorsTest, BadInputIsAClearErrorNeverAnAddress) {
  const std::vector<std::string> base = {
      EngramctlPath(), "addresses", "--layer-ids",       "1",
      "--vocab-sizes", "1000,1000", "--max-ngram",       "3",
      "--heads",       "2",         "--tokenizer-vocab", "500",
      "--pad-id",      "2"};
  auto run = [&](std::vector<std::string> extra) {
    std::vector<std::string> argv = base;
    argv.insert(argv.end(), extra.begin(), extra.end());
    return RunCommand(argv);
  };
  CommandResult result = run({"--tokens", "1,2,500"});
  EXPECT_NE(result.exit_code, 0);
  EXPECT_THAT(result.err, HasSubstr("INVALID_ARGUMENT"));
  EXPECT_THAT(result.err, HasSubstr("500"));
  EXPECT_TRUE(result.out.empty());

  result = run({"--tokens", "1,-4"});
  EXPECT_NE(result.exit_code, 0);
  EXPECT_THAT(result.err, HasSubstr("-4"));

  result = run({"--tokens", "1,x"});
  EXPECT_NE(result.exit_code, 0);
  EXPECT_THAT(result.err, HasSubstr("'x' is not an integer"));

  result = run({"--tokens", "1,2", "--compression", "/nonexistent.npy"});
  EXPECT_NE(result.exit_code, 0);
  EXPECT_THAT(result.err, HasSubstr("NOT_FOUND"));

  result = RunCommand({EngramctlPath(), "addresses", "--vocab-sizes", "1,1000",
                       "--tokens", "1"});
  EXPECT_NE(result.exit_code, 0);
  EXPECT_THAT(result.err, HasSubstr("INVALID_ARGUMENT"));

  TempDir dir;
  const std::string model_config = dir.path() + "/model.json";
  std::ofstream(model_config) << R"({"engram": {"vocab_sizes": [1, 1000]}})";
  result = RunCommand({EngramctlPath(), "addresses", "--model-config",
                       model_config, "--tokens", "1"});
  EXPECT_NE(result.exit_code, 0);
  EXPECT_THAT(result.err, HasSubstr("INVALID_ARGUMENT"));
  result = run({"--tokens", "1", "--model-config", model_config});
  EXPECT_NE(result.exit_code, 0);
  EXPECT_THAT(result.err, HasSubstr("--layer-ids and --model-config"));
  result = RunCommand({EngramctlPath(), "addresses", "--model-config",
                       dir.path() + "/none.json", "--tokens", "1"});
  EXPECT_NE(result.exit_code, 0);
  EXPECT_THAT(result.err, HasSubstr("cannot read model config"));
}

TEST(CliAddressesErrorsTest, RaggedSequencesSayHowTheyWerePadded) {
  const CommandResult result =
      RunCommand({EngramctlPath(), "addresses", "--tokens", "1,2,3;4"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const google::protobuf::Struct json = ParseJson(result.out);
  EXPECT_EQ(json.fields().at("padding").string_value(), "left");
  EXPECT_EQ(JoinNumbers(json.fields().at("lengths").list_value()), "3,1");
}

}  // namespace
}  // namespace engram::testing

// engramctl patch, rollback and versions against a real engram-server with
// an admin token, through their documented command shapes and JSON.
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/addressing/sha256.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "gtest/gtest.h"
#include "tests/test_processes.h"

namespace engram::testing {
namespace {

using ::testing::HasSubstr;

constexpr int kRows = 10;
constexpr int kCols = 4;
// Patched rows hold 100 + the original values.
constexpr float kPatchBase = 100;

// Serves table "t" (rows r + c / 100, version 1) behind admin token
// "s3cret".
class PatchCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    token_file_ = dir_.path() + "/token";
    std::ofstream(token_file_) << "s3cret\n";
    absl::StatusOr<std::unique_ptr<ServerProcess>> server =
        ServerProcess::Start(dir_.path() + "/data",
                             {"--admin-token-file", token_file_});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    WriteNpyFile(Path("table.npy"), "<f4", {kRows, kCols},
                 F32Rows(kRows, kCols));
    const CommandResult imported = Ctl({"import", "t", Path("table.npy")});
    ASSERT_EQ(imported.exit_code, 0) << imported.err;
  }

  std::string Path(const std::string& name) const {
    return dir_.path() + "/" + name;
  }

  // engramctl with the admin token.
  CommandResult Ctl(const std::vector<std::string>& args) {
    std::vector<std::string> with_token = {"--token-file", token_file_};
    with_token.insert(with_token.end(), args.begin(), args.end());
    return CtlWithoutToken(with_token);
  }
  CommandResult CtlWithoutToken(const std::vector<std::string>& args) {
    return RunEngramctl(server_->address(), args);
  }

  // Writes ids.npy and rows.npy patching rows `ids` (to kPatchBase + their
  // original values).
  void WritePatchFiles(const std::vector<int64_t>& ids) {
    WriteNpyFile(Path("ids.npy"), "<i8", {ids.size()}, Int64s(ids));
    std::string rows;
    for (int64_t id : ids) {
      rows += F32Rows(1, kCols, kPatchBase + id);
    }
    WriteNpyFile(Path("rows.npy"), "<f4", {ids.size(), kCols}, rows);
  }

  // Looks rows `ids` up (the active version) and checks each is patched or
  // not; returns the version that served them.
  double ExpectRows(const std::vector<int>& ids,
                    const std::vector<bool>& patched) {
    const CommandResult result =
        CtlWithoutToken({"lookup", "t", "--rows", Join(ids), "--json"});
    EXPECT_EQ(result.exit_code, 0) << result.err;
    const google::protobuf::Struct json = ParseJson(result.out);
    const auto& rows = json.fields().at("rows").list_value().values();
    EXPECT_EQ(rows.size(), ids.size()) << result.out;
    for (size_t i = 0; i < ids.size() && i < rows.size(); ++i) {
      for (int c = 0; c < kCols; ++c) {
        EXPECT_FLOAT_EQ(rows[i].list_value().values(c).number_value(),
                        (patched[i] ? kPatchBase : 0) + ids[i] + c / 100.0f)
            << "row " << ids[i] << " value " << c;
      }
    }
    return json.fields().at("version").number_value();
  }

  static std::string Join(const std::vector<int>& ids) {
    std::string joined;
    for (int id : ids) absl::StrAppend(&joined, joined.empty() ? "" : ",", id);
    return joined;
  }

  TempDir dir_;
  std::string token_file_;
  std::unique_ptr<ServerProcess> server_;
};

TEST_F(PatchCliTest, ApplyServesTheNewRowsAndRollbackRestoresTheOld) {
  WritePatchFiles({7, 3});
  CommandResult result =
      Ctl({"patch", "apply", "t", "--ids", Path("ids.npy"), "--rows",
           Path("rows.npy"), "--description", "fix 3 and 7"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  // Exactly {"version": 2}: scripts rely on it.
  google::protobuf::Struct json = ParseJson(result.out);
  EXPECT_EQ(json.fields().size(), 1) << result.out;
  EXPECT_EQ(json.fields().at("version").number_value(), 2);
  EXPECT_THAT(result.err, HasSubstr("100.0%"));  // The upload's progress.
  EXPECT_EQ(ExpectRows({3, 0, 7, 9}, {true, false, true, false}), 2);

  result = Ctl({"versions", "t", "--json"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  json = ParseJson(result.out);
  EXPECT_EQ(json.fields().at("table").string_value(), "t");
  EXPECT_EQ(json.fields().at("active_version").number_value(), 2);
  EXPECT_EQ(json.fields().at("uploading").list_value().values_size(), 0);
  const auto& versions = json.fields().at("versions").list_value().values();
  ASSERT_EQ(versions.size(), 2) << result.out;
  const auto& newest = versions[0].struct_value().fields();
  EXPECT_EQ(newest.at("version").number_value(), 2);
  EXPECT_EQ(newest.at("parent_version").number_value(), 1);
  EXPECT_EQ(newest.at("patch_rows").number_value(), 2);
  EXPECT_TRUE(newest.at("active").bool_value());
  EXPECT_EQ(newest.at("description").string_value(), "fix 3 and 7");
  const auto& base = versions[1].struct_value().fields();
  EXPECT_EQ(base.at("version").number_value(), 1);
  EXPECT_FALSE(base.at("active").bool_value());

  result = Ctl({"versions", "t"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr("t: active version 2"));
  EXPECT_THAT(result.out, HasSubstr("fix 3 and 7"));

  result = Ctl({"rollback", "t", "--to", "1"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  json = ParseJson(result.out);
  EXPECT_EQ(json.fields().at("version").number_value(), 1);
  EXPECT_TRUE(json.fields().at("active").bool_value());
  EXPECT_EQ(ExpectRows({3, 7}, {false, false}), 1);

  // Version 2 is retained: activating it again brings the patch back.
  result = Ctl({"patch", "activate", "t", "2"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(ParseJson(result.out).fields().at("version").number_value(), 2);
  EXPECT_EQ(ExpectRows({3, 7}, {true, true}), 2);
  // And `patch rollback` without --to goes to the newest older version.
  result = Ctl({"patch", "rollback", "t"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(ParseJson(result.out).fields().at("version").number_value(), 1);
  result = Ctl({"patch", "list", "t", "--json"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(ParseJson(result.out).fields().at("active_version").number_value(),
            1);
}

TEST_F(PatchCliTest, StepByStepWithASafetensorsFileAndItsDigest) {
  CommandResult result =
      Ctl({"patch", "create", "t", "--description", "one row"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  google::protobuf::Struct json = ParseJson(result.out);
  EXPECT_EQ(json.fields().at("table").string_value(), "t");
  EXPECT_EQ(json.fields().at("description").string_value(), "one row");
  EXPECT_FALSE(json.fields().at("committed").bool_value());
  const std::string patch_id =
      absl::StrCat(json.fields().at("patch_id").number_value());

  const std::string row = F32Rows(1, kCols, kPatchBase + 5);
  std::ofstream(Path("patch.safetensors"), std::ios::binary)
      << SafetensorsBytes({{"ids", "I64", {1}, Int64s({5})},
                           {"rows", "F32", {1, kCols}, row}});
  result = Ctl({"patch", "upload", patch_id, Path("patch.safetensors")});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  json = ParseJson(result.out);
  EXPECT_EQ(json.fields().at("rows").number_value(), 1);
  // The documented digest: each row as its id (8 bytes LE), then its bytes.
  internal::Sha256 hash;
  hash.Update(Int64s({5}) + row);
  const std::string digest = internal::Sha256::ToHex(hash.Finish());
  EXPECT_EQ(json.fields().at("content_digest").string_value(), digest);

  result = Ctl({"patch", "commit", patch_id, "--digest", digest});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  json = ParseJson(result.out);
  EXPECT_EQ(json.fields().at("version").number_value(), 2);
  EXPECT_FALSE(json.fields().at("active").bool_value());
  EXPECT_EQ(ExpectRows({5}, {false}), 1);  // Committed, not yet active.
  result = Ctl({"patch", "activate", "t", "2"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(ParseJson(result.out).fields().at("active").bool_value());
  EXPECT_EQ(ExpectRows({5, 4}, {true, false}), 2);

  // A commit whose digest is not the rows' fails.
  result = Ctl({"patch", "create", "t"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const std::string second = absl::StrCat(
      ParseJson(result.out).fields().at("patch_id").number_value());
  WritePatchFiles({1});
  result = Ctl({"patch", "upload", second, "--ids", Path("ids.npy"), "--rows",
                Path("rows.npy")});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  result = Ctl({"patch", "commit", second, "--digest", std::string(64, '0')});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("INVALID_ARGUMENT: "));
  EXPECT_EQ(ExpectRows({1}, {false}), 2);
}

TEST_F(PatchCliTest, AdminCallsNeedTheToken) {
  WritePatchFiles({2});
  const std::vector<std::string> apply = {
      "patch",  "apply",         "t", "--ids", Path("ids.npy"),
      "--rows", Path("rows.npy")};
  CommandResult result = CtlWithoutToken(apply);
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("UNAUTHENTICATED: "));
  result = CtlWithoutToken({"versions", "t"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("UNAUTHENTICATED: "));
  result = CtlWithoutToken({"import", "u", Path("table.npy")});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("UNAUTHENTICATED: "));

  const std::string wrong = Path("wrong-token");
  std::ofstream(wrong) << "guess\n";
  std::vector<std::string> with_wrong = {"--token-file", wrong};
  with_wrong.insert(with_wrong.end(), apply.begin(), apply.end());
  result = CtlWithoutToken(with_wrong);
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("PERMISSION_DENIED: "));
  result =
      CtlWithoutToken({"--token-file", wrong, "rollback", "t", "--to", "1"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("PERMISSION_DENIED: "));

  // Nothing changed; the data plane needs no token.
  EXPECT_EQ(ExpectRows({2}, {false}), 1);
  result =
      CtlWithoutToken({"--token-file", Path("no-such-file"), "versions", "t"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("cannot read token file"));
}

TEST_F(PatchCliTest, FilesThatCannotBeAPatchAreRefusedBeforeAnythingIsMade) {
  WriteNpyFile(Path("ids.npy"), "<i8", {3}, Int64s({1, 2, 3}));
  WriteNpyFile(Path("rows.npy"), "<f4", {2, kCols}, F32Rows(2, kCols));
  CommandResult result = Ctl({"patch", "apply", "t", "--ids", Path("ids.npy"),
                              "--rows", Path("rows.npy")});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("INVALID_ARGUMENT: "));
  EXPECT_THAT(result.err, HasSubstr("holds 3 ids but"));
  EXPECT_THAT(result.err, HasSubstr("holds 2 rows"));

  // Rows of 3 values where the table's have 4.
  WriteNpyFile(Path("narrow.npy"), "<f4", {3, 3}, F32Rows(3, 3));
  result = Ctl({"patch", "apply", "t", "--ids", Path("ids.npy"), "--rows",
                Path("narrow.npy")});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("rows of 12 bytes"));

  result = Ctl({"patch", "apply", "t", "--ids", Path("ids.npy")});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("--rows"));

  result = Ctl({"versions", "t", "--json"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const google::protobuf::Struct json = ParseJson(result.out);
  EXPECT_EQ(json.fields().at("versions").list_value().values_size(), 1);
  EXPECT_EQ(json.fields().at("uploading").list_value().values_size(), 0);

  result = Ctl({"patch", "activate", "t"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr("'patch activate' takes 2 argument(s)"));
}

}  // namespace
}  // namespace engram::testing

// engramctl patch diff: two checkpoints of a table -> ids.npy and rows.npy,
// which `patch apply` then turns the old table into the new one with.
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/table_file.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "gtest/gtest.h"
#include "tests/test_processes.h"

namespace engram::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr int kRows = 8;
constexpr int kCols = 4;

class PatchDiffCliTest : public ::testing::Test {
 protected:
  std::string Path(const std::string& name) const {
    return dir_.path() + "/" + name;
  }

  // NEW: OLD with row 2 far off, row 5 off by 1e-3 and row 7 off by 0.5.
  void WriteCheckpoints() {
    const std::string old_rows = F32Rows(kRows, kCols);
    std::string new_rows = old_rows;
    const auto bump = [&](int row, int col, float by) {
      float value;
      char* at = new_rows.data() + (row * kCols + col) * sizeof(float);
      std::memcpy(&value, at, sizeof(value));
      value += by;
      std::memcpy(at, &value, sizeof(value));
    };
    bump(2, 0, 100);
    bump(5, 3, 1e-3f);
    bump(7, 1, 0.5f);
    new_rows_ = new_rows;
    WriteNpyFile(Path("old.npy"), "<f4", {kRows, kCols}, old_rows);
    WriteNpyFile(Path("new.npy"), "<f4", {kRows, kCols}, new_rows);
  }

  CommandResult Diff(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv = {
        EngramctlPath(), "patch",         "diff",
        Path("old.npy"), Path("new.npy"), "--out-ids",
        Path("ids.npy"), "--out-rows",    Path("rows.npy")};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return RunCommand(argv);
  }

  TempDir dir_;
  std::string new_rows_;
};

TEST_F(PatchDiffCliTest, WritesTheChangedRowsReadyForPatchApply) {
  WriteCheckpoints();
  CommandResult result = Diff({"--json"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const google::protobuf::Struct json = ParseJson(result.out);
  EXPECT_EQ(json.fields().at("rows").number_value(), kRows);
  EXPECT_EQ(json.fields().at("changed_rows").number_value(), 3);
  EXPECT_EQ(json.fields().at("row_bytes").number_value(), kCols * 4);
  EXPECT_EQ(json.fields().at("patch_bytes").number_value(), 3 * kCols * 4);
  absl::StatusOr<std::vector<uint64_t>> ids = ReadRowIdsNpy(Path("ids.npy"));
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_THAT(*ids, ElementsAre(2, 5, 7));
  absl::StatusOr<std::unique_ptr<TableFile>> rows =
      TableFile::Open(Path("rows.npy"), {});
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ((*rows)->rows(), 3);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ((*rows)->Row(i), absl::string_view(new_rows_).substr(
                                   (*ids)[i] * kCols * 4, kCols * 4));
  }

  // The files patch a server's copy of OLD into NEW.
  absl::StatusOr<std::unique_ptr<ServerProcess>> server =
      ServerProcess::Start(Path("data"), {});
  ASSERT_TRUE(server.ok()) << server.status();
  const auto ctl = [&](const std::vector<std::string>& args) {
    return RunEngramctl((*server)->address(), args);
  };
  result = ctl({"import", "t", Path("old.npy")});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  result = ctl({"patch", "apply", "t", "--ids", Path("ids.npy"), "--rows",
                Path("rows.npy")});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  result = ctl({"lookup", "t", "--rows", "0-7", "--json"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const google::protobuf::Struct lookup = ParseJson(result.out);
  const auto& served = lookup.fields().at("rows").list_value().values();
  ASSERT_EQ(served.size(), kRows);
  for (int r = 0; r < kRows; ++r) {
    for (int c = 0; c < kCols; ++c) {
      float expected;
      std::memcpy(&expected, new_rows_.data() + (r * kCols + c) * 4, 4);
      EXPECT_FLOAT_EQ(served[r].list_value().values(c).number_value(), expected)
          << r << "," << c;
    }
  }
}

TEST_F(PatchDiffCliTest, ToleranceIgnoresSmallChanges) {
  WriteCheckpoints();
  CommandResult result = Diff({"--tolerance", "0.01"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr("2 of 8 rows changed"));
  absl::StatusOr<std::vector<uint64_t>> ids = ReadRowIdsNpy(Path("ids.npy"));
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_THAT(*ids, ElementsAre(2, 7));
  result = Diff({"--tolerance", "1"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr("1 of 8 rows changed"));
}

TEST_F(PatchDiffCliTest, OtherShapesOrDtypesAreRefusedPrecisely) {
  WriteNpyFile(Path("old.npy"), "<f4", {kRows, kCols}, F32Rows(kRows, kCols));
  WriteNpyFile(Path("new.npy"), "<f4", {kRows + 1, kCols},
               F32Rows(kRows + 1, kCols));
  CommandResult result = Diff();
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("INVALID_ARGUMENT"));
  EXPECT_THAT(result.err, HasSubstr("differ in shape: (8, 4) vs (9, 4)"));

  WriteNpyFile(Path("new.npy"), "<f2", {kRows, kCols * 2},
               F32Rows(kRows, kCols));
  result = Diff();
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("differ in dtype: '<f4' vs '<f2'"));

  WriteNpyFile(Path("old.npy"), "|u1", {kRows, 16}, F32Rows(kRows, kCols));
  WriteNpyFile(Path("new.npy"), "|u1", {kRows, 16}, F32Rows(kRows, kCols, 1));
  result = Diff({"--tolerance", "0.5"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("--tolerance compares float rows"));

  result = RunCommand({EngramctlPath(), "patch", "diff", Path("old.npy"),
                       Path("missing.npy"), "--out-ids", Path("i.npy"),
                       "--out-rows", Path("r.npy")});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("NOT_FOUND"));

  result = RunCommand({EngramctlPath(), "patch", "diff", Path("old.npy")});
  EXPECT_EQ(result.exit_code, 2);  // Usage: two files.
}

}  // namespace
}  // namespace engram::testing

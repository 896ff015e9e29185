// engramctl export against a real engram-server: the file holds exactly
// the rows the exported version serves, in the dtype import reads back,
// and bad exports leave no file while the server keeps serving.
#include <signal.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/addressing/npy.h"
#include "common/addressing/sha256.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "gtest/gtest.h"
#include "tests/test_processes.h"

namespace engram::testing {
namespace {

using ::testing::HasSubstr;

// Four lookups of 4 MiB, the last one partial.
constexpr int kRows = 400000;
constexpr int kCols = 8;  // f32: 32-byte rows
constexpr uint32_t kRowBytes = kCols * 4;

std::string Sha256Hex(const std::string& bytes) {
  internal::Sha256 hash;
  hash.Update(bytes);
  return internal::Sha256::ToHex(hash.Finish());
}

// Compares without printing the bytes: tables are megabytes.
void ExpectSameBytes(const std::string& actual, const std::string& expected) {
  ASSERT_EQ(actual.size(), expected.size());
  const auto differs =
      std::mismatch(actual.begin(), actual.end(), expected.begin());
  EXPECT_TRUE(differs.first == actual.end())
      << "byte " << (differs.first - actual.begin()) << " differs";
}

// Expects `path` to be an .npy array of `descr`, [rows, columns], holding
// `data`.
void ExpectNpyFile(const std::string& path, const std::string& descr,
                   uint64_t rows, uint64_t columns, const std::string& data) {
  const std::string file = ReadFile(path);
  absl::StatusOr<internal::NpyHeader> header = internal::ParseNpyHeader(file);
  ASSERT_TRUE(header.ok()) << path << ": " << header.status();
  EXPECT_EQ(header->descr, descr);
  EXPECT_EQ(header->shape, std::vector<uint64_t>({rows, columns}));
  ExpectSameBytes(file.substr(header->data_offset), data);
}

class ExportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    rows_ = F32Rows(kRows, kCols);
    WriteNpyFile(Path("table.npy"), "<f4", {kRows, kCols}, rows_);
    ASSERT_NO_FATAL_FAILURE(StartServer());
    const CommandResult imported = Ctl({"import", "t", Path("table.npy")});
    ASSERT_EQ(imported.exit_code, 0) << imported.err;
  }

  void StartServer() {
    server_.reset();
    auto server = ServerProcess::Start(Path("data"), {});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  CommandResult Ctl(std::vector<std::string> args) {
    return RunEngramctl(server_->address(), args);
  }

  std::string Path(const std::string& name) const {
    return absl::StrCat(dir_.path(), "/", name);
  }

  // Exports `table` to `file` with --json, expecting success.
  google::protobuf::Struct Export(const std::string& table,
                                  const std::string& file,
                                  std::vector<std::string> flags = {}) {
    std::vector<std::string> args = {"export", table, file, "--json"};
    args.insert(args.end(), flags.begin(), flags.end());
    const CommandResult exported = Ctl(args);
    EXPECT_EQ(exported.exit_code, 0) << exported.err;
    return ParseJson(exported.out);
  }

  // Runs `args` at 1.5 MB/s (a checkpoint every 5 s), kills the server once
  // the export has made one, and starts the server again; expects the
  // export to have failed, leaving its partial files for --resume.
  void ExportCutShort(std::vector<std::string> args) {
    const std::string out = args[2];
    args.insert(args.end(), {"--max-rate-mb", "1.5"});
    CommandResult interrupted;
    std::thread exporter([&] { interrupted = Ctl(args); });
    const std::string progress = out + ".partial.progress";
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (!std::filesystem::exists(progress) && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(20));
    }
    const bool checkpointed = std::filesystem::exists(progress);
    kill(server_->pid(), SIGKILL);
    exporter.join();
    ASSERT_TRUE(checkpointed);
    EXPECT_EQ(interrupted.exit_code, 1);
    EXPECT_THAT(interrupted.err, HasSubstr("UNAVAILABLE"));
    EXPECT_THAT(interrupted.err,
                HasSubstr("export again with --resume to go on"));
    EXPECT_TRUE(std::filesystem::exists(out + ".partial"));
    EXPECT_FALSE(std::filesystem::exists(out));
    ASSERT_NO_FATAL_FAILURE(StartServer());
  }

  TempDir dir_;
  std::string rows_;
  std::unique_ptr<ServerProcess> server_;
};

TEST_F(ExportTest, ExportsTheRowsOfTheChosenVersionAndImportsBack) {
  google::protobuf::Struct json = Export("t", Path("base.npy"));
  ExpectNpyFile(Path("base.npy"), "<f4", kRows, kCols, rows_);
  EXPECT_EQ(json.fields().at("version").number_value(), 1);
  EXPECT_EQ(json.fields().at("rows").number_value(), kRows);
  EXPECT_EQ(json.fields().at("row_bytes").number_value(), kRowBytes);
  EXPECT_EQ(json.fields().at("dtype").string_value(), "f32");
  EXPECT_EQ(json.fields().at("content_digest").string_value(),
            Sha256Hex(rows_));
  EXPECT_TRUE(json.fields().at("verified").bool_value());
  EXPECT_FALSE(std::filesystem::exists(Path("base.npy.partial")));

  // A patch of the first and last rows, then version 2 and 1 exported.
  WriteNpyFile(Path("ids.npy"), "<i8", {2}, Int64s({0, kRows - 1}));
  WriteNpyFile(Path("new_rows.npy"), "<f4", {2, kCols},
               F32Rows(2, kCols, 5000));
  const CommandResult patched =
      Ctl({"patch", "apply", "t", "--ids", Path("ids.npy"), "--rows",
           Path("new_rows.npy")});
  ASSERT_EQ(patched.exit_code, 0) << patched.err;
  std::string patched_rows = rows_;
  patched_rows.replace(0, kRowBytes, F32Rows(1, kCols, 5000));
  patched_rows.replace(patched_rows.size() - kRowBytes, kRowBytes,
                       F32Rows(1, kCols, 5001));

  json = Export("t", Path("patched.npy"));
  ExpectNpyFile(Path("patched.npy"), "<f4", kRows, kCols, patched_rows);
  EXPECT_EQ(json.fields().at("version").number_value(), 2);
  EXPECT_EQ(json.fields().at("content_digest").string_value(),
            Sha256Hex(patched_rows));
  // A patched version has no content digest to check against.
  EXPECT_FALSE(json.fields().at("verified").bool_value());

  json = Export("t", Path("version1.npy"), {"--version", "1"});
  ExpectSameBytes(ReadFile(Path("version1.npy")), ReadFile(Path("base.npy")));
  EXPECT_EQ(json.fields().at("version").number_value(), 1);

  // The patched file imports as a table of the patched rows, and the
  // export's pin is gone.
  const CommandResult imported =
      Ctl({"import", "baked", Path("patched.npy"), "--json"});
  ASSERT_EQ(imported.exit_code, 0) << imported.err;
  EXPECT_EQ(
      ParseJson(imported.out).fields().at("content_digest").string_value(),
      Sha256Hex(patched_rows));
  const CommandResult versions = Ctl({"versions", "t", "--json"});
  ASSERT_EQ(versions.exit_code, 0) << versions.err;
  const google::protobuf::Struct listed = ParseJson(versions.out);
  for (const auto& version :
       listed.fields().at("versions").list_value().values()) {
    EXPECT_EQ(version.struct_value().fields().at("pins").number_value(), 0);
  }

  // Text: one line naming the version and the digest.
  const CommandResult text = Ctl({"export", "t", Path("text.npy")});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_THAT(text.out, HasSubstr(absl::StrCat("exported t version 2: ", kRows,
                                               " rows x 32 B (f32) to ",
                                               Path("text.npy"))));
  EXPECT_THAT(text.out, HasSubstr(Sha256Hex(patched_rows)));
  EXPECT_THAT(text.err, HasSubstr("100.0%"));  // The progress bar's end.
}

TEST_F(ExportTest, MaxRateMbSpacesTheReads) {
  // 12.8 MB in lookups of 4.19 MB: at 16 MB/s the fourth starts 0.79 s in.
  const google::protobuf::Struct json =
      Export("t", Path("slow.npy"), {"--max-rate-mb", "16"});
  EXPECT_GE(json.fields().at("seconds").number_value(), 0.78);
  ExpectNpyFile(Path("slow.npy"), "<f4", kRows, kCols, rows_);
}

TEST_F(ExportTest, Bf16AndOpaqueTablesKeepTheirBytes) {
  // bf16 as uint16, as import reads it.
  const std::string bf16 = rows_.substr(0, 1000 * kRowBytes);
  WriteNpyFile(Path("bf16.npy"), "<u2", {1000, kCols * 2}, bf16);
  ASSERT_EQ(Ctl({"import", "b", Path("bf16.npy")}).exit_code, 0);
  google::protobuf::Struct json = Export("b", Path("b_out.npy"));
  EXPECT_EQ(json.fields().at("dtype").string_value(), "bf16");
  ExpectNpyFile(Path("b_out.npy"), "<u2", 1000, kCols * 2, bf16);

  // Opaque 5-byte rows: |u1 columns in a .npy, the bytes alone otherwise.
  const std::string opaque = rows_.substr(0, 5 * 777);
  std::ofstream(Path("opaque.bin"), std::ios::binary) << opaque;
  ASSERT_EQ(
      Ctl({"import", "o", Path("opaque.bin"), "--row-bytes", "5"}).exit_code,
      0);
  json = Export("o", Path("o_out.npy"));
  EXPECT_EQ(json.fields().at("dtype").string_value(), "opaque");
  ExpectNpyFile(Path("o_out.npy"), "|u1", 777, 5, opaque);
  json = Export("o", Path("o_out.bin"));
  ExpectSameBytes(ReadFile(Path("o_out.bin")), opaque);
  EXPECT_TRUE(json.fields().at("verified").bool_value());
}

TEST_F(ExportTest, SparseTablesExportTheirRowsAndIdsAndImportBack) {
  // Rows of ids 90, 3 and 57 of 100, as import takes them: in any order.
  const std::string rows = F32Rows(3, kCols, 1000);
  WriteNpyFile(Path("rows.npy"), "<f4", {3, kCols}, rows);
  WriteNpyFile(Path("ids.npy"), "<i8", {3}, Int64s({90, 3, 57}));
  const CommandResult imported =
      Ctl({"import", "s", Path("rows.npy"), "--ids", Path("ids.npy"),
           "--id-space", "100", "--json"});
  ASSERT_EQ(imported.exit_code, 0) << imported.err;
  const std::string digest =
      ParseJson(imported.out).fields().at("content_digest").string_value();

  const google::protobuf::Struct json =
      Export("s", Path("s_rows.npy"), {"--ids", Path("s_ids.npy")});
  EXPECT_EQ(json.fields().at("rows").number_value(), 3);
  EXPECT_EQ(json.fields().at("id_space").number_value(), 100);
  EXPECT_EQ(json.fields().at("ids_file").string_value(), Path("s_ids.npy"));
  EXPECT_EQ(json.fields().at("content_digest").string_value(), digest);
  EXPECT_TRUE(json.fields().at("verified").bool_value());
  // In id order: 3, 57, 90.
  ExpectNpyFile(Path("s_rows.npy"), "<f4", 3, kCols,
                rows.substr(kRowBytes, kRowBytes) +
                    rows.substr(2 * kRowBytes, kRowBytes) +
                    rows.substr(0, kRowBytes));
  absl::StatusOr<std::vector<int64_t>> ids =
      internal::ReadNpyInt64(Path("s_ids.npy"));
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_EQ(*ids, std::vector<int64_t>({3, 57, 90}));

  // Imported back: the same table, by its digest.
  const CommandResult again =
      Ctl({"import", "s2", Path("s_rows.npy"), "--ids", Path("s_ids.npy"),
           "--id-space", "100", "--json"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(ParseJson(again.out).fields().at("content_digest").string_value(),
            digest);

  const CommandResult text =
      Ctl({"export", "s", Path("text.npy"), "--ids", Path("text_ids.npy")});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_THAT(text.out, HasSubstr("exported s version 1: 3 of 100 rows x 32 B "
                                  "(f32) to " +
                                  Path("text.npy") +
                                  " (ids: " + Path("text_ids.npy") + ")"));
}

TEST_F(ExportTest, RowsThatDoNotMatchTheContentDigestLeaveNoFile) {
  // Bit rot in the stored rows, while the server was down.
  server_->Terminate();
  const std::string rows_file = Path("data/tables/t/rows.bin");
  ASSERT_NO_FATAL_FAILURE(ExpectSameBytes(ReadFile(rows_file), rows_));
  {
    std::fstream file(rows_file,
                      std::ios::binary | std::ios::in | std::ios::out);
    file.seekp(12345);
    file.put('\x7f');
  }
  ASSERT_NO_FATAL_FAILURE(StartServer());

  const CommandResult exported = Ctl({"export", "t", Path("out.npy")});
  EXPECT_EQ(exported.exit_code, 1);
  EXPECT_THAT(exported.err, HasSubstr("DATA_LOSS"));
  EXPECT_THAT(exported.err, HasSubstr(Sha256Hex(rows_)));
  EXPECT_FALSE(std::filesystem::exists(Path("out.npy")));
  EXPECT_FALSE(std::filesystem::exists(Path("out.npy.partial")));
}

TEST_F(ExportTest, AnExportCutShortGoesOnWithResumeFromItsLastCheckpoint) {
  ASSERT_NO_FATAL_FAILURE(ExportCutShort({"export", "t", Path("out.npy")}));
  const std::string progress = Path("out.npy.partial.progress");

  // Not onto the rows of another table imported under the name since.
  WriteNpyFile(Path("other.npy"), "<f4", {kRows, kCols},
               F32Rows(kRows, kCols, 7));
  const auto reimport = [&](const std::string& file) {
    ASSERT_EQ(Ctl({"drop", "t"}).exit_code, 0);
    ASSERT_EQ(Ctl({"import", "t", file}).exit_code, 0);
  };
  ASSERT_NO_FATAL_FAILURE(reimport(Path("other.npy")));
  const CommandResult refused =
      Ctl({"export", "t", Path("out.npy"), "--resume"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.err,
              HasSubstr("FAILED_PRECONDITION: table 't' is not the one the "
                        "interrupted export read"));

  // The same rows again: the export goes on and is whole.
  ASSERT_NO_FATAL_FAILURE(reimport(Path("table.npy")));
  google::protobuf::Struct json = Export("t", Path("out.npy"), {"--resume"});
  const double resumed_at = json.fields().at("resumed_at_row").number_value();
  EXPECT_GT(resumed_at, 0);
  EXPECT_LT(resumed_at, kRows);
  EXPECT_TRUE(json.fields().at("verified").bool_value());
  ExpectNpyFile(Path("out.npy"), "<f4", kRows, kCols, rows_);
  EXPECT_FALSE(std::filesystem::exists(Path("out.npy.partial")));
  EXPECT_FALSE(std::filesystem::exists(progress));
}

TEST_F(ExportTest, ASparseExportCutShortGoesOnWithItsIds) {
  WriteNpyFile(Path("sparse_rows.npy"), "<f4", {3, kCols}, F32Rows(3, kCols));
  WriteNpyFile(Path("sparse_ids.npy"), "<i8", {3},
               Int64s({5, 200000, kRows - 1}));
  ASSERT_EQ(Ctl({"import", "s", Path("sparse_rows.npy"), "--ids",
                 Path("sparse_ids.npy"), "--id-space", absl::StrCat(kRows)})
                .exit_code,
            0);
  ASSERT_NO_FATAL_FAILURE(ExportCutShort(
      {"export", "s", Path("out.npy"), "--ids", Path("out_ids.npy")}));
  EXPECT_TRUE(std::filesystem::exists(Path("out_ids.npy.partial")));

  google::protobuf::Struct json =
      Export("s", Path("out.npy"), {"--ids", Path("out_ids.npy"), "--resume"});
  EXPECT_GT(json.fields().at("resumed_at_row").number_value(), 200000);
  EXPECT_EQ(json.fields().at("rows").number_value(), 3);
  EXPECT_TRUE(json.fields().at("verified").bool_value());
  ExpectNpyFile(Path("out.npy"), "<f4", 3, kCols, F32Rows(3, kCols));
  absl::StatusOr<std::vector<int64_t>> ids =
      internal::ReadNpyInt64(Path("out_ids.npy"));
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_EQ(*ids, std::vector<int64_t>({5, 200000, kRows - 1}));
}

TEST_F(ExportTest, BadExportsAreClearErrorsAndLeaveNoFile) {
  struct Case {
    std::vector<std::string> args;
    std::string error;
    std::string file;
  };
  WriteNpyFile(Path("sparse_rows.npy"), "<f4", {2, kCols}, F32Rows(2, kCols));
  WriteNpyFile(Path("sparse_ids.npy"), "<i8", {2}, Int64s({3, 90}));
  for (const std::string missing : {"report", "zeros"}) {
    ASSERT_EQ(
        Ctl({"import", "sparse_" + missing, Path("sparse_rows.npy"), "--ids",
             Path("sparse_ids.npy"), "--id-space", "100", "--missing", missing})
            .exit_code,
        0);
  }
  const std::vector<Case> cases = {
      {{"export", "nope", Path("a.npy")}, "NOT_FOUND", Path("a.npy")},
      {{"export", "t", Path("b.npy"), "--version", "7"},
       "NOT_FOUND",
       Path("b.npy")},
      {{"export", "sparse_report", Path("c.npy")},
       "FAILED_PRECONDITION: table 'sparse_report' is sparse (2 of 100 rows "
       "written): give --ids",
       Path("c.npy")},
      {{"export", "sparse_zeros", Path("c.npy"), "--ids", Path("c_ids.npy")},
       "FAILED_PRECONDITION: table 'sparse_zeros' is sparse and reads its "
       "unwritten rows as zeros",
       Path("c.npy")},
      {{"export", "t", Path("c.npy"), "--ids", Path("c_ids.npy")},
       "INVALID_ARGUMENT: table 't' is dense",
       Path("c_ids.npy")},
      {{"export", "t", Path("f.npy"), "--max-rate-mb=-1"},
       "INVALID_ARGUMENT: --max-rate-mb -1 is not a rate",
       Path("f.npy")},
      {{"export", "t", Path("g.npy"), "--resume"},
       "FAILED_PRECONDITION: nothing to resume: no " +
           Path("g.npy.partial.progress"),
       Path("g.npy")},
      {{"export", "sparse_report", Path("e.npy"), "--ids",
        Path("missing_dir/e_ids.npy")},
       Path("missing_dir/e_ids.npy.partial"),
       Path("e.npy")},
      {{"export", "t", Path("missing_dir/d.npy")},
       Path("missing_dir/d.npy.partial"),
       Path("missing_dir/d.npy")},
  };
  for (const Case& c : cases) {
    const CommandResult result = Ctl(c.args);
    EXPECT_EQ(result.exit_code, 1) << c.args[1];
    EXPECT_THAT(result.err, HasSubstr(c.error));
    EXPECT_FALSE(std::filesystem::exists(c.file)) << c.file;
    EXPECT_FALSE(std::filesystem::exists(c.file + ".partial")) << c.file;
  }
  // Usage: no output file.
  EXPECT_EQ(Ctl({"export", "t"}).exit_code, 2);
  // The server still serves, with no pin left behind.
  const CommandResult looked = Ctl({"lookup", "t", "--rows", "7"});
  EXPECT_EQ(looked.exit_code, 0) << looked.err;
  const CommandResult versions = Ctl({"versions", "t", "--json"});
  ASSERT_EQ(versions.exit_code, 0) << versions.err;
  EXPECT_EQ(ParseJson(versions.out)
                .fields()
                .at("versions")
                .list_value()
                .values(0)
                .struct_value()
                .fields()
                .at("pins")
                .number_value(),
            0);
}

}  // namespace
}  // namespace engram::testing

#include "cli/export_progress.h"

#include <fstream>
#include <string>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_processes.h"

namespace engram::cli {
namespace {

using ::engram::testing::TempDir;
using ::testing::HasSubstr;

TEST(ExportProgressTest, ReadsBackWhatWasWritten) {
  TempDir dir;
  const std::string path = dir.path() + "/out.npy.partial.progress";
  ExportProgress progress{.table = "layer 1",
                          .version = 7,
                          .row_bytes = 264,
                          .element_type = "fp8_e4m3",
                          .expected_digest = "",
                          .rows_read = 1ull << 33,
                          .rows_written = 12345};
  ASSERT_TRUE(WriteExportProgress(path, progress).ok());
  absl::StatusOr<ExportProgress> read = ReadExportProgress(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, progress);

  // Written again over it, as each checkpoint is.
  progress.expected_digest = "ab12";
  progress.rows_written = 20000;
  ASSERT_TRUE(WriteExportProgress(path, progress).ok());
  read = ReadExportProgress(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, progress);
}

TEST(ExportProgressTest, OtherFilesAreRefusedByName) {
  TempDir dir;
  const std::string missing = dir.path() + "/none.progress";
  EXPECT_TRUE(absl::IsNotFound(ReadExportProgress(missing).status()));

  const std::string other = dir.path() + "/other.progress";
  std::ofstream(other) << "hello\n";
  absl::Status status = ReadExportProgress(other).status();
  EXPECT_TRUE(absl::IsDataLoss(status)) << status;
  EXPECT_THAT(status.message(), HasSubstr(other));

  std::ofstream(other) << "engram-export-progress 1\ntable t\nversion x\n";
  status = ReadExportProgress(other).status();
  EXPECT_TRUE(absl::IsDataLoss(status)) << status;
  EXPECT_THAT(status.message(), HasSubstr("not a number"));
}

}  // namespace
}  // namespace engram::cli

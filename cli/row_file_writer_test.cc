#include "cli/row_file_writer.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/addressing/npy.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_processes.h"

namespace engram::cli {
namespace {

using ::engram::testing::ReadFile;
using ::engram::testing::TempDir;
using ::testing::HasSubstr;

TEST(RowFileWriterTest, NpyHeaderSaysTheRowsAppendedWhateverTheRoomKept) {
  TempDir dir;
  for (const uint64_t max_rows : {3ull, 1000ull, 1ull << 40}) {
    const std::string path = dir.path() + "/rows.npy";
    auto writer = RowFileWriter::CreateNpy(path, "<f2", {2}, max_rows);
    ASSERT_TRUE(writer.ok()) << writer.status();
    ASSERT_TRUE((*writer)->Append("abcd").ok());
    ASSERT_TRUE((*writer)->Append("efghijkl").ok());
    ASSERT_TRUE((*writer)->Finish(3).ok());

    const std::string file = ReadFile(path);
    EXPECT_EQ((*writer)->bytes(), file.size());
    absl::StatusOr<internal::NpyHeader> header = internal::ParseNpyHeader(file);
    ASSERT_TRUE(header.ok()) << header.status();
    EXPECT_EQ(header->descr, "<f2");
    EXPECT_EQ(header->shape, std::vector<uint64_t>({3, 2}));
    EXPECT_EQ(header->data_offset % 64, 0);
    EXPECT_EQ(file.substr(header->data_offset), "abcdefghijkl");
  }
}

TEST(RowFileWriterTest, RawFilesHoldTheRowsAlone) {
  TempDir dir;
  const std::string path = dir.path() + "/rows.bin";
  auto writer = RowFileWriter::CreateRaw(path);
  ASSERT_TRUE(writer.ok()) << writer.status();
  ASSERT_TRUE((*writer)->Append("0123").ok());
  ASSERT_TRUE((*writer)->Finish(1).ok());
  EXPECT_EQ(ReadFile(path), "0123");
  EXPECT_EQ((*writer)->bytes(), 4);
}

TEST(RowFileWriterTest, ResumedFilesGoOnAfterTheBytesKept) {
  TempDir dir;
  const std::string path = dir.path() + "/rows.npy";
  {
    auto writer = RowFileWriter::CreateNpy(path, "<f2", {2}, 100);
    ASSERT_TRUE(writer.ok()) << writer.status();
    ASSERT_TRUE((*writer)->Append("abcdefgh").ok());
    ASSERT_TRUE((*writer)->Sync().ok());
    // Written after the last checkpoint: cut off by the resume.
    ASSERT_TRUE((*writer)->Append("junk").ok());
  }
  auto resumed = RowFileWriter::CreateNpy(path, "<f2", {2}, 100, 8);
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  ASSERT_TRUE((*resumed)->Append("ijkl").ok());
  ASSERT_TRUE((*resumed)->Finish(3).ok());
  const std::string file = ReadFile(path);
  EXPECT_EQ((*resumed)->bytes(), file.size());
  absl::StatusOr<internal::NpyHeader> header = internal::ParseNpyHeader(file);
  ASSERT_TRUE(header.ok()) << header.status();
  EXPECT_EQ(header->shape, std::vector<uint64_t>({3, 2}));
  EXPECT_EQ(file.substr(header->data_offset), "abcdefghijkl");

  // Fewer bytes than kept: the file is not what the checkpoint recorded.
  const std::string raw = dir.path() + "/rows.bin";
  ASSERT_TRUE((*RowFileWriter::CreateRaw(raw))->Append("0123").ok());
  absl::StatusOr<std::unique_ptr<RowFileWriter>> short_file =
      RowFileWriter::CreateRaw(raw, 8);
  EXPECT_TRUE(absl::IsDataLoss(short_file.status())) << short_file.status();
  EXPECT_THAT(short_file.status().message(), HasSubstr(raw));
  auto raw_resumed = RowFileWriter::CreateRaw(raw, 2);
  ASSERT_TRUE(raw_resumed.ok()) << raw_resumed.status();
  ASSERT_TRUE((*raw_resumed)->Append("xy").ok());
  ASSERT_TRUE((*raw_resumed)->Finish(2).ok());
  EXPECT_EQ(ReadFile(raw), "01xy");
}

TEST(RowFileWriterTest, ErrorsNameTheFile) {
  TempDir dir;
  const std::string missing = dir.path() + "/no/such/dir.npy";
  absl::StatusOr<std::unique_ptr<RowFileWriter>> writer =
      RowFileWriter::CreateNpy(missing, "<i8", {}, 10);
  EXPECT_TRUE(absl::IsNotFound(writer.status())) << writer.status();
  EXPECT_THAT(writer.status().message(), HasSubstr(missing));

  const std::string path = dir.path() + "/ids.npy";
  writer = RowFileWriter::CreateNpy(path, "<i8", {}, 2);
  ASSERT_TRUE(writer.ok()) << writer.status();
  const absl::Status finished = (*writer)->Finish(3);
  EXPECT_TRUE(absl::IsInvalidArgument(finished)) << finished;
  EXPECT_THAT(finished.message(), HasSubstr("more than the 2"));

  writer = RowFileWriter::CreateRaw("/dev/full");
  ASSERT_TRUE(writer.ok()) << writer.status();
  absl::Status written = (*writer)->Append(std::string(1 << 20, 'x'));
  if (written.ok()) written = (*writer)->Finish(1);
  EXPECT_TRUE(absl::IsDataLoss(written)) << written;
  EXPECT_THAT(written.message(), HasSubstr("/dev/full"));
}

}  // namespace
}  // namespace engram::cli

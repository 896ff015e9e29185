#include "common/cli_flags.h"

#include <fstream>

#include "absl/flags/flag.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

ABSL_FLAG(int, cli_flags_test_number, 1, "A flag for the config file test.");

namespace engram {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(ParseIntegerListTest, ParsesAndNamesBadItems) {
  absl::StatusOr<std::vector<int64_t>> values =
      ParseIntegerList("ids", " 1,-15 ,7");
  ASSERT_TRUE(values.ok());
  EXPECT_THAT(*values, ElementsAre(1, -15, 7));
  const absl::Status bad = ParseIntegerList("ids", "1,x2").status();
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.message(), HasSubstr("--ids: 'x2'"));
}

TEST(ApplyConfigFileTest, SetsFlagsAndReportsBadLines) {
  const std::string path = ::testing::TempDir() + "/engram-config-test.conf";
  std::ofstream(path) << "# comment\n\n  cli-flags-test-number = 42  # why\n";
  ASSERT_TRUE(ApplyConfigFile(path).ok());
  EXPECT_EQ(absl::GetFlag(FLAGS_cli_flags_test_number), 42);

  std::ofstream(path) << "cli_flags_test_number = many\n";
  EXPECT_THAT(ApplyConfigFile(path).message(), HasSubstr(":1: bad value"));
  std::ofstream(path) << "nonsense line\n";
  EXPECT_THAT(ApplyConfigFile(path).message(),
              HasSubstr("expected 'name = value'"));
  EXPECT_EQ(ApplyConfigFile(path + ".missing").code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace engram

#include "cli/progress_bar.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace engram::cli {
namespace {

using ::testing::HasSubstr;

TEST(ProgressBarTest, RendersPercentRateAndEta) {
  const std::string line = ProgressBar::Render(
      "import t", 25'000'000, 100'000'000, absl::Seconds(5), 8);
  EXPECT_THAT(line, HasSubstr("import t [==      ]"));
  EXPECT_THAT(line, HasSubstr(" 25.0%"));
  EXPECT_THAT(line, HasSubstr("25.0/100.0 MB"));
  EXPECT_THAT(line, HasSubstr("5.0 MB/s"));
  EXPECT_THAT(line, HasSubstr("ETA 15s"));
}

TEST(ProgressBarTest, CompleteAndEmpty) {
  EXPECT_THAT(ProgressBar::Render("x", 10, 10, absl::Seconds(1), 4),
              HasSubstr("[====] 100.0%"));
  EXPECT_THAT(ProgressBar::Render("x", 0, 0, absl::Seconds(1), 4),
              HasSubstr("100.0%"));
  EXPECT_THAT(ProgressBar::Render("x", 0, 10, absl::ZeroDuration(), 4),
              HasSubstr("ETA --"));
}

}  // namespace
}  // namespace engram::cli

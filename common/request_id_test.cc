#include "common/request_id.h"

#include <string>

#include "absl/status/status.h"
#include "gtest/gtest.h"

namespace engram {
namespace {

TEST(CheckRequestIdTest, AcceptsTokenCharacters) {
  EXPECT_TRUE(CheckRequestId("a").ok());
  EXPECT_TRUE(CheckRequestId("deploy-42.step_7:retry").ok());
  EXPECT_TRUE(CheckRequestId(std::string(kMaxRequestIdBytes, 'x')).ok());
}

TEST(CheckRequestIdTest, RejectsEmptyAndTooLongIds) {
  EXPECT_EQ(CheckRequestId("").code(), absl::StatusCode::kInvalidArgument);
  const absl::Status too_long =
      CheckRequestId(std::string(kMaxRequestIdBytes + 1, 'x'));
  EXPECT_EQ(too_long.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(too_long.message().find("65"), absl::string_view::npos) << too_long;
}

TEST(CheckRequestIdTest, RejectsCharactersThatWouldSplitALogLine) {
  for (const char* id :
       {"two words", "a=b", "line\nbreak", "tab\t", "quo\"te", "caf\xc3\xa9"}) {
    const absl::Status checked = CheckRequestId(id);
    EXPECT_EQ(checked.code(), absl::StatusCode::kInvalidArgument) << id;
  }
  // The message shows the id escaped, so a newline cannot forge a line.
  EXPECT_NE(CheckRequestId("line\nbreak").message().find("line\\nbreak"),
            absl::string_view::npos);
}

TEST(CheckOptionalRequestIdTest, AcceptsNoIdAndChecksAnyOther) {
  EXPECT_TRUE(CheckOptionalRequestId("").ok());
  EXPECT_TRUE(CheckOptionalRequestId("step-7").ok());
  EXPECT_EQ(CheckOptionalRequestId("two words").code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace engram

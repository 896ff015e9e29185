#include "common/bearer_token.h"

#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace engram {
namespace {

using ::testing::HasSubstr;

TEST(ParseBearerTokenTest, TrimsTrailingWhitespaceOnly) {
  EXPECT_EQ(ParseBearerToken("s3cret\n").value(), "s3cret");
  EXPECT_EQ(ParseBearerToken("s3cret \t\r\n\n").value(), "s3cret");
  EXPECT_EQ(ParseBearerToken("a b+/=").value(), "a b+/=");
  // Leading spaces are kept: they are the token's, as far as we know.
  EXPECT_EQ(ParseBearerToken(" x").value(), " x");
}

TEST(ParseBearerTokenTest, RefusesEmptyTokensAndBytesNoHeaderCanCarry) {
  for (const char* text : {"", "\n", " \n\t"}) {
    const absl::Status status = ParseBearerToken(text).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(status.message(), HasSubstr("empty"));
  }
  const absl::Status status = ParseBearerToken("two\nlines").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("byte 0x0a at offset 3"));
  EXPECT_FALSE(ParseBearerToken("caf\xc3\xa9").ok());
}

TEST(ReadBearerTokenFileTest, ReadsTheFileAndNamesItInErrors) {
  const std::string path = ::testing::TempDir() + "/engram-token-test";
  std::ofstream(path) << "tok-123\n";
  EXPECT_EQ(ReadBearerTokenFile(path).value(), "tok-123");

  std::ofstream(path, std::ios::trunc).flush();
  absl::Status status = ReadBearerTokenFile(path).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr(path + ": the token is empty"));

  for (const std::string missing :
       {::testing::TempDir() + "/no-such-token", ::testing::TempDir()}) {
    status = ReadBearerTokenFile(missing).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kNotFound) << missing;
    EXPECT_THAT(status.message(),
                HasSubstr("cannot read token file " + missing));
  }
}

}  // namespace
}  // namespace engram

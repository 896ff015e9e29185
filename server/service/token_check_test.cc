#include "server/service/token_check.h"

#include "gtest/gtest.h"

namespace engram::server {
namespace {

TEST(TokenCheckTest, WithoutATokenEveryCallPasses) {
  const TokenCheck check("admin", "");
  EXPECT_FALSE(check.enabled());
  EXPECT_TRUE(check.CheckHeader(std::nullopt).ok());
}

TEST(TokenCheckTest, NeedsTheBearerToken) {
  const TokenCheck check("admin", "s3cret");
  EXPECT_TRUE(check.CheckHeader("Bearer s3cret").ok());
  EXPECT_EQ(check.CheckHeader(std::nullopt).code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(check.CheckHeader("Basic s3cret").code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(check.CheckHeader("Bearer s3cre").code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(check.CheckHeader("Bearer s3cret ").code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(check.CheckHeader("Bearer ").code(),
            absl::StatusCode::kPermissionDenied);
}

}  // namespace
}  // namespace engram::server

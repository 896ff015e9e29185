#include "common/grpc_status.h"

#include "gtest/gtest.h"

namespace engram {
namespace {

TEST(GrpcStatusTest, RoundTripsCodeAndMessage) {
  const absl::Status original = absl::NotFoundError("no table 'x'");
  const grpc::Status wire = ToGrpcStatus(original);
  EXPECT_EQ(wire.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(wire.error_message(), "no table 'x'");
  EXPECT_EQ(FromGrpcStatus(wire), original);
}

TEST(GrpcStatusTest, OkStaysOk) {
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
  EXPECT_TRUE(FromGrpcStatus(grpc::Status::OK).ok());
}

}  // namespace
}  // namespace engram

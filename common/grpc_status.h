// Conversion between absl::Status and grpc::Status. The codes are the same
// canonical set, so messages and codes pass through unchanged.
#ifndef ENGRAM_COMMON_GRPC_STATUS_H_
#define ENGRAM_COMMON_GRPC_STATUS_H_

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace engram {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace engram

#endif  // ENGRAM_COMMON_GRPC_STATUS_H_

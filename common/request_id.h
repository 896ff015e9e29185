// Request ids: a caller may name each call with one, sent as gRPC metadata
// `x-request-id`; the server logs the call's lines with it and sends it
// back (server/service/request_id.h), so what a client saw and what the
// server logged can be matched up.
//
//   ENGRAM_RETURN_IF_ERROR(CheckOptionalRequestId(id));
//   grpc::ClientContext context;
//   AddRequestId(id, &context);
#ifndef ENGRAM_COMMON_REQUEST_ID_H_
#define ENGRAM_COMMON_REQUEST_ID_H_

#include <cstddef>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "grpcpp/client_context.h"

namespace engram {

// The metadata key (gRPC keys are lowercase).
inline constexpr char kRequestIdMetadataKey[] = "x-request-id";
inline constexpr size_t kMaxRequestIdBytes = 64;

// OK when `id` can name a call: 1 to kMaxRequestIdBytes characters of
// [A-Za-z0-9._:-] (printable in a log line and a header value, and one
// token wide); else InvalidArgument saying why. The server replaces an id
// that is not with one of its own.
absl::Status CheckRequestId(absl::string_view id);

// As CheckRequestId, but an empty `id` (the caller named no id) is OK.
absl::Status CheckOptionalRequestId(absl::string_view id);

// Adds `x-request-id: ID` to `context`; nothing when `id` is empty.
void AddRequestId(absl::string_view id, grpc::ClientContext* context);

}  // namespace engram

#endif  // ENGRAM_COMMON_REQUEST_ID_H_

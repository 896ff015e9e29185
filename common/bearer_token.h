// Bearer tokens: how an admin token is kept in a file (engramctl
// --token-file, engram-server --admin-token-file) and how a call carries it
// (gRPC metadata `authorization: Bearer TOKEN`), so both ends agree on the
// trimming and the header.
//
//   ENGRAM_ASSIGN_OR_RETURN(std::string token, ReadBearerTokenFile(path));
//   grpc::ClientContext context;
//   AddBearerToken(token, &context);
#ifndef ENGRAM_COMMON_BEARER_TOKEN_H_
#define ENGRAM_COMMON_BEARER_TOKEN_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "grpcpp/client_context.h"

namespace engram {

// The metadata key (gRPC keys are lowercase) and the value's prefix.
inline constexpr char kAuthorizationMetadataKey[] = "authorization";
inline constexpr char kBearerPrefix[] = "Bearer ";

// The token in the text of a token file: the text less trailing whitespace
// (the newline editors and `echo` add). InvalidArgument when nothing is
// left or the token holds a byte a gRPC header value cannot (outside
// printable ASCII).
absl::StatusOr<std::string> ParseBearerToken(absl::string_view text);

// The token in file `path`, as ParseBearerToken; NotFound when the file
// cannot be read. Errors name the path.
absl::StatusOr<std::string> ReadBearerTokenFile(const std::string& path);

// Adds `authorization: Bearer TOKEN` to `context`; nothing when `token` is
// empty.
void AddBearerToken(absl::string_view token, grpc::ClientContext* context);

}  // namespace engram

#endif  // ENGRAM_COMMON_BEARER_TOKEN_H_

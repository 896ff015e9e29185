// TokenCheck: the server's side of bearer-token authentication (see
// common/bearer_token.h for the file format and the header).
//
//   TokenCheck admin("admin", token);   // empty token: every call passes
//   ENGRAM_RETURN_IF_ERROR(admin.Check(*context));
//
// The presented token is compared with the expected one through their
// SHA-256 digests in constant time, so neither timing nor length tells a
// caller how close a guess was.
#ifndef ENGRAM_SERVER_SERVICE_TOKEN_CHECK_H_
#define ENGRAM_SERVER_SERVICE_TOKEN_CHECK_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "grpcpp/server_context.h"

namespace engram::server {

class TokenCheck {
 public:
  // `what` names the calls guarded ("admin", "data") in errors.
  TokenCheck(std::string what, absl::string_view token);

  bool enabled() const { return enabled_; }

  // OK when no token is set or the call carries it; UNAUTHENTICATED when
  // the call has no bearer token; PERMISSION_DENIED for another token.
  absl::Status Check(const grpc::CallbackServerContext& context) const;
  // The same on the call's `authorization` header, if it has one.
  absl::Status CheckHeader(std::optional<absl::string_view> header) const;

 private:
  const std::string what_;
  const bool enabled_;
  std::array<uint8_t, 32> expected_digest_{};
};

}  // namespace engram::server

#endif  // ENGRAM_SERVER_SERVICE_TOKEN_CHECK_H_

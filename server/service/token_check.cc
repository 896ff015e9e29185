#include "server/service/token_check.h"

#include <cstring>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/addressing/sha256.h"
#include "common/bearer_token.h"

namespace engram::server {
namespace {

std::array<uint8_t, 32> Digest(absl::string_view token) {
  internal::Sha256 hash;
  hash.Update(token.data(), token.size());
  return hash.Finish();
}

}  // namespace

TokenCheck::TokenCheck(std::string what, absl::string_view token)
    : what_(std::move(what)), enabled_(!token.empty()) {
  if (enabled_) expected_digest_ = Digest(token);
}

absl::Status TokenCheck::Check(
    const grpc::CallbackServerContext& context) const {
  if (!enabled_) return absl::OkStatus();
  const auto& metadata = context.client_metadata();
  const auto it = metadata.find(kAuthorizationMetadataKey);
  if (it == metadata.end()) return CheckHeader(std::nullopt);
  return CheckHeader(absl::string_view(it->second.data(), it->second.size()));
}

absl::Status TokenCheck::CheckHeader(
    std::optional<absl::string_view> header) const {
  if (!enabled_) return absl::OkStatus();
  if (!header.has_value() || !absl::StartsWith(*header, kBearerPrefix)) {
    return absl::UnauthenticatedError(
        absl::StrCat(what_,
                     " calls need the header 'authorization: Bearer TOKEN' "
                     "(engramctl --token-file FILE)"));
  }
  const std::array<uint8_t, 32> presented =
      Digest(header->substr(std::strlen(kBearerPrefix)));
  uint8_t difference = 0;
  for (size_t i = 0; i < presented.size(); ++i) {
    difference |= presented[i] ^ expected_digest_[i];
  }
  if (difference != 0) {
    return absl::PermissionDeniedError(absl::StrCat("wrong ", what_, " token"));
  }
  return absl::OkStatus();
}

}  // namespace engram::server

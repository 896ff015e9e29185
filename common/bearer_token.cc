#include "common/bearer_token.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace engram {

absl::StatusOr<std::string> ParseBearerToken(absl::string_view text) {
  const absl::string_view token = absl::StripTrailingAsciiWhitespace(text);
  if (token.empty()) return absl::InvalidArgumentError("the token is empty");
  for (size_t i = 0; i < token.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(token[i]);
    // gRPC accepts only printable ASCII in text header values and fails the
    // call otherwise; say so before any call is made.
    if (c < 0x20 || c > 0x7e) {
      return absl::InvalidArgumentError(
          absl::StrCat("the token holds byte 0x", absl::Hex(c, absl::kZeroPad2),
                       " at offset ", i, "; a token must be printable ASCII"));
    }
  }
  return std::string(token);
}

absl::StatusOr<std::string> ReadBearerTokenFile(const std::string& path) {
  // Plain read(2) rather than a stream: it reports a directory as an error
  // (streams throw) and reads pipes such as --token-file <(pass show x).
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  std::string text;
  ssize_t got = fd < 0 ? -1 : 0;
  char buffer[4096];
  while (fd >= 0 && (got = read(fd, buffer, sizeof(buffer))) > 0) {
    text.append(buffer, got);
  }
  const int error = errno;
  if (fd >= 0) close(fd);
  if (got < 0) {
    return absl::NotFoundError(absl::StrCat("cannot read token file ", path,
                                            ": ", std::strerror(error)));
  }
  absl::StatusOr<std::string> token = ParseBearerToken(text);
  if (!token.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("token file ", path, ": ", token.status().message()));
  }
  return token;
}

void AddBearerToken(absl::string_view token, grpc::ClientContext* context) {
  if (token.empty()) return;
  context->AddMetadata(kAuthorizationMetadataKey,
                       absl::StrCat(kBearerPrefix, token));
}

}  // namespace engram

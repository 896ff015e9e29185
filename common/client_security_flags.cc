#include "common/client_security_flags.h"

#include <string>

#include "absl/flags/flag.h"
#include "common/bearer_token.h"

ABSL_FLAG(std::string, tls_ca_file, "",
          "PEM CAs to verify a TLS server with (turns TLS on).");
ABSL_FLAG(std::string, tls_cert_file, "",
          "PEM client certificate, for servers requiring mutual TLS.");
ABSL_FLAG(std::string, tls_key_file, "", "PEM key of --tls-cert-file.");
ABSL_FLAG(std::string, token_file, "",
          "File holding the server's bearer token (its admin token for "
          "admin calls, its data token for lookups; trailing whitespace "
          "trimmed), sent on every call as `authorization: Bearer TOKEN`.");

namespace engram {

ClientTlsFiles ClientTlsFilesFromFlags() {
  return {.ca_file = absl::GetFlag(FLAGS_tls_ca_file),
          .cert_file = absl::GetFlag(FLAGS_tls_cert_file),
          .key_file = absl::GetFlag(FLAGS_tls_key_file)};
}

absl::StatusOr<std::string> BearerTokenFromFlags() {
  const std::string path = absl::GetFlag(FLAGS_token_file);
  if (path.empty()) return std::string();
  return ReadBearerTokenFile(path);
}

}  // namespace engram

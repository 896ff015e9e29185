// The client-side security flags shared by engramctl, engram-worker and the
// benchmarks: --tls-ca-file, --tls-cert-file, --tls-key-file and
// --token-file.
//
//   options.tls = ClientTlsFilesFromFlags();
//   ENGRAM_ASSIGN_OR_RETURN(options.bearer_token, BearerTokenFromFlags());
#ifndef ENGRAM_COMMON_CLIENT_SECURITY_FLAGS_H_
#define ENGRAM_COMMON_CLIENT_SECURITY_FLAGS_H_

#include <string>

#include "absl/status/statusor.h"
#include "common/tls_files.h"

namespace engram {

// The files the TLS flags name (all empty: plaintext).
ClientTlsFiles ClientTlsFilesFromFlags();

// The token in --token-file; empty without the flag. NotFound or
// InvalidArgument (ReadBearerTokenFile) for a file that cannot be one.
absl::StatusOr<std::string> BearerTokenFromFlags();

}  // namespace engram

#endif  // ENGRAM_COMMON_CLIENT_SECURITY_FLAGS_H_

#include "common/client_tls_flags.h"

#include <string>

#include "absl/flags/flag.h"

ABSL_FLAG(std::string, tls_ca_file, "",
          "PEM CAs to verify a TLS server with (turns TLS on).");
ABSL_FLAG(std::string, tls_cert_file, "",
          "PEM client certificate, for servers requiring mutual TLS.");
ABSL_FLAG(std::string, tls_key_file, "", "PEM key of --tls-cert-file.");

namespace engram {

ClientTlsFiles ClientTlsFilesFromFlags() {
  return {.ca_file = absl::GetFlag(FLAGS_tls_ca_file),
          .cert_file = absl::GetFlag(FLAGS_tls_cert_file),
          .key_file = absl::GetFlag(FLAGS_tls_key_file)};
}

}  // namespace engram

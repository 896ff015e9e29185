#include "common/tls_credentials.h"

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/read_file.h"
#include "common/status_macros.h"

namespace engram {
namespace {

absl::StatusOr<std::string> ReadPem(const std::string& path) {
  return ReadFileToString(path, "TLS file ");
}

absl::Status CheckPair(const std::string& cert_file,
                       const std::string& key_file) {
  if (cert_file.empty() != key_file.empty()) {
    return absl::InvalidArgumentError(
        "a TLS certificate needs its private key and the reverse "
        "(--tls-cert-file with --tls-key-file)");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentialsFor(
    const ServerTlsFiles& files) {
  if (!files.enabled()) {
    if (!files.client_ca_file.empty()) {
      return absl::InvalidArgumentError(
          "a client CA (--tls-client-ca-file) needs a server certificate "
          "(--tls-cert-file and --tls-key-file)");
    }
    return grpc::InsecureServerCredentials();
  }
  ENGRAM_RETURN_IF_ERROR(CheckPair(files.cert_file, files.key_file));
  grpc::SslServerCredentialsOptions options(
      files.client_ca_file.empty()
          ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
          : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  ENGRAM_ASSIGN_OR_RETURN(pair.cert_chain, ReadPem(files.cert_file));
  ENGRAM_ASSIGN_OR_RETURN(pair.private_key, ReadPem(files.key_file));
  options.pem_key_cert_pairs.push_back(std::move(pair));
  if (!files.client_ca_file.empty()) {
    ENGRAM_ASSIGN_OR_RETURN(options.pem_root_certs,
                            ReadPem(files.client_ca_file));
  }
  return grpc::SslServerCredentials(options);
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentialsFor(
    const ClientTlsFiles& files) {
  if (!files.enabled()) return grpc::InsecureChannelCredentials();
  ENGRAM_RETURN_IF_ERROR(CheckPair(files.cert_file, files.key_file));
  grpc::SslCredentialsOptions options;
  if (!files.ca_file.empty()) {
    ENGRAM_ASSIGN_OR_RETURN(options.pem_root_certs, ReadPem(files.ca_file));
  }
  if (!files.cert_file.empty()) {
    ENGRAM_ASSIGN_OR_RETURN(options.pem_cert_chain, ReadPem(files.cert_file));
    ENGRAM_ASSIGN_OR_RETURN(options.pem_private_key, ReadPem(files.key_file));
  }
  return grpc::SslCredentials(options);
}

}  // namespace engram

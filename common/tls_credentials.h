// TLS for the data and control planes: gRPC credentials from PEM files, the
// one place where certificate files become grpc::*Credentials.
//
//   ENGRAM_ASSIGN_OR_RETURN(auto server_creds, ServerCredentialsFor(
//       {.cert_file = "server.pem", .key_file = "server.key",
//        .client_ca_file = "ca.pem"}));   // mTLS: clients need a CA cert
//   ENGRAM_ASSIGN_OR_RETURN(auto channel_creds, ChannelCredentialsFor(
//       {.ca_file = "ca.pem"}));           // verify the server
//
// No files at all: plaintext (InsecureServerCredentials /
// InsecureChannelCredentials). Thread-safe (pure functions).
#ifndef ENGRAM_COMMON_TLS_CREDENTIALS_H_
#define ENGRAM_COMMON_TLS_CREDENTIALS_H_

#include <memory>

#include "absl/status/statusor.h"
#include "common/tls_files.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"

namespace engram {

// InvalidArgument for a certificate without its key (or the reverse) or a
// client CA without a server certificate; NotFound for an unreadable file.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentialsFor(
    const ServerTlsFiles& files);

// InvalidArgument for a certificate without its key (or the reverse);
// NotFound for an unreadable file.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentialsFor(
    const ClientTlsFiles& files);

}  // namespace engram

#endif  // ENGRAM_COMMON_TLS_CREDENTIALS_H_

// Which PEM files secure a connection, for ServerOptions and ClientOptions
// (no gRPC types; tls_credentials.h turns them into credentials).
#ifndef ENGRAM_COMMON_TLS_FILES_H_
#define ENGRAM_COMMON_TLS_FILES_H_

#include <string>

namespace engram {

struct ServerTlsFiles {
  // The server's certificate chain and private key (PEM); both or neither.
  std::string cert_file;
  std::string key_file;
  // When set (needs cert_file): clients must present a certificate signed
  // by one of these CAs (mutual TLS).
  std::string client_ca_file;

  bool enabled() const { return !cert_file.empty() || !key_file.empty(); }
};

struct ClientTlsFiles {
  // CAs the server's certificate must chain to (PEM). Setting any field
  // turns TLS on; with ca_file empty the system's roots are used.
  std::string ca_file;
  // The client's certificate chain and key, for servers requiring mTLS.
  std::string cert_file;
  std::string key_file;

  bool enabled() const {
    return !ca_file.empty() || !cert_file.empty() || !key_file.empty();
  }
};

}  // namespace engram

#endif  // ENGRAM_COMMON_TLS_FILES_H_

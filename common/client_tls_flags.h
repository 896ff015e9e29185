// The client-side TLS flags shared by engramctl and engram-worker:
// --tls-ca-file, --tls-cert-file and --tls-key-file.
//
//   options.tls = ClientTlsFilesFromFlags();
#ifndef ENGRAM_COMMON_CLIENT_TLS_FLAGS_H_
#define ENGRAM_COMMON_CLIENT_TLS_FLAGS_H_

#include "common/tls_files.h"

namespace engram {

// The files the flags name (all empty: plaintext).
ClientTlsFiles ClientTlsFilesFromFlags();

}  // namespace engram

#endif  // ENGRAM_COMMON_CLIENT_TLS_FLAGS_H_

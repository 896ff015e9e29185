// Request ids: every RPC the server handles has one, so that its log lines
// (ScopedLogRequestId) and what the client saw can be matched up.
//
//   const std::string id = AssignRequestId(*context);
//   const ScopedLogRequestId scope(id);
//
// The id is the client's own when it sent a usable one in the
// "x-request-id" metadata entry (common/request_id.h: CheckRequestId),
// else a new one unique to this server process ("<8 random hex digits of
// the process>-<call number>"). The server sends it back in the response's
// initial metadata under the same key.
#ifndef ENGRAM_SERVER_SERVICE_REQUEST_ID_H_
#define ENGRAM_SERVER_SERVICE_REQUEST_ID_H_

#include <string>

#include "grpcpp/server_context.h"

namespace engram::server {

// The call's request id, added to its initial metadata. Call it before the
// call sends its initial metadata (at the start of a method). Thread-safe.
std::string AssignRequestId(grpc::CallbackServerContext& context);

}  // namespace engram::server

#endif  // ENGRAM_SERVER_SERVICE_REQUEST_ID_H_

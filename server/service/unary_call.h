// FinishUnaryCall: the one way both services answer a unary call.
//
//   return FinishUnaryCall(context, *auth_, [&] {
//     return DoListTables(response);
//   });
//
// Assigns the call its request id (request_id.h) and logs under it, runs
// `body` (returning absl::Status) only if the call passes `auth`, and
// finishes the call with the status, converted once here.
#ifndef ENGRAM_SERVER_SERVICE_UNARY_CALL_H_
#define ENGRAM_SERVER_SERVICE_UNARY_CALL_H_

#include "absl/status/status.h"
#include "common/grpc_status.h"
#include "common/logging.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/server_callback.h"
#include "server/service/request_id.h"
#include "server/service/token_check.h"

namespace engram::server {

template <typename Body>
grpc::ServerUnaryReactor* FinishUnaryCall(grpc::CallbackServerContext* context,
                                          const TokenCheck& auth, Body body) {
  const ScopedLogRequestId log(AssignRequestId(*context));
  absl::Status status = auth.Check(*context);
  if (status.ok()) status = body();
  if (!status.ok()) VLOG(1) << "call failed: " << status;
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

}  // namespace engram::server

#endif  // ENGRAM_SERVER_SERVICE_UNARY_CALL_H_

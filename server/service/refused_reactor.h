// RefusedReactor: a streaming call refused before it began (e.g. by the
// TokenCheck). It finishes at once with the status and deletes itself.
//
//   if (!status.ok()) {
//     return new RefusedReactor<grpc::ServerReadReactor<Request>>(status);
//   }
#ifndef ENGRAM_SERVER_SERVICE_REFUSED_REACTOR_H_
#define ENGRAM_SERVER_SERVICE_REFUSED_REACTOR_H_

#include "absl/status/status.h"
#include "common/grpc_status.h"

namespace engram::server {

// `Reactor`: a grpc::ServerReadReactor, ServerWriteReactor or
// ServerBidiReactor.
template <typename Reactor>
class RefusedReactor final : public Reactor {
 public:
  explicit RefusedReactor(const absl::Status& status) {
    this->Finish(ToGrpcStatus(status));
  }
  void OnDone() override { delete this; }
};

}  // namespace engram::server

#endif  // ENGRAM_SERVER_SERVICE_REFUSED_REACTOR_H_

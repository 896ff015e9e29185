// AdminChannel: how the engramctl commands that use the server's stubs
// directly (import, patch) reach it: one channel, the admin token on every
// call, the CLI's deadline on unary calls, statuses converted once.
//
//   AdminChannel channel({.address = "127.0.0.1:50051", .bearer_token = t});
//   v1::RollbackRequest request;
//   request.set_table("layer_1");
//   ENGRAM_ASSIGN_OR_RETURN(
//       v1::VersionInfo version,
//       channel.Call(channel.admin(), &v1::EngramAdmin::Stub::Rollback,
//                    request));
//   ENGRAM_ASSIGN_OR_RETURN(
//       v1::PatchInfo patch,
//       channel.Stream(&v1::EngramAdmin::Stub::UploadPatch,
//                      [&](AdminChannel::WriteFn<v1::UploadPatchRequest>
//                              write) { return write(message); }));
#ifndef ENGRAM_CLI_ADMIN_CHANNEL_H_
#define ENGRAM_CLI_ADMIN_CHANNEL_H_

#include <algorithm>
#include <memory>
#include <string>
#include <type_traits>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/grpc_status.h"
#include "common/status_macros.h"
#include "common/tls_files.h"
#include "engram/v1/admin_service.grpc.pb.h"
#include "engram/v1/engram_service.grpc.pb.h"
#include "grpcpp/client_context.h"

namespace engram::cli {

struct AdminChannelOptions {
  // host:port of the server.
  std::string address;
  // Sent as `authorization: Bearer TOKEN` when non-empty.
  std::string bearer_token;
  // The TLS files the client side uses (see common/tls_files.h); the
  // channel is made from them, so they were checked by ServerFromFlags.
  ClientTlsFiles tls;
  // Deadline of each unary call. Streams (imports, uploads) have none: they
  // last as long as their data takes.
  absl::Duration timeout = absl::Seconds(10);
  // The connection to a server that takes none of a stream's data for
  // this long (hung, or its network gone) is cut, failing the stream with
  // DeadlineExceeded instead of blocking it for ever. Zero: wait for ever.
  // Not the server's commit after the last message, which takes what it
  // takes (the server only has to answer a keepalive ping meanwhile).
  absl::Duration stall_timeout = absl::Minutes(1);
  // Sent as `x-request-id` on every call when non-empty, so the server's
  // log lines for them carry it; checked by ServerFromFlags.
  std::string request_id;
};

class AdminChannel {
 public:
  // Each message `send` writes; an error means the server ended the call.
  template <typename Request>
  using WriteFn = absl::FunctionRef<absl::Status(const Request&)>;

  // Connects lazily: an unreachable server shows as UNAVAILABLE on the
  // first call.
  explicit AdminChannel(AdminChannelOptions options);

  v1::EngramAdmin::Stub& admin() const { return *admin_; }
  v1::EngramService::Stub& data() const { return *data_; }

  // Calls unary `method` of `stub` (admin() or data()); the server's status
  // as an absl::Status.
  template <typename Stub, typename Request, typename Response>
  absl::StatusOr<Response> Call(
      Stub& stub,
      grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&,
                                   Response*),
      const Request& request) const {
    grpc::ClientContext context;
    Prepare(/*deadline=*/true, &context);
    Response response;
    ENGRAM_RETURN_IF_ERROR(
        FromGrpcStatus((stub.*method)(&context, request, &response)));
    return response;
  }

  // Opens client-streaming admin `method`, lets `send` write its messages,
  // then finishes the call. When a write fails (the server ended the call)
  // `send` should return that error: the server's status then says why.
  // An error of `send`'s own (a bad file) cancels the call and is
  // returned. A server that takes no data for options.stall_timeout:
  // DeadlineExceeded.
  template <typename Request, typename Response>
  absl::StatusOr<Response> Stream(
      std::unique_ptr<grpc::ClientWriter<Request>> (
          v1::EngramAdmin::Stub::*method)(grpc::ClientContext*, Response*),
      absl::FunctionRef<absl::Status(std::type_identity_t<WriteFn<Request>>)>
          send) const {
    grpc::ClientContext context;
    Prepare(/*deadline=*/false, &context);
    Response response;
    std::unique_ptr<grpc::ClientWriter<Request>> writer =
        (admin_.get()->*method)(&context, &response);
    // How long the writes were blocked when one failed: about
    // stall_timeout when the connection was cut for it (the cut may end
    // the blocked write, or fail the next one at once).
    absl::Duration last_write;
    absl::Duration failed_write_blocked;
    const auto timed = [&](absl::FunctionRef<bool()> write) {
      const absl::Time start = absl::Now();
      const bool written = write();
      const absl::Duration took = absl::Now() - start;
      if (!written) failed_write_blocked = std::max(last_write, took);
      last_write = took;
      return written;
    };
    bool server_ended = false;
    const absl::Status sending = send([&](const Request& message) {
      if (timed([&] { return writer->Write(message); })) {
        return absl::OkStatus();
      }
      server_ended = true;
      return absl::CancelledError("the server ended the call");
    });
    if (!sending.ok() && !server_ended) {
      context.TryCancel();
      writer->Finish().IgnoreError();
      return sending;
    }
    timed([&] { return writer->WritesDone(); });
    ENGRAM_RETURN_IF_ERROR(
        StreamStatus(writer->Finish(), failed_write_blocked));
    return response;
  }

 private:
  // Adds the token, the request id and, for unary calls, the deadline.
  void Prepare(bool deadline, grpc::ClientContext* context) const;
  // A stream's `status`; DeadlineExceeded naming the stall when the
  // connection was cut while a write was blocked for about stall_timeout.
  absl::Status StreamStatus(const grpc::Status& status,
                            absl::Duration failed_write_blocked) const;

  const AdminChannelOptions options_;
  std::unique_ptr<v1::EngramAdmin::Stub> admin_;
  std::unique_ptr<v1::EngramService::Stub> data_;
};

}  // namespace engram::cli

#endif  // ENGRAM_CLI_ADMIN_CHANNEL_H_

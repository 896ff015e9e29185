#include "cli/admin_channel.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/bearer_token.h"
#include "common/channel_arguments.h"
#include "common/request_id.h"
#include "common/tls_credentials.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"

namespace engram::cli {

AdminChannel::AdminChannel(AdminChannelOptions options)
    : options_(std::move(options)) {
  // Bad TLS files were reported when the options were made (a plaintext
  // channel here then fails its first call, never silently succeeds
  // against a TLS server).
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      ChannelCredentialsFor(options_.tls);
  const std::shared_ptr<grpc::Channel> channel = grpc::CreateCustomChannel(
      options_.address,
      credentials.ok() ? *credentials : grpc::InsecureChannelCredentials(),
      StallTimeoutChannelArguments(options_.stall_timeout));
  admin_ = v1::EngramAdmin::NewStub(channel);
  data_ = v1::EngramService::NewStub(channel);
}

void AdminChannel::Prepare(bool deadline, grpc::ClientContext* context) const {
  if (deadline) {
    context->set_deadline(absl::ToChronoTime(absl::Now() + options_.timeout));
  }
  AddBearerToken(options_.bearer_token, context);
  AddRequestId(options_.request_id, context);
}

absl::Status AdminChannel::StreamStatus(
    const grpc::Status& status, absl::Duration failed_write_blocked) const {
  // Writes block at once when a server stops reading, so a cut for the
  // stall comes about stall_timeout into the blocked write; half of it
  // leaves room for the data the socket took first.
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE &&
      options_.stall_timeout > absl::ZeroDuration() &&
      failed_write_blocked >= options_.stall_timeout / 2) {
    return absl::DeadlineExceededError(absl::StrCat(
        options_.address, " took no data for ",
        absl::FormatDuration(options_.stall_timeout),
        " (--stall-timeout) and was cut off: ", status.error_message()));
  }
  return FromGrpcStatus(status);
}

}  // namespace engram::cli

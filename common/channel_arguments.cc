#include "common/channel_arguments.h"

#include <algorithm>
#include <cstdint>
#include <limits>

#include "grpc/grpc.h"

namespace engram {
namespace {

int Milliseconds(absl::Duration duration) {
  return static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(duration),
                                            std::numeric_limits<int>::max()));
}

}  // namespace

grpc::ChannelArguments OwnConnectionChannelArguments() {
  grpc::ChannelArguments arguments;
  arguments.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return arguments;
}

grpc::ChannelArguments KeepaliveChannelArguments(
    absl::Duration keepalive_time, absl::Duration keepalive_timeout) {
  grpc::ChannelArguments arguments = OwnConnectionChannelArguments();
  if (keepalive_time <= absl::ZeroDuration() ||
      keepalive_time == absl::InfiniteDuration()) {
    return arguments;
  }
  arguments.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, Milliseconds(keepalive_time));
  arguments.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
                   Milliseconds(keepalive_timeout));
  // gRPC otherwise stops pinging after two pings with no data sent, so a
  // quiet stream would go unwatched.
  arguments.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  return arguments;
}

grpc::ChannelArguments StallTimeoutChannelArguments(
    absl::Duration stall_timeout) {
  if (stall_timeout <= absl::ZeroDuration() ||
      stall_timeout == absl::InfiniteDuration()) {
    return OwnConnectionChannelArguments();
  }
  return KeepaliveChannelArguments(absl::Minutes(10), stall_timeout);
}

}  // namespace engram

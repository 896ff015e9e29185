#include "common/channel_arguments.h"

#include <algorithm>
#include <cstdint>
#include <limits>

#include "grpc/grpc.h"

namespace engram {

grpc::ChannelArguments OwnConnectionChannelArguments() {
  grpc::ChannelArguments arguments;
  arguments.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return arguments;
}

grpc::ChannelArguments StallTimeoutChannelArguments(
    absl::Duration stall_timeout) {
  grpc::ChannelArguments arguments = OwnConnectionChannelArguments();
  if (stall_timeout <= absl::ZeroDuration() ||
      stall_timeout == absl::InfiniteDuration()) {
    return arguments;
  }
  constexpr absl::Duration kKeepaliveInterval = absl::Minutes(10);
  arguments.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS,
                   absl::ToInt64Milliseconds(kKeepaliveInterval));
  arguments.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
                   static_cast<int>(std::min<int64_t>(
                       absl::ToInt64Milliseconds(stall_timeout),
                       std::numeric_limits<int>::max())));
  return arguments;
}

}  // namespace engram

// Arguments of every client channel the project makes (data-plane clients,
// admin channels).
#ifndef ENGRAM_COMMON_CHANNEL_ARGUMENTS_H_
#define ENGRAM_COMMON_CHANNEL_ARGUMENTS_H_

#include "absl/time/time.h"
#include "grpcpp/support/channel_arguments.h"

namespace engram {

// A channel with connections of its own. gRPC otherwise shares one
// connection between the channels of a process that have the same target
// and arguments, so a client made after a server restart could inherit
// an idle client's dead connection and fail its first call.
grpc::ChannelArguments OwnConnectionChannelArguments();

// OwnConnectionChannelArguments, and connections cut when the server takes
// none of the data sent for `stall_timeout` (zero: never): the kernel's
// TCP_USER_TIMEOUT, which gRPC sets to the keepalive timeout once keepalive
// pings are on. A blocked write then fails; cancelling the call does not
// unblock it. The pings themselves are rare (every 10 minutes, twice the
// interval servers accept by default), so live servers never refuse them.
grpc::ChannelArguments StallTimeoutChannelArguments(
    absl::Duration stall_timeout);

}  // namespace engram

#endif  // ENGRAM_COMMON_CHANNEL_ARGUMENTS_H_

// Arguments of every client channel the project makes (data-plane clients,
// admin channels).
#ifndef ENGRAM_COMMON_CHANNEL_ARGUMENTS_H_
#define ENGRAM_COMMON_CHANNEL_ARGUMENTS_H_

#include "absl/time/time.h"
#include "grpcpp/support/channel_arguments.h"

namespace engram {

// The shortest interval between keepalive pings engram-server accepts from
// a client; pings more often than that get the connection closed
// (ENHANCE_YOUR_CALM, "too_many_pings").
inline constexpr absl::Duration kMinClientKeepaliveTime = absl::Seconds(1);

// A channel with connections of its own. gRPC otherwise shares one
// connection between the channels of a process that have the same target
// and arguments, so a client made after a server restart could inherit
// an idle client's dead connection and fail its first call.
grpc::ChannelArguments OwnConnectionChannelArguments();

// OwnConnectionChannelArguments, and a keepalive ping every
// `keepalive_time` while calls are in flight, even on streams that carry
// no data (a WatchTable stream between patches). A connection whose ping
// is unanswered for `keepalive_timeout`, or whose peer takes none of the
// data sent for that long (the kernel's TCP_USER_TIMEOUT, which gRPC sets
// to it), is closed and its calls fail UNAVAILABLE; without pings a
// connection that went silent (a peer frozen, a network partition, a
// middlebox that dropped it) is noticed only when the kernel gives up on
// unacknowledged data, or never by a call that only receives. Zero
// `keepalive_time`: no pings.
grpc::ChannelArguments KeepaliveChannelArguments(
    absl::Duration keepalive_time, absl::Duration keepalive_timeout);

// KeepaliveChannelArguments for a stream that writes a lot: connections
// cut when the server takes none of the data sent for `stall_timeout`
// (zero: never). A blocked write then fails; cancelling the call does not
// unblock it. The pings themselves are rare (every 10 minutes).
grpc::ChannelArguments StallTimeoutChannelArguments(
    absl::Duration stall_timeout);

}  // namespace engram

#endif  // ENGRAM_COMMON_CHANNEL_ARGUMENTS_H_

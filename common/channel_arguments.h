// Arguments of every client channel the project makes (data-plane clients,
// admin channels).
#ifndef ENGRAM_COMMON_CHANNEL_ARGUMENTS_H_
#define ENGRAM_COMMON_CHANNEL_ARGUMENTS_H_

#include "grpcpp/support/channel_arguments.h"

namespace engram {

// A channel with connections of its own. gRPC otherwise shares one
// connection between the channels of a process that have the same target
// and arguments, so a client made after a server restart could inherit
// an idle client's dead connection and fail its first call.
grpc::ChannelArguments OwnConnectionChannelArguments();

}  // namespace engram

#endif  // ENGRAM_COMMON_CHANNEL_ARGUMENTS_H_

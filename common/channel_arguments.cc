#include "common/channel_arguments.h"

#include "grpc/grpc.h"

namespace engram {

grpc::ChannelArguments OwnConnectionChannelArguments() {
  grpc::ChannelArguments arguments;
  arguments.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return arguments;
}

}  // namespace engram

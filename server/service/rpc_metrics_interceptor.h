// RpcMetricsInterceptorFactory: a gRPC server interceptor that counts every
// call by method and status code and times it, into a MetricsRegistry:
//
//   engram_rpc_requests_total{method="Lookup",code="OK"}
//   engram_rpc_duration_seconds{method="Lookup"}  (histogram; streams: their
//                                                  whole lifetime)
//
//   builder.experimental().SetInterceptorCreators(
//       MakeRpcMetricsInterceptors(&registry));
//
// Method labels are the last part of the full gRPC name ("Lookup" for
// /engram.v1.EngramService/Lookup). Calls also count themselves in a
// caller's counter from their arrival until gRPC is done with them (see
// EngramServer::Shutdown). Thread-safe.
#ifndef ENGRAM_SERVER_SERVICE_RPC_METRICS_INTERCEPTOR_H_
#define ENGRAM_SERVER_SERVICE_RPC_METRICS_INTERCEPTOR_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "common/metrics.h"
#include "grpcpp/support/server_interceptor.h"

namespace engram::server {

// The interceptor creators to install; `registry` and `calls_in_flight`
// must outlive the server.
std::vector<
    std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
MakeRpcMetricsInterceptors(MetricsRegistry* registry,
                           std::atomic<int64_t>* calls_in_flight);

}  // namespace engram::server

#endif  // ENGRAM_SERVER_SERVICE_RPC_METRICS_INTERCEPTOR_H_

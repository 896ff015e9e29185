#include "server/service/rpc_metrics_interceptor.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/grpc_status.h"

namespace engram::server {
namespace {

std::string MethodLabel(const char* full_name) {
  const absl::string_view name = full_name == nullptr ? "" : full_name;
  const size_t slash = name.rfind('/');
  return std::string(slash == absl::string_view::npos ? name
                                                      : name.substr(slash + 1));
}

class RpcMetricsInterceptor final : public grpc::experimental::Interceptor {
 public:
  RpcMetricsInterceptor(MetricsRegistry* registry,
                        std::atomic<int64_t>* calls_in_flight,
                        std::string method)
      : registry_(registry),
        calls_in_flight_(calls_in_flight),
        method_(std::move(method)),
        start_(absl::Now()) {
    calls_in_flight_->fetch_add(1);
  }
  // gRPC deletes a call's interceptors with the call.
  ~RpcMetricsInterceptor() override { calls_in_flight_->fetch_sub(1); }

  void Intercept(
      grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      const grpc::Status status = methods->GetSendStatus();
      registry_
          ->GetCounter("engram_rpc_requests_total",
                       "RPCs finished, by method and status code.",
                       {{"method", method_},
                        {"code", absl::StatusCodeToString(
                                     FromGrpcStatus(status).code())}})
          ->Increment();
      registry_
          ->GetHistogram("engram_rpc_duration_seconds",
                         "Time from an RPC's arrival to its status.",
                         {{"method", method_}}, LatencyBucketsSeconds())
          ->Observe(absl::ToDoubleSeconds(absl::Now() - start_));
    }
    methods->Proceed();
  }

 private:
  MetricsRegistry* const registry_;
  std::atomic<int64_t>* const calls_in_flight_;
  const std::string method_;
  const absl::Time start_;
};

class RpcMetricsInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  RpcMetricsInterceptorFactory(MetricsRegistry* registry,
                               std::atomic<int64_t>* calls_in_flight)
      : registry_(registry), calls_in_flight_(calls_in_flight) {}

  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new RpcMetricsInterceptor(registry_, calls_in_flight_,
                                     MethodLabel(info->method()));
  }

 private:
  MetricsRegistry* const registry_;
  std::atomic<int64_t>* const calls_in_flight_;
};

}  // namespace

std::vector<
    std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
MakeRpcMetricsInterceptors(MetricsRegistry* registry,
                           std::atomic<int64_t>* calls_in_flight) {
  std::vector<
      std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
      creators;
  creators.push_back(std::make_unique<RpcMetricsInterceptorFactory>(
      registry, calls_in_flight));
  return creators;
}

}  // namespace engram::server

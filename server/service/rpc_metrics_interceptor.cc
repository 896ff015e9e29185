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
  RpcMetricsInterceptor(MetricsRegistry* registry, std::string method)
      : registry_(registry), method_(std::move(method)), start_(absl::Now()) {}

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
  const std::string method_;
  const absl::Time start_;
};

class RpcMetricsInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit RpcMetricsInterceptorFactory(MetricsRegistry* registry)
      : registry_(registry) {}

  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new RpcMetricsInterceptor(registry_, MethodLabel(info->method()));
  }

 private:
  MetricsRegistry* const registry_;
};

}  // namespace

std::vector<
    std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
MakeRpcMetricsInterceptors(MetricsRegistry* registry) {
  std::vector<
      std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
      creators;
  creators.push_back(std::make_unique<RpcMetricsInterceptorFactory>(registry));
  return creators;
}

}  // namespace engram::server

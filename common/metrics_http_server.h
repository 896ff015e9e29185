// MetricsHttpServer: a minimal HTTP/1.1 endpoint that answers
// `GET /metrics` with a MetricsRegistry's Prometheus text, for scrapers.
//
//   ENGRAM_ASSIGN_OR_RETURN(
//       std::unique_ptr<MetricsHttpServer> http,
//       MetricsHttpServer::Start("127.0.0.1:9464", &registry));
//   LOG(INFO) << "metrics on port " << http->port();
//
// One thread serves one connection at a time (scrapes are rare and small),
// with a 2 s read timeout so a stalled client cannot hold it; each response
// closes its connection. Other paths get 404, other methods 405. The
// destructor stops the thread. Thread-safe.
#ifndef ENGRAM_COMMON_METRICS_HTTP_SERVER_H_
#define ENGRAM_COMMON_METRICS_HTTP_SERVER_H_

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "common/metrics.h"

namespace engram {

class MetricsHttpServer {
 public:
  // Listens on "host:port" (port 0: any free one). InvalidArgument for an
  // address without a port; Unavailable when it cannot be bound.
  // `registry` must outlive the server.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(
      const std::string& address, const MetricsRegistry* registry);
  ~MetricsHttpServer();
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  int port() const { return port_; }

 private:
  MetricsHttpServer(int listen_fd, int port, const MetricsRegistry* registry);
  void Serve();
  void Answer(int connection) const;

  const int listen_fd_;
  const int port_;
  const MetricsRegistry* const registry_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace engram

#endif  // ENGRAM_COMMON_METRICS_HTTP_SERVER_H_

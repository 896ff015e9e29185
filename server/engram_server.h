// EngramServer: the engram-server process minus flag parsing. Loads the
// tables of a data directory, serves them over gRPC (with health checking
// and reflection) and shuts down gracefully.
//
//   ServerOptions options;
//   options.listen_address = "127.0.0.1:0";
//   options.storage.data_dir = "/var/lib/engram";
//   ENGRAM_ASSIGN_OR_RETURN(auto server, EngramServer::Create(options));
//   LOG(INFO) << "serving on port " << server->port();
//   server->Wait();  // until Shutdown() from another thread
#ifndef ENGRAM_SERVER_ENGRAM_SERVER_H_
#define ENGRAM_SERVER_ENGRAM_SERVER_H_

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/metrics.h"
#include "common/metrics_http_server.h"
#include "common/tls_files.h"
#include "server/service/admin_service_impl.h"
#include "server/service/engram_service_impl.h"
#include "server/service/token_check.h"
#include "server/storage/table_storage.h"
#include "server/tables/demo_tables.h"
#include "server/versions/version_manager.h"

namespace grpc {
class Server;
}  // namespace grpc

namespace engram::server {

struct ServerOptions {
  // host:port to listen on; port 0 picks a free port (see port()).
  std::string listen_address = "127.0.0.1:50051";
  // Where tables live: the data directory (required), RAM budget, caches.
  TableStorage::Options storage;
  // Per-request bounds.
  LookupLimits limits;
  // Bounds of EngramAdmin.ImportTable.
  ImportLimits import_limits;
  // Knowledge patches: retention, limits, pins. control_dir defaults to
  // DATA_DIR/control.
  VersionManager::Options versions;
  // Bearer tokens the admin calls and the data calls require; empty: none.
  // Without an admin token the server listens only on loopback addresses
  // unless insecure_admin is set.
  std::string admin_token;
  std::string data_token;
  bool insecure_admin = false;
  // When set, missing demo tables are built at start (see demo_tables.h),
  // served at once, and written to the data directory in the background so
  // that later starts map them instead.
  std::optional<DemoTablesOptions> demo;
  // host:port of the Prometheus /metrics endpoint (port 0: any free one);
  // empty: none. The metrics are kept either way.
  std::string metrics_listen;
  // TLS for both planes (and mTLS with client_ca_file); none: plaintext.
  ServerTlsFiles tls;
  // A connection that has not finished its TLS and HTTP/2 handshake in
  // this long is closed (gRPC's own default is 120 s: connections that
  // never speak would hold a file descriptor each that long).
  absl::Duration handshake_timeout = absl::Seconds(10);
  // Connections with calls in flight are pinged this often, and cut when a
  // ping goes unanswered (or data sent goes unread: TCP_USER_TIMEOUT) for
  // keepalive_timeout, so that the imports, uploads and streams of a
  // client that hung or vanished end in about a minute, not in gRPC's
  // default two hours.
  absl::Duration keepalive_time = absl::Minutes(1);
  absl::Duration keepalive_timeout = absl::Seconds(20);
};

class EngramServer {
 public:
  // Loads the tables, creates demo tables if asked, and starts serving.
  // InvalidArgument for bad options; Unavailable if the address cannot be
  // bound; the data directory's errors otherwise.
  static absl::StatusOr<std::unique_ptr<EngramServer>> Create(
      ServerOptions options);
  ~EngramServer();

  // The port actually bound.
  int port() const { return port_; }
  // The /metrics port bound; 0 without an endpoint.
  int metrics_port() const;

  // The services behind the port, to call without a transport (the
  // service fuzzer does): their Do* methods skip the token checks.
  EngramServiceImpl& data_service() { return *service_; }
  AdminServiceImpl& admin_service() { return *admin_service_; }

  // Blocks until the server has shut down.
  void Wait();

  // Ends WatchTable streams, stops accepting calls, lets in-flight calls
  // finish for up to `grace`, then cancels what is left, and returns once
  // the calls are done (connections still open are closed then, not waited
  // for); an unfinished background table write is abandoned (it is redone
  // at the next start). Thread-safe; later calls do nothing.
  void Shutdown(absl::Duration grace);

  // Blocks until the background writes of built tables are done or
  // abandoned; the destructor calls it after Shutdown.
  void WaitForPersistence();

 private:
  EngramServer() = default;
  // Writes `tables` to `data_dir` on persist_thread_.
  void PersistInBackground(DataDir data_dir, std::vector<DemoTable> tables);

  // Gauges read at scrape time: tables, tiers, caches, the RAM budget.
  void CollectGauges(GaugeWriter& out) const;
  // During Shutdown, until `shut_down`: closes every connection once no
  // call is left.
  void CloseConnectionsWhenIdle(const absl::Notification& shut_down);

  // Declared first: the interceptors and services record into it until
  // the gRPC server is gone.
  MetricsRegistry metrics_;
  TableManager tables_;
  std::unique_ptr<TableStorage> storage_;
  std::unique_ptr<VersionManager> versions_;
  std::unique_ptr<TokenCheck> admin_auth_;
  std::unique_ptr<TokenCheck> data_auth_;
  std::unique_ptr<EngramServiceImpl> service_;
  std::unique_ptr<AdminServiceImpl> admin_service_;
  std::unique_ptr<grpc::Server> grpc_server_;
  std::unique_ptr<MetricsHttpServer> metrics_http_;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  // Calls that have arrived and are not yet done (the interceptors count).
  std::atomic<int64_t> calls_in_flight_{0};
  std::thread persist_thread_;
};

}  // namespace engram::server

#endif  // ENGRAM_SERVER_ENGRAM_SERVER_H_

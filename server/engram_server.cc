#include "server/engram_server.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/channel_arguments.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "common/tls_credentials.h"
#include "grpc/grpc.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "server/service/rpc_metrics_interceptor.h"
#include "server/storage/data_dir.h"

namespace engram::server {
namespace {

// Room for the protobuf framing around the largest request or response.
constexpr uint64_t kMessageOverheadBytes = 1 << 20;

// gRPC's unix:PATH and unix-abstract:NAME.
bool IsUnixSocketAddress(absl::string_view address) {
  return absl::StartsWith(address, "unix:") ||
         absl::StartsWith(address, "unix-abstract:");
}

// Whether only processes on this host can reach `address`: a loopback
// host:port, or a Unix domain socket, which file permissions or the
// network namespace guard like loopback.
bool IsLocalOnlyAddress(absl::string_view address) {
  if (IsUnixSocketAddress(address)) return true;
  const size_t colon = address.rfind(':');
  absl::string_view host =
      colon == absl::string_view::npos ? address : address.substr(0, colon);
  if (absl::ConsumePrefix(&host, "[")) absl::ConsumeSuffix(&host, "]");
  return host == "localhost" || host == "::1" || absl::StartsWith(host, "127.");
}

int MessageLimit(uint64_t payload_bytes) {
  return static_cast<int>(
      std::min<uint64_t>(payload_bytes + kMessageOverheadBytes, INT32_MAX));
}

absl::Status ValidateOptions(const ServerOptions& options) {
  if (options.storage.data_dir.empty()) {
    return absl::InvalidArgumentError(
        "a data directory is required (--data-dir)");
  }
  if (options.listen_address.empty()) {
    return absl::InvalidArgumentError(
        "a listen address is required (--listen)");
  }
  if (options.limits.max_batch_rows == 0 ||
      options.limits.max_response_bytes == 0) {
    return absl::InvalidArgumentError(
        "--max-batch-rows and --max-response-bytes must be > 0");
  }
  for (const auto& [flag, duration] :
       {std::pair{"--handshake-timeout", options.handshake_timeout},
        std::pair{"--keepalive-time", options.keepalive_time},
        std::pair{"--keepalive-timeout", options.keepalive_timeout}}) {
    if (duration < absl::Milliseconds(1) || duration > absl::Hours(24)) {
      return absl::InvalidArgumentError(
          absl::StrCat(flag, " must be in [1ms, 24h], not ",
                       absl::FormatDuration(duration)));
    }
  }
  if (options.admin_token.empty() && !options.insecure_admin &&
      !IsLocalOnlyAddress(options.listen_address)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "listening on ", options.listen_address,
        " without an admin token would let anyone on the network import "
        "tables and activate patches: give --admin-token-file FILE (or "
        "--insecure-admin to accept that)"));
  }
  return absl::OkStatus();
}

// Serves `stored` tables and demo tables through `versions`, with the
// versions its control store holds for them.
absl::Status ServeTables(std::vector<StoredTable> stored,
                         const std::vector<DemoTable>& demo_tables,
                         TableStorage& storage, VersionManager& versions) {
  for (StoredTable& stored_table : stored) {
    absl::StatusOr<std::shared_ptr<const Table>> table = Table::Create(
        std::move(stored_table.info), std::move(stored_table.store),
        std::move(stored_table.compression));
    if (!table.ok()) {
      // As with damaged files: serve the other tables.
      LOG(ERROR) << "not serving a table: " << table.status();
      continue;
    }
    ENGRAM_RETURN_IF_ERROR(versions.AddTable(*std::move(table)));
  }
  for (const DemoTable& demo_table : demo_tables) {
    storage.ChargeBuiltTable(demo_table.info.name(),
                             RamTableBytes(demo_table.info));
    ENGRAM_ASSIGN_OR_RETURN(std::shared_ptr<const Table> table,
                            Table::Create(demo_table.info, demo_table.rows));
    ENGRAM_RETURN_IF_ERROR(versions.AddTable(std::move(table)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<EngramServer>> EngramServer::Create(
    ServerOptions options) {
  ENGRAM_RETURN_IF_ERROR(ValidateOptions(options));
  auto server = std::unique_ptr<EngramServer>(new EngramServer());
  ENGRAM_ASSIGN_OR_RETURN(server->storage_,
                          TableStorage::Create(options.storage));
  const DataDir& data_dir = server->storage_->data_dir();
  std::vector<DemoTable> demo_tables;
  if (options.demo.has_value()) {
    ENGRAM_ASSIGN_OR_RETURN(demo_tables,
                            BuildMissingDemoTables(data_dir, *options.demo));
  }
  if (options.versions.control_dir.empty()) {
    options.versions.control_dir = data_dir.path() + "/control";
  }
  ENGRAM_ASSIGN_OR_RETURN(
      server->versions_,
      VersionManager::Open(options.versions, &server->tables_));
  ENGRAM_ASSIGN_OR_RETURN(std::vector<StoredTable> stored,
                          server->storage_->LoadTables());
  ENGRAM_RETURN_IF_ERROR(ServeTables(std::move(stored), demo_tables,
                                     *server->storage_, *server->versions_));

  server->admin_auth_ =
      std::make_unique<TokenCheck>("admin", options.admin_token);
  server->data_auth_ = std::make_unique<TokenCheck>("data", options.data_token);
  if (!server->admin_auth_->enabled()) {
    LOG(WARNING) << "no --admin-token-file: admin calls (imports, patches) "
                    "are open to anyone who can reach "
                 << options.listen_address;
  }
  server->service_ = std::make_unique<EngramServiceImpl>(
      &server->tables_, server->storage_.get(), server->versions_.get(),
      server->data_auth_.get(), options.limits, &server->metrics_);
  server->admin_service_ = std::make_unique<AdminServiceImpl>(
      server->storage_.get(), &server->tables_, server->versions_.get(),
      server->admin_auth_.get(), options.import_limits);
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  ENGRAM_ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> credentials,
                          ServerCredentialsFor(options.tls));
  builder.AddListeningPort(options.listen_address, credentials, &server->port_);
  // Without this gRPC sets SO_REUSEPORT, and a second server on a taken
  // port would start and silently share its traffic.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // Clients may ping every kMinClientKeepaliveTime; the server accepts
  // twice as often, as timers fire a little early or late.
  for (const auto& [argument, duration] :
       {std::pair{GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS,
                  options.handshake_timeout},
        std::pair{GRPC_ARG_KEEPALIVE_TIME_MS, options.keepalive_time},
        std::pair{GRPC_ARG_KEEPALIVE_TIMEOUT_MS, options.keepalive_timeout},
        std::pair{GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                  kMinClientKeepaliveTime / 2}}) {
    builder.AddChannelArgument(
        argument, static_cast<int>(absl::ToInt64Milliseconds(duration)));
  }
  // Pings go on over streams that send no data (a WatchTable between
  // patches); gRPC otherwise stops after two.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  builder.experimental().SetInterceptorCreators(
      MakeRpcMetricsInterceptors(&server->metrics_, &server->calls_in_flight_));
  builder.RegisterService(server->service_.get());
  builder.RegisterService(server->admin_service_.get());
  builder.SetMaxReceiveMessageSize(
      MessageLimit(options.limits.max_batch_rows * kPackedRowIdBytes));
  builder.SetMaxSendMessageSize(
      MessageLimit(options.limits.max_response_bytes));
  server->grpc_server_ = builder.BuildAndStart();
  if (server->grpc_server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.listen_address));
  }
  server->metrics_.AddGaugeCollector(
      [raw = server.get()](GaugeWriter& out) { raw->CollectGauges(out); });
  if (!options.metrics_listen.empty()) {
    ENGRAM_ASSIGN_OR_RETURN(
        server->metrics_http_,
        MetricsHttpServer::Start(options.metrics_listen, &server->metrics_));
    LOG(INFO) << "metrics on " << options.metrics_listen << " (port "
              << server->metrics_http_->port() << ")";
  }
  // gRPC reports port 1 for a Unix socket: only a TCP port is worth naming.
  LOG(INFO) << "engram-server serving " << server->tables_.List().size()
            << " tables on " << options.listen_address
            << (IsUnixSocketAddress(options.listen_address)
                    ? ""
                    : absl::StrCat(" (port ", server->port_, ")"));
  if (!demo_tables.empty()) {
    server->PersistInBackground(data_dir, std::move(demo_tables));
  }
  return server;
}

EngramServer::~EngramServer() {
  Shutdown(absl::ZeroDuration());
  WaitForPersistence();
}

void EngramServer::PersistInBackground(DataDir data_dir,
                                       std::vector<DemoTable> tables) {
  persist_thread_ = std::thread(
      [this, data_dir = std::move(data_dir), tables = std::move(tables)] {
        for (const DemoTable& table : tables) {
          const absl::Time start = absl::Now();
          // Demo rows can be regenerated, so skip the fsyncs that would cost
          // seconds per GB; the rename still keeps half-written tables
          // invisible.
          const absl::Status status =
              data_dir.WriteTable(table.info, table.rows->data(),
                                  {.sync = false, .cancel = &stopping_});
          if (!status.ok()) {
            LOG(WARNING) << "table " << table.info.name()
                         << " not saved; it is rebuilt at the next start: "
                         << status;
            return;
          }
          LOG(INFO) << "saved table " << table.info.name() << " to "
                    << data_dir.path() << " in "
                    << absl::FormatDuration(absl::Now() - start);
        }
      });
}

void EngramServer::WaitForPersistence() {
  if (persist_thread_.joinable()) persist_thread_.join();
}

int EngramServer::metrics_port() const {
  return metrics_http_ == nullptr ? 0 : metrics_http_->port();
}

void EngramServer::CollectGauges(GaugeWriter& out) const {
  out.Gauge("engram_build_info", "The server's version (value 1).",
            {{"version", ENGRAM_VERSION}}, 1);
  const RamUse ram = storage_->ram_use();
  out.Gauge("engram_ram_budget_bytes", "--ram-budget (0: no limit).", {},
            ram.budget_bytes);
  out.Gauge("engram_ram_charged_bytes",
            "RAM charged to the budget: RAM tables, caches, block cache.", {},
            ram.charged_bytes);
  const std::vector<std::shared_ptr<const Table>> tables = tables_.List();
  out.Gauge("engram_tables", "Tables served.", {}, tables.size());
  out.Gauge("engram_rpcs_in_flight", "Calls arrived and not yet done.", {},
            calls_in_flight_.load());
  for (const std::shared_ptr<const Table>& table : tables) {
    const MetricLabels labels = {{"table", table->name()}};
    const RowStoreStats stats = table->store().Stats();
    out.Gauge("engram_table_version", "The active version of each table.",
              labels, table->info().version());
    out.Gauge("engram_table_rows", "Rows per table and tier.",
              {{"table", table->name()}, {"tier", "ram"}}, stats.rows_in_ram);
    out.Gauge("engram_table_rows", "Rows per table and tier.",
              {{"table", table->name()}, {"tier", "ssd"}}, stats.rows_on_ssd);
    out.Gauge("engram_table_bytes", "Bytes per table and tier.",
              {{"table", table->name()}, {"tier", "ram"}}, stats.bytes_in_ram);
    out.Gauge("engram_table_bytes", "Bytes per table and tier.",
              {{"table", table->name()}, {"tier", "ssd"}}, stats.bytes_on_ssd);
    out.CounterValue("engram_cache_hits_total",
                     "Hot-row cache hits of ssd tables.", labels,
                     stats.cache_hits);
    out.CounterValue("engram_cache_misses_total",
                     "Hot-row cache misses of ssd tables.", labels,
                     stats.cache_misses);
    out.Gauge("engram_cache_used_bytes", "Bytes the hot-row cache holds.",
              labels, stats.cache_bytes_used);
    out.Gauge("engram_cache_capacity_bytes", "The hot-row cache's capacity.",
              labels, stats.cache_capacity_bytes);
  }
}

void EngramServer::Wait() { grpc_server_->Wait(); }

void EngramServer::Shutdown(absl::Duration grace) {
  const bool first = !stopping_.exchange(true);
  // Watches last until cancelled; end them so they do not hold up the
  // drain of the calls that do end.
  if (versions_ != nullptr) versions_->CloseWatches();
  // Null only when Create failed before the server started.
  if (grpc_server_ == nullptr) return;
  // Health checkers see the drain before the port closes.
  grpc_server_->GetHealthCheckService()->SetServingStatus(false);
  // gRPC's drain also waits for every client to close its connection on
  // the GOAWAY, which an idle client does only when it next polls, or
  // never (the whole grace, seen with a client that had made blocking
  // calls only).
  absl::Notification shut_down;
  std::thread closer;
  if (first) closer = std::thread([&] { CloseConnectionsWhenIdle(shut_down); });
  grpc_server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
  shut_down.Notify();
  if (closer.joinable()) closer.join();
}

void EngramServer::CloseConnectionsWhenIdle(
    const absl::Notification& shut_down) {
  while (!shut_down.WaitForNotificationWithTimeout(absl::Milliseconds(10))) {
    if (calls_in_flight_.load() == 0) {
      // Cancels no call (none is left) and closes the connections.
      grpc_server_cancel_all_calls(grpc_server_->c_server());
      return;
    }
  }
}

}  // namespace engram::server

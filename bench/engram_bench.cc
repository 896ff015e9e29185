// engram-bench: load generator for engram-server and the baselines it is
// compared with.
//
//   engram-bench --server ADDR --table TABLE --batch 4096 --concurrency C \
//       --seconds S [--zipf S] --json
//   engram-bench --backend inproc --rows 1048576 --row-bytes 128 ...
//
// Prints rows/s, GB/s and p50/p99/p999 batch latency; with --json one object
// {"rows_per_s", "gb_per_s", "p50_us", "p99_us", "p999_us", "errors", ...}.
#include <cstdio>
#include <iostream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench/baseline_backends.h"
#include "bench/engram_backends.h"
#include "bench/load_runner.h"
#include "client/engram_client.h"
#include "common/cli_flags.h"
#include "common/client_security_flags.h"
#include "common/json_writer.h"
#include "common/malloc_tuning.h"
#include "common/status_macros.h"

ABSL_FLAG(std::string, backend, "engram",
          "What to load: engram (engram-server over gRPC), inproc (a gather "
          "from memory in this process), redis (MGET) or memcached "
          "(multi-get).");
ABSL_FLAG(std::string, server, "127.0.0.1:50051",
          "engram: engram-server address; redis/memcached: host:port.");
ABSL_FLAG(std::string, table, "", "engram: table to look up.");
ABSL_FLAG(int, connections, 2, "engram: HTTP/2 connections to spread over.");
ABSL_FLAG(uint64_t, rows, 1 << 20,
          "inproc/redis/memcached: rows in the table (ids 0..rows-1).");
ABSL_FLAG(uint32_t, row_bytes, 128, "inproc/redis/memcached: bytes per row.");
ABSL_FLAG(bool, populate, false,
          "redis/memcached: write the rows before measuring.");
ABSL_FLAG(int, batch, 4096, "Rows per lookup.");
ABSL_FLAG(int, concurrency, 4, "Lookups in flight (one per worker thread).");
ABSL_FLAG(double, seconds, 10, "Measured duration.");
ABSL_FLAG(double, warmup, 1, "Unmeasured warm-up before it.");
ABSL_FLAG(double, zipf, 0, "Zipf exponent of the row ids; 0 = uniform.");
ABSL_FLAG(uint64_t, seed, 1,
          "Seed of the row id streams (worker w uses seed + w); runs that "
          "must not replay each other's ids need different seeds.");
ABSL_FLAG(bool, json, false, "Print one JSON object.");
ABSL_FLAG(double, report_every, 0,
          "Also print a report of each this many seconds as it ends (one "
          "line, or one JSON object a line with --json, with its "
          "\"ended_at_s\"); 0: only the whole run's.");

namespace engram::bench {
namespace {

struct Target {
  TableShape shape;
  BackendFactory factory;
};

absl::StatusOr<Target> MakeTarget() {
  const std::string backend = absl::GetFlag(FLAGS_backend);
  const TableShape flag_shape{absl::GetFlag(FLAGS_rows),
                              absl::GetFlag(FLAGS_row_bytes)};
  if (backend == "engram") {
    if (absl::GetFlag(FLAGS_table).empty()) {
      return absl::InvalidArgumentError("--table is required");
    }
    client::ClientOptions options;
    options.server_address = absl::GetFlag(FLAGS_server);
    options.connections = absl::GetFlag(FLAGS_connections);
    options.tls = ClientTlsFilesFromFlags();
    ENGRAM_ASSIGN_OR_RETURN(options.bearer_token, BearerTokenFromFlags());
    ENGRAM_ASSIGN_OR_RETURN(std::shared_ptr<client::EngramClient> client,
                            client::EngramClient::Create(options));
    ENGRAM_ASSIGN_OR_RETURN(client::TableDescription table,
                            client->DescribeTable(absl::GetFlag(FLAGS_table)));
    return Target{TableShape{table.rows, table.row_bytes},
                  EngramBackendFactory(client, table.name, table.row_bytes)};
  }
  if (backend == "inproc") {
    ENGRAM_ASSIGN_OR_RETURN(BackendFactory factory,
                            InProcessBackendFactory(flag_shape));
    return Target{flag_shape, std::move(factory)};
  }
  if (backend == "redis" || backend == "memcached") {
    const BaselineKind kind =
        backend == "redis" ? BaselineKind::kRedis : BaselineKind::kMemcached;
    ENGRAM_ASSIGN_OR_RETURN(
        BackendFactory factory,
        BaselineBackendFactory(kind, absl::GetFlag(FLAGS_server), flag_shape,
                               absl::GetFlag(FLAGS_populate)));
    return Target{flag_shape, std::move(factory)};
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown --backend '", backend,
                   "'; expected engram, inproc, redis or memcached"));
}

void PrintReport(const LoadReport& report, const TableShape& shape) {
  if (absl::GetFlag(FLAGS_json)) {
    JsonWriter json;
    json.BeginObject();
    json.Key("backend").String(absl::GetFlag(FLAGS_backend));
    json.Key("rows_per_s").Double(report.rows_per_s);
    json.Key("gb_per_s").Double(report.gb_per_s);
    json.Key("p50_us").Double(report.p50_us);
    json.Key("p99_us").Double(report.p99_us);
    json.Key("p999_us").Double(report.p999_us);
    json.Key("errors").Uint(report.errors);
    json.Key("batches").Uint(report.batches);
    json.Key("batch").Int(absl::GetFlag(FLAGS_batch));
    json.Key("row_bytes").Uint(shape.row_bytes);
    json.Key("concurrency").Int(absl::GetFlag(FLAGS_concurrency));
    json.Key("zipf").Double(absl::GetFlag(FLAGS_zipf));
    json.Key("seconds").Double(report.elapsed_seconds);
    if (report.ended_at_seconds > 0) {
      json.Key("ended_at_s").Double(report.ended_at_seconds);
    }
    if (!report.first_error.empty()) {
      json.Key("first_error").String(report.first_error);
    }
    json.EndObject();
    std::cout << json.str() << "\n";
    return;
  }
  if (report.ended_at_seconds > 0) {
    std::cout << absl::StrFormat("[%.1fs] ", report.ended_at_seconds);
  }
  std::cout << absl::StrFormat(
      "%s: %.2f M rows/s, %.3f GB/s, batch latency p50 %.0f us, p99 %.0f us, "
      "p999 %.0f us, %d errors%s\n",
      absl::GetFlag(FLAGS_backend), report.rows_per_s / 1e6, report.gb_per_s,
      report.p50_us, report.p99_us, report.p999_us, report.errors,
      report.first_error.empty() ? "" : " (first: " + report.first_error + ")");
}

absl::Status Run() {
  ENGRAM_ASSIGN_OR_RETURN(Target target, MakeTarget());
  LoadConfig config;
  config.concurrency = absl::GetFlag(FLAGS_concurrency);
  config.batch = absl::GetFlag(FLAGS_batch);
  config.seconds = absl::GetFlag(FLAGS_seconds);
  config.warmup_seconds = absl::GetFlag(FLAGS_warmup);
  config.zipf_s = absl::GetFlag(FLAGS_zipf);
  config.seed = absl::GetFlag(FLAGS_seed);
  config.report_every_seconds = absl::GetFlag(FLAGS_report_every);
  config.on_interval = [&target](const LoadReport& interval) {
    PrintReport(interval, target.shape);
    std::cout.flush();
  };
  ENGRAM_ASSIGN_OR_RETURN(LoadReport report,
                          RunLoad(config, target.shape, target.factory));
  PrintReport(report, target.shape);
  return absl::OkStatus();
}

}  // namespace
}  // namespace engram::bench

int main(int argc, char** argv) {
  engram::TuneMallocForLargeBuffers();
  const std::vector<std::string> args = engram::ParseCommandLine(
      argc, argv,
      "engram-bench --server ADDR --table TABLE [--batch N] [--concurrency C] "
      "[--seconds S] [--zipf S] [--report-every S] [--json]",
      /*config_flag=*/false);
  if (!args.empty()) {
    std::fprintf(stderr, "engram-bench: unexpected argument '%s'\n",
                 args[0].c_str());
    return 2;
  }
  if (const absl::Status status = engram::bench::Run(); !status.ok()) {
    std::fprintf(stderr, "engram-bench: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}

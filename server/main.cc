// engram-server: serves Engram tables over gRPC.
//
//   engram-server --listen 127.0.0.1:50051 --data-dir /var/lib/engram --demo
//
// SIGTERM or SIGINT drains in-flight calls (up to --shutdown-grace) and
// exits 0.
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/bearer_token.h"
#include "common/cli_flags.h"
#include "common/element_type.h"
#include "common/logging.h"
#include "common/malloc_tuning.h"
#include "common/status_macros.h"
#include "server/engram_server.h"

ABSL_FLAG(
    std::string, config, "",
    "Config file of 'flag = value' lines; command-line flags override it.");
ABSL_FLAG(std::string, listen, "127.0.0.1:50051",
          "Address to serve on, host:port (port 0 picks a free one), or a "
          "Unix socket unix:PATH.");
ABSL_FLAG(std::string, data_dir, "", "Directory holding the tables.");
ABSL_FLAG(uint64_t, ram_budget, 0,
          "Bytes of RAM for tables and caches: the RocksDB block cache, "
          "RAM-placed tables (which --placement auto fills first) and the "
          "hot-row caches of ssd-placed tables, which get what is left; "
          "0 = no limit.");
ABSL_FLAG(uint64_t, row_cache_bytes, 256ull << 20,
          "Largest hot-row cache of one ssd-placed table, in bytes (less when "
          "--ram-budget runs short); 0 = none.");
ABSL_FLAG(bool, mmap_reads, true,
          "Read RocksDB's table files through mmap (cheapest when they fit "
          "the page cache) instead of pread.");
ABSL_FLAG(bool, verify_reads, false,
          "Verify RocksDB block checksums on every read, not only when a "
          "table is ingested.");
ABSL_FLAG(std::string, import_dir, "",
          "Directory whose files imports may name for the server to read "
          "itself (engramctl import --server-file); empty = none.");
ABSL_FLAG(uint64_t, block_cache_bytes, 256ull << 20,
          "RocksDB block cache shared by the ssd-placed tables, in bytes.");
ABSL_FLAG(std::string, port_file, "",
          "If set, the bound port is written here once the server is "
          "serving (on a Unix socket gRPC reports 1: read it as a "
          "readiness mark only).");
ABSL_FLAG(std::string, tls_cert_file, "",
          "PEM certificate chain: serve both planes over TLS (with "
          "--tls-key-file).");
ABSL_FLAG(std::string, tls_key_file, "", "PEM private key of --tls-cert-file.");
ABSL_FLAG(std::string, tls_client_ca_file, "",
          "PEM CAs: require client certificates signed by them (mutual "
          "TLS).");
ABSL_FLAG(std::string, metrics_listen, "",
          "host:port of the Prometheus /metrics endpoint (port 0: any free "
          "port); empty: none.");
ABSL_FLAG(std::string, metrics_port_file, "",
          "Write the bound /metrics port here once serving.");
ABSL_FLAG(uint64_t, max_batch_rows, 1 << 20, "Most row ids in one lookup.");
ABSL_FLAG(uint64_t, max_response_bytes, 256ull << 20,
          "Most bytes of rows in one lookup response.");
ABSL_FLAG(uint64_t, max_import_bytes, 64ull << 30,
          "Largest table EngramAdmin.ImportTable accepts, in bytes.");
ABSL_FLAG(absl::Duration, handshake_timeout, absl::Seconds(10),
          "How long a new connection may take to start speaking gRPC (TLS "
          "and HTTP/2 preface) before it is closed.");
ABSL_FLAG(absl::Duration, keepalive_time, absl::Minutes(1),
          "How often connections with calls in flight are pinged.");
ABSL_FLAG(absl::Duration, keepalive_timeout, absl::Seconds(20),
          "A connection whose ping goes unanswered, or whose client reads "
          "none of the data sent, for this long is closed, ending its calls "
          "(imports and patch uploads of a client that hung or vanished "
          "are dropped).");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(10),
          "How long SIGTERM waits for in-flight calls before cancelling them.");
ABSL_FLAG(std::string, admin_token_file, "",
          "File holding the bearer token every admin call (imports, "
          "patches, activations) must carry; without one the server listens "
          "only on loopback addresses or a Unix socket unless "
          "--insecure-admin.");
ABSL_FLAG(std::string, data_token_file, "",
          "File holding the bearer token every data call (lookups, pins, "
          "watches) must carry; empty = the data plane is open.");
ABSL_FLAG(bool, insecure_admin, false,
          "Allow a network --listen (not loopback, not a Unix socket) "
          "without --admin-token-file.");
ABSL_FLAG(int, retain_versions, 8,
          "Versions of each table kept besides its base, its active version "
          "and pinned ones (what rollback can reach).");
ABSL_FLAG(uint64_t, max_patch_bytes, 4ull << 30,
          "Largest knowledge patch, in row bytes (patches live in RAM).");
ABSL_FLAG(absl::Duration, default_pin_ttl, absl::Seconds(60),
          "How long a pin that names no TTL lasts without use.");
ABSL_FLAG(absl::Duration, max_pin_ttl, absl::Hours(1),
          "Longest pin TTL granted.");
ABSL_FLAG(uint64_t, max_pins, 1 << 20, "Most live pins.");
ABSL_FLAG(bool, demo, false,
          "Create the demo tables (reference Engram config, pseudo-random "
          "rows) at first start and serve them.");
ABSL_FLAG(std::string, demo_dtype, "bf16",
          "Element type of demo rows: f32, bf16 or f16.");
ABSL_FLAG(std::string, demo_layer_ids, "1,15",
          "Demo: Engram layer ids, one table each.");
ABSL_FLAG(std::string, demo_vocab_sizes, "646400,646400",
          "Demo: target table size per n-gram order 2..max_ngram.");
ABSL_FLAG(int, demo_heads, 8, "Demo: hash heads per n-gram order.");
ABSL_FLAG(int, demo_values_per_row, 64, "Demo: values per row (per head).");
ABSL_FLAG(int64_t, demo_seed, 0, "Demo: hash seed.");
ABSL_FLAG(int64_t, demo_tokenizer_vocab, 129280,
          "Demo: size of the compressed tokenizer vocabulary.");

namespace engram::server {
namespace {

// Writes `port` to `path` (if set) whole, then renames it, so a watcher
// never reads half a number.
void WritePortFile(const std::string& path, int port) {
  if (path.empty()) return;
  const std::string temp = path + ".tmp";
  std::ofstream(temp) << port << "\n";
  std::rename(temp.c_str(), path.c_str());
}

absl::StatusOr<ServerOptions> OptionsFromFlags() {
  ServerOptions options;
  options.listen_address = absl::GetFlag(FLAGS_listen);
  options.metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  options.tls.cert_file = absl::GetFlag(FLAGS_tls_cert_file);
  options.tls.key_file = absl::GetFlag(FLAGS_tls_key_file);
  options.tls.client_ca_file = absl::GetFlag(FLAGS_tls_client_ca_file);
  options.storage.data_dir = absl::GetFlag(FLAGS_data_dir);
  options.storage.ram_budget_bytes = absl::GetFlag(FLAGS_ram_budget);
  options.storage.row_cache_bytes = absl::GetFlag(FLAGS_row_cache_bytes);
  options.storage.block_cache_bytes = absl::GetFlag(FLAGS_block_cache_bytes);
  options.limits.max_batch_rows = absl::GetFlag(FLAGS_max_batch_rows);
  options.limits.max_response_bytes = absl::GetFlag(FLAGS_max_response_bytes);
  options.handshake_timeout = absl::GetFlag(FLAGS_handshake_timeout);
  options.keepalive_time = absl::GetFlag(FLAGS_keepalive_time);
  options.keepalive_timeout = absl::GetFlag(FLAGS_keepalive_timeout);
  options.storage.mmap_reads = absl::GetFlag(FLAGS_mmap_reads);
  options.storage.verify_reads = absl::GetFlag(FLAGS_verify_reads);
  options.import_limits.max_table_bytes = absl::GetFlag(FLAGS_max_import_bytes);
  options.import_limits.import_dir = absl::GetFlag(FLAGS_import_dir);
  options.versions.retain_versions = absl::GetFlag(FLAGS_retain_versions);
  options.versions.max_patch_bytes = absl::GetFlag(FLAGS_max_patch_bytes);
  options.versions.pins.default_ttl = absl::GetFlag(FLAGS_default_pin_ttl);
  options.versions.pins.max_ttl = absl::GetFlag(FLAGS_max_pin_ttl);
  options.versions.pins.max_pins = absl::GetFlag(FLAGS_max_pins);
  options.insecure_admin = absl::GetFlag(FLAGS_insecure_admin);
  if (const std::string path = absl::GetFlag(FLAGS_admin_token_file);
      !path.empty()) {
    ENGRAM_ASSIGN_OR_RETURN(options.admin_token, ReadBearerTokenFile(path));
  }
  if (const std::string path = absl::GetFlag(FLAGS_data_token_file);
      !path.empty()) {
    ENGRAM_ASSIGN_OR_RETURN(options.data_token, ReadBearerTokenFile(path));
  }
  if (absl::GetFlag(FLAGS_demo)) {
    DemoTablesOptions demo;
    ENGRAM_ASSIGN_OR_RETURN(demo.element_type,
                            ParseElementType(absl::GetFlag(FLAGS_demo_dtype)));
    HashSpecConfig& config = demo.hash_config;
    ENGRAM_ASSIGN_OR_RETURN(
        config.layer_ids,
        ParseIntegerList("demo-layer-ids",
                         absl::GetFlag(FLAGS_demo_layer_ids)));
    ENGRAM_ASSIGN_OR_RETURN(
        config.vocab_sizes,
        ParseIntegerList("demo-vocab-sizes",
                         absl::GetFlag(FLAGS_demo_vocab_sizes)));
    config.max_ngram = static_cast<int>(config.vocab_sizes.size()) + 1;
    config.heads_per_ngram = absl::GetFlag(FLAGS_demo_heads);
    config.n_embed_per_ngram =
        int64_t{absl::GetFlag(FLAGS_demo_values_per_row)} *
        config.heads_per_ngram;
    config.seed = absl::GetFlag(FLAGS_demo_seed);
    config.tokenizer_vocab = absl::GetFlag(FLAGS_demo_tokenizer_vocab);
    options.demo = demo;
  }
  return options;
}

// Blocks SIGTERM and SIGINT in every thread (call before any thread starts),
// so that only WaitForTermination receives them.
sigset_t BlockTerminationSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

int Run() {
  const sigset_t signals = BlockTerminationSignals();
  // A write past a file-size limit then fails with EFBIG, which the import
  // reports, instead of killing the server.
  signal(SIGXFSZ, SIG_IGN);
  absl::StatusOr<ServerOptions> options = OptionsFromFlags();
  if (!options.ok()) {
    std::fprintf(stderr, "engram-server: %s\n",
                 std::string(options.status().message()).c_str());
    return 2;
  }
  absl::StatusOr<std::unique_ptr<EngramServer>> server =
      EngramServer::Create(*std::move(options));
  if (!server.ok()) {
    LOG(ERROR) << "engram-server cannot start: " << server.status();
    return 1;
  }
  // The metrics port first: --port-file appearing means both are known.
  WritePortFile(absl::GetFlag(FLAGS_metrics_port_file),
                (*server)->metrics_port());
  WritePortFile(absl::GetFlag(FLAGS_port_file), (*server)->port());
  std::thread signal_waiter([&signals, &server] {
    int signal_number = 0;
    sigwait(&signals, &signal_number);
    LOG(INFO) << "received signal " << signal_number << ", draining";
    (*server)->Shutdown(absl::GetFlag(FLAGS_shutdown_grace));
  });
  (*server)->Wait();
  signal_waiter.join();
  LOG(INFO) << "engram-server stopped";
  return 0;
}

}  // namespace
}  // namespace engram::server

int main(int argc, char** argv) {
  engram::TuneMallocForLargeBuffers();
  // Debian's Abseil checks lock order on every Mutex operation (2% of
  // server CPU under load); the thread-safety annotations cover it at
  // compile time instead.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  const std::vector<std::string> args =
      engram::ParseCommandLine(argc, argv,
                               "engram-server --listen HOST:PORT --data-dir "
                               "DIR [--demo] [--config FILE]",
                               /*config_flag=*/true);
  if (!args.empty()) {
    std::fprintf(stderr, "engram-server: unexpected argument '%s'\n",
                 args[0].c_str());
    return 2;
  }
  return engram::server::Run();
}

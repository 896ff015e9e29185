// engram-decode-bench: the latency of one decode step through the
// Prefetcher, as an inference worker sees it: per step, one new token for
// each of --sequences sequences, the rows of every Engram layer addressed
// and fetched (one lookup per layer, in parallel), and the time until the
// last layer's rows are in.
//
//   engram-decode-bench --server ADDR --tables layer_1,layer_15
//       --sequences 64 --steps 2000 [--zipf S] [--tune-malloc=false] [--json]
//
// Tokens are drawn uniformly from --vocab, or Zipf(S)-distributed, so that
// n-grams repeat as in text. Steps run one after another (a decode loop);
// every step is cold unless --cache-bytes puts a worker-side cache
// (client::CachingClient) in front, whose hit rate is then reported.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "bench/load_runner.h"
#include "bench/zipf.h"
#include "client/caching_client.h"
#include "client/engram_client.h"
#include "client/prefetcher.h"
#include "common/cli_flags.h"
#include "common/client_security_flags.h"
#include "common/json_writer.h"
#include "common/malloc_tuning.h"
#include "common/status_macros.h"

ABSL_FLAG(std::string, server, "127.0.0.1:50051", "engram-server address.");
ABSL_FLAG(std::vector<std::string>, tables,
          std::vector<std::string>({"layer_1", "layer_15"}),
          "One table per Engram layer, each with a hash spec.");
ABSL_FLAG(int, sequences, 64, "Sequences decoded together (the batch).");
ABSL_FLAG(int, steps, 2000, "Measured decode steps.");
ABSL_FLAG(int, warmup_steps, 200, "Unmeasured steps before them.");
ABSL_FLAG(uint64_t, vocab, 129280, "Token ids are drawn from [0, vocab).");
ABSL_FLAG(double, zipf, 0, "Zipf exponent of the tokens; 0 = uniform.");
ABSL_FLAG(uint64_t, seed, 1, "Seed of the token stream.");
ABSL_FLAG(uint64_t, cache_bytes, 0,
          "Worker-side cache (client::CachingClient) of this many bytes; "
          "0 = none, every step cold.");
ABSL_FLAG(bool, tune_malloc, true,
          "Keep freed large buffers in the heap (TuneMallocForLargeBuffers), "
          "as engram-worker does; false measures a process that has not "
          "tuned glibc malloc.");
ABSL_FLAG(bool, json, false, "Print one JSON object.");

namespace engram::bench {
namespace {

absl::Status Run() {
  if (absl::GetFlag(FLAGS_tune_malloc)) TuneMallocForLargeBuffers();
  client::ClientOptions options;
  options.server_address = absl::GetFlag(FLAGS_server);
  options.tls = ClientTlsFilesFromFlags();
  ENGRAM_ASSIGN_OR_RETURN(options.bearer_token, BearerTokenFromFlags());
  ENGRAM_ASSIGN_OR_RETURN(std::unique_ptr<client::EngramClient> client,
                          client::EngramClient::Create(options));
  client::CachingClient* cache = nullptr;
  if (const uint64_t bytes = absl::GetFlag(FLAGS_cache_bytes); bytes > 0) {
    ENGRAM_ASSIGN_OR_RETURN(std::unique_ptr<client::CachingClient> caching,
                            client::CachingClient::Create(
                                std::move(client), {.capacity_bytes = bytes}));
    cache = caching.get();
    client = std::move(caching);
    for (const std::string& table : absl::GetFlag(FLAGS_tables)) {
      ENGRAM_RETURN_IF_ERROR(cache->StartCaching(table));
    }
  }
  ENGRAM_ASSIGN_OR_RETURN(
      std::unique_ptr<client::Prefetcher> prefetcher,
      client::Prefetcher::Create(client.get(),
                                 {.tables = absl::GetFlag(FLAGS_tables)}));
  const int sequences = absl::GetFlag(FLAGS_sequences);
  std::vector<std::string> buffers;
  uint64_t rows_per_step = 0;
  for (int l = 0; l < prefetcher->num_layers(); ++l) {
    const uint64_t rows = uint64_t(sequences) * prefetcher->rows_per_token(l);
    rows_per_step += rows;
    buffers.emplace_back(rows * prefetcher->row_bytes(l), '\0');
  }
  RowIdSampler tokens(absl::GetFlag(FLAGS_vocab), absl::GetFlag(FLAGS_zipf),
                      absl::GetFlag(FLAGS_seed));
  std::vector<int64_t> step_tokens(sequences);
  std::vector<double> latencies_us;
  uint64_t rows_fetched = 0;
  client::CacheStats cache_at_start;
  const int warmup = absl::GetFlag(FLAGS_warmup_steps);
  const int steps = absl::GetFlag(FLAGS_steps);
  for (int step = 0; step < warmup + steps; ++step) {
    for (int64_t& token : step_tokens) token = tokens.Next();
    std::vector<absl::Span<char>> out;
    for (std::string& buffer : buffers) {
      out.push_back(absl::MakeSpan(buffer.data(), buffer.size()));
    }
    const absl::Time start = absl::Now();
    ENGRAM_ASSIGN_OR_RETURN(std::unique_ptr<client::PrefetchStep> fetch,
                            prefetcher->Decode(step_tokens, std::move(out)));
    for (int l = 0; l < prefetcher->num_layers(); ++l) {
      ENGRAM_RETURN_IF_ERROR(fetch->Wait(l, start + absl::Seconds(10)));
    }
    if (step < warmup) continue;
    if (step == warmup && cache != nullptr) cache_at_start = cache->stats();
    latencies_us.push_back(absl::ToDoubleMicroseconds(absl::Now() - start));
    rows_fetched += fetch->rows_fetched();
  }
  std::sort(latencies_us.begin(), latencies_us.end());
  const double p50 = Percentile(latencies_us, 0.50);
  const double p99 = Percentile(latencies_us, 0.99);
  const double p999 = Percentile(latencies_us, 0.999);
  const double fetched_per_step = double(rows_fetched) / steps;
  double hit_rate = 0;
  if (cache != nullptr) {
    const client::CacheStats now = cache->stats();
    const uint64_t hits = now.hits - cache_at_start.hits;
    const uint64_t misses = now.misses - cache_at_start.misses;
    hit_rate = hits + misses == 0 ? 0 : double(hits) / (hits + misses);
  }
  if (absl::GetFlag(FLAGS_json)) {
    JsonWriter json;
    json.BeginObject();
    json.Key("sequences").Int(sequences);
    json.Key("layers").Int(prefetcher->num_layers());
    json.Key("rows_per_step").Uint(rows_per_step);
    json.Key("rows_fetched_per_step").Double(fetched_per_step);
    json.Key("steps").Int(steps);
    json.Key("zipf").Double(absl::GetFlag(FLAGS_zipf));
    json.Key("cache_bytes").Uint(absl::GetFlag(FLAGS_cache_bytes));
    json.Key("cache_hit_rate").Double(hit_rate);
    json.Key("tune_malloc").Bool(absl::GetFlag(FLAGS_tune_malloc));
    json.Key("p50_us").Double(p50);
    json.Key("p99_us").Double(p99);
    json.Key("p999_us").Double(p999);
    json.EndObject();
    std::cout << json.str() << "\n";
  } else {
    std::cout << absl::StrFormat(
        "%d sequences x %d layers: %d rows/step (%.0f fetched), step latency "
        "p50 %.0f us, p99 %.0f us, p999 %.0f us over %d steps; cache hit "
        "rate %.3f\n",
        sequences, prefetcher->num_layers(), rows_per_step, fetched_per_step,
        p50, p99, p999, steps, hit_rate);
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace engram::bench

int main(int argc, char** argv) {
  // As in the server: the checks cost every lock, and this measures locks.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  const std::vector<std::string> args = engram::ParseCommandLine(
      argc, argv,
      "engram-decode-bench --server ADDR [--tables A,B] [--sequences N] "
      "[--steps N] [--zipf S] [--cache-bytes B] [--tune-malloc=false] [--json]",
      /*config_flag=*/false);
  if (!args.empty()) {
    std::fprintf(stderr, "engram-decode-bench: unexpected argument '%s'\n",
                 args[0].c_str());
    return 2;
  }
  if (const absl::Status status = engram::bench::Run(); !status.ok()) {
    std::fprintf(stderr, "engram-decode-bench: %s\n",
                 status.ToString().c_str());
    return 1;
  }
  return 0;
}

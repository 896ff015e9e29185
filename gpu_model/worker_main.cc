// engram-worker: runs a small decoder with Engram layers, taking its Engram
// rows from engram-server (or, as the baseline, from its own process), and
// reports throughput and how long each Engram layer waited for its rows.
//
//   engram-worker --rows local|server=HOST:PORT --prompt-tokens N
//       --decode-tokens M --seed S --json
//
// The demo model (no --model-config) matches the tables of
// `engram-server --demo`; without --weights its weights are seeded random
// (--seed), the prompt too. --compare-local also runs the same generation
// with local rows and reports server mode's overhead.
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "client/engram_client.h"
#include "client/prefetcher.h"
#include "client/shard_map.h"
#include "client/worker_client.h"
#include "common/cli_flags.h"
#include "common/client_security_flags.h"
#include "common/demo_rows.h"
#include "common/json_writer.h"
#include "common/logging.h"
#include "common/malloc_tuning.h"
#include "common/split_mix64.h"
#include "common/status_macros.h"
#include "common/write_file.h"
#include "gpu_model/backend.h"
#include "gpu_model/generation.h"
#include "gpu_model/local_row_client.h"
#include "gpu_model/model.h"
#include "gpu_model/model_config.h"
#include "gpu_model/model_weights.h"

ABSL_FLAG(std::string, rows, "local",
          "Where Engram rows come from: local (the worker's own tables, the "
          "baseline), server=HOST:PORT (engram-server, through the client "
          "library and its cache), shards=FILE (the servers of a shard "
          "map, client/shard_map.h, each row from its shard's replicas) or "
          "discover=HOST:PORT,... (the shard map those servers describe).");
ABSL_FLAG(std::string, model_config, "",
          "JSON engram.v1.ModelConfig (proto/engram/v1/model_config.proto); "
          "empty: the demo model.");
ABSL_FLAG(std::string, weights, "",
          ".safetensors weights (names in gpu_model/model_weights.h); empty: "
          "seeded random weights.");
ABSL_FLAG(std::string, save_weights, "",
          "Also write the weights used to this .safetensors file.");
ABSL_FLAG(int, prompt_tokens, 64, "Prompt tokens per sequence.");
ABSL_FLAG(int, decode_tokens, 32, "Tokens to generate per sequence.");
ABSL_FLAG(int, batch, 1, "Sequences generated together.");
ABSL_FLAG(uint64_t, seed, 0, "Seed of the random weights and prompt.");
ABSL_FLAG(std::string, device, "auto",
          "auto (a CUDA GPU when usable, else the CPU), cpu or cuda.");
ABSL_FLAG(std::string, local_rows_dtype, "bf16",
          "Element type of the local demo rows: f32, bf16 or f16 (as "
          "engram-server --demo-dtype).");
ABSL_FLAG(uint64_t, cache_bytes, 256ull << 20,
          "Server mode: worker-side row cache per table (with shards= or "
          "discover=: per table and replica); 0 = none.");
ABSL_FLAG(absl::Duration, keepalive_time, absl::Minutes(1),
          "Server mode: how often each connection to a server is pinged "
          "while calls are in flight; 0 = never, else at least 1s. Keep it "
          "below the idle timeout of any load balancer or NAT on the way.");
ABSL_FLAG(absl::Duration, keepalive_timeout, absl::Seconds(20),
          "Server mode: a connection whose ping goes unanswered this long is "
          "closed: its lookups fail over, and its cache stops serving rows "
          "it can no longer hear patches of.");
ABSL_FLAG(absl::Duration, row_timeout, absl::Seconds(10),
          "How long a layer waits for its rows before the run fails.");
ABSL_FLAG(bool, compare_local, false,
          "Server mode: also run with local rows and report the overhead.");
ABSL_FLAG(std::string, logits_out, "",
          "Write every step's logits to this file: raw little-endian "
          "float32, [steps][batch][vocab_size].");
ABSL_FLAG(bool, json, false, "Print the report as one JSON object.");

namespace engram::gpu {
namespace {

// One way of getting rows, and the model reading through it.
struct Pipeline {
  client::WorkerClient rows;
  std::unique_ptr<client::Prefetcher> prefetcher;
  std::unique_ptr<Model> model;
};

// The rows `rows` (the --rows flag) names: local, or through the client
// library from one server or a shard map's.
absl::StatusOr<client::WorkerClient> RowClient(const std::string& rows,
                                               const ModelConfig& config) {
  if (rows == "local") {
    ENGRAM_ASSIGN_OR_RETURN(
        const ElementType type,
        ParseElementType(absl::GetFlag(FLAGS_local_rows_dtype)));
    client::WorkerClient local;
    ENGRAM_ASSIGN_OR_RETURN(local.client,
                            LocalRowClient::CreateDemo(config.engram, type));
    return local;
  }
  client::WorkerClientOptions options;
  options.client.tls = ClientTlsFilesFromFlags();
  ENGRAM_ASSIGN_OR_RETURN(options.client.bearer_token, BearerTokenFromFlags());
  options.cache_bytes = absl::GetFlag(FLAGS_cache_bytes);
  options.client.keepalive_time = absl::GetFlag(FLAGS_keepalive_time);
  options.client.keepalive_timeout = absl::GetFlag(FLAGS_keepalive_timeout);
  const std::pair<std::string, std::string> source =
      absl::StrSplit(rows, absl::MaxSplits('=', 1));
  const std::string& where = source.second;
  if (source.first == "server" && !where.empty()) {
    options.client.server_address = where;
  } else if (source.first == "shards" && !where.empty()) {
    ENGRAM_ASSIGN_OR_RETURN(options.shards, client::ReadShardMapFile(where));
  } else if (source.first == "discover" && !where.empty()) {
    ENGRAM_ASSIGN_OR_RETURN(
        options.shards,
        client::DiscoverShardMap(absl::StrSplit(where, ','), options.client));
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("--rows must be local, server=HOST:PORT, shards=FILE "
                     "or discover=HOST:PORT,..., not \"",
                     rows, "\""));
  }
  return client::ConnectWorkerClient(options);
}

absl::StatusOr<Pipeline> MakePipeline(const std::string& rows, Backend* backend,
                                      const ModelConfig& config,
                                      const ModelWeights& weights) {
  Pipeline pipeline;
  ENGRAM_ASSIGN_OR_RETURN(pipeline.rows, RowClient(rows, config));
  client::PrefetcherOptions prefetch;
  for (const int64_t layer : config.engram.layer_ids) {
    prefetch.tables.push_back(DemoTableName(layer));
  }
  prefetch.compression = config.engram.compression;
  // Uncached rows are still right: a cache that cannot start only costs
  // round trips.
  if (absl::Status caching = pipeline.rows.StartCaching(prefetch.tables);
      !caching.ok()) {
    LOG(WARNING) << "the first steps go uncached: " << caching;
  }
  ENGRAM_ASSIGN_OR_RETURN(pipeline.prefetcher,
                          client::Prefetcher::Create(pipeline.rows.client.get(),
                                                     std::move(prefetch)));
  ModelOptions options;
  options.max_batch = absl::GetFlag(FLAGS_batch);
  options.max_positions =
      absl::GetFlag(FLAGS_prompt_tokens) + absl::GetFlag(FLAGS_decode_tokens);
  options.row_wait_timeout = absl::GetFlag(FLAGS_row_timeout);
  ENGRAM_ASSIGN_OR_RETURN(pipeline.model,
                          Model::Create(backend, config, weights,
                                        pipeline.prefetcher.get(), options));
  return pipeline;
}

// A warm-up generation (first touches of memory and connections), then
// the measured one.
absl::StatusOr<GenerationResult> MeasuredRun(Pipeline& pipeline,
                                             const std::vector<int32_t>& prompt,
                                             int batch, bool keep_logits) {
  ENGRAM_RETURN_IF_ERROR(
      Generate(*pipeline.model, prompt, batch, /*decode_tokens=*/2).status());
  return Generate(*pipeline.model, prompt, batch,
                  absl::GetFlag(FLAGS_decode_tokens), keep_logits);
}

std::vector<int32_t> RandomPrompt(int tokens, int vocab, uint64_t seed) {
  std::vector<int32_t> prompt(tokens);
  const uint64_t stream = SplitMix64(seed ^ 0x5eed5eed5eed5eedull);
  for (int i = 0; i < tokens; ++i) {
    prompt[i] = static_cast<int32_t>(SplitMix64(stream + i) % vocab);
  }
  return prompt;
}

double Micros(absl::Duration d) { return absl::ToDoubleMicroseconds(d); }

void WriteRun(const GenerationResult& run, JsonWriter& json) {
  json.Key("prefill_tokens_per_s").Double(run.prefill_tokens_per_s());
  json.Key("decode_tokens_per_s").Double(run.decode_tokens_per_s());
  json.Key("prefill_ms").Double(absl::ToDoubleMilliseconds(run.prefill_time));
  json.Key("decode_ms").Double(absl::ToDoubleMilliseconds(run.decode_time));
  json.Key("wait_us_per_layer").BeginArray();
  for (const absl::Duration wait : run.row_wait) json.Double(Micros(wait));
  json.EndArray();
}

// Server mode's loss of throughput against local rows, in percent.
double OverheadPercent(double server_rate, double local_rate) {
  return local_rate > 0 ? 100.0 * (1.0 - server_rate / local_rate) : 0.0;
}

absl::Status Run() {
  ENGRAM_ASSIGN_OR_RETURN(const BackendKind kind,
                          ParseBackendKind(absl::GetFlag(FLAGS_device)));
  ENGRAM_ASSIGN_OR_RETURN(std::unique_ptr<Backend> backend,
                          CreateBackend(kind));
  ModelConfig config;
  if (const std::string path = absl::GetFlag(FLAGS_model_config);
      !path.empty()) {
    ENGRAM_ASSIGN_OR_RETURN(config, LoadModelConfig(path));
  }
  const int batch = absl::GetFlag(FLAGS_batch);
  const int prompt_tokens = absl::GetFlag(FLAGS_prompt_tokens);
  if (batch <= 0 || prompt_tokens <= 0 ||
      absl::GetFlag(FLAGS_decode_tokens) <= 0) {
    return absl::InvalidArgumentError(
        "--batch, --prompt-tokens and --decode-tokens must be positive");
  }
  const uint64_t seed = absl::GetFlag(FLAGS_seed);
  ModelWeights weights;
  if (const std::string path = absl::GetFlag(FLAGS_weights); !path.empty()) {
    ENGRAM_ASSIGN_OR_RETURN(weights, ModelWeights::Load(path, config));
  } else {
    weights = ModelWeights::Random(config, seed);
  }
  if (const std::string path = absl::GetFlag(FLAGS_save_weights);
      !path.empty()) {
    ENGRAM_RETURN_IF_ERROR(weights.Save(path));
  }
  const std::vector<int32_t> prompt =
      RandomPrompt(batch * prompt_tokens, config.vocab_size, seed);

  const std::string rows = absl::GetFlag(FLAGS_rows);
  ENGRAM_ASSIGN_OR_RETURN(Pipeline pipeline,
                          MakePipeline(rows, backend.get(), config, weights));
  const bool keep_logits = !absl::GetFlag(FLAGS_logits_out).empty();
  ENGRAM_ASSIGN_OR_RETURN(const GenerationResult run,
                          MeasuredRun(pipeline, prompt, batch, keep_logits));
  if (keep_logits) {
    ENGRAM_RETURN_IF_ERROR(
        WriteFloatsToFile(absl::GetFlag(FLAGS_logits_out), run.logits));
  }
  std::optional<GenerationResult> local;
  if (absl::GetFlag(FLAGS_compare_local) && rows != "local") {
    ENGRAM_ASSIGN_OR_RETURN(
        Pipeline baseline,
        MakePipeline("local", backend.get(), config, weights));
    ENGRAM_ASSIGN_OR_RETURN(local, MeasuredRun(baseline, prompt, batch, false));
  }

  JsonWriter json;
  json.BeginObject();
  json.Key("device").String(backend->device_name());
  json.Key("rows").String(rows);
  json.Key("batch").Int(batch);
  json.Key("prompt_tokens").Int(prompt_tokens);
  json.Key("decode_tokens").Int(run.decode_tokens);
  json.Key("engram_layers").BeginArray();
  for (const int64_t layer : config.engram.layer_ids) json.Int(layer);
  json.EndArray();
  json.Key("tokens").BeginArray();
  for (const int32_t token : run.tokens) json.Int(token);
  json.EndArray();
  WriteRun(run, json);
  if (!pipeline.rows.caches.empty()) {
    const client::CacheStats stats = pipeline.rows.cache_stats();
    const uint64_t lookups = stats.hits + stats.misses;
    json.Key("cache").BeginObject();
    json.Key("hits").Uint(stats.hits);
    json.Key("misses").Uint(stats.misses);
    json.Key("hit_rate").Double(lookups > 0 ? double(stats.hits) / lookups : 0);
    json.EndObject();
  }
  if (local.has_value()) {
    json.Key("local").BeginObject();
    WriteRun(*local, json);
    json.Key("same_tokens").Bool(local->tokens == run.tokens);
    json.EndObject();
    json.Key("overhead_percent").BeginObject();
    json.Key("prefill").Double(OverheadPercent(run.prefill_tokens_per_s(),
                                               local->prefill_tokens_per_s()));
    json.Key("decode").Double(OverheadPercent(run.decode_tokens_per_s(),
                                              local->decode_tokens_per_s()));
    json.EndObject();
  }
  json.EndObject();
  if (absl::GetFlag(FLAGS_json)) {
    std::cout << json.str() << std::endl;
    return absl::OkStatus();
  }
  std::cout << absl::StrFormat(
      "device %s, rows %s: prefill %.1f tokens/s, decode %.1f tokens/s\n",
      backend->device_name(), rows, run.prefill_tokens_per_s(),
      run.decode_tokens_per_s());
  for (size_t e = 0; e < run.row_wait.size(); ++e) {
    std::cout << absl::StrFormat("  Engram layer %d waited %.0f us\n",
                                 config.engram.layer_ids[e],
                                 Micros(run.row_wait[e]));
  }
  if (local.has_value()) {
    std::cout << absl::StrFormat(
        "local rows: prefill %.1f tokens/s, decode %.1f tokens/s; server "
        "overhead %.2f%% prefill, %.2f%% decode\n",
        local->prefill_tokens_per_s(), local->decode_tokens_per_s(),
        OverheadPercent(run.prefill_tokens_per_s(),
                        local->prefill_tokens_per_s()),
        OverheadPercent(run.decode_tokens_per_s(),
                        local->decode_tokens_per_s()));
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace engram::gpu

int main(int argc, char** argv) {
  // Row responses are hundreds of KiB; see malloc_tuning.h.
  engram::TuneMallocForLargeBuffers();
  const std::vector<std::string> args = engram::ParseCommandLine(
      argc, argv,
      "usage: engram-worker [--rows local|server=HOST:PORT] "
      "[--prompt-tokens N] [--decode-tokens M] [--seed S] [--json]",
      /*config_flag=*/false);
  if (!args.empty()) {
    std::cerr << "engram-worker: unexpected argument " << args[0] << "\n";
    return 2;
  }
  const absl::Status status = engram::gpu::Run();
  if (!status.ok()) {
    std::cerr << "engram-worker: " << status << "\n";
    return 1;
  }
  return 0;
}

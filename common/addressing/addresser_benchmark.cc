// CPU addressing throughput, in row addresses per second, on a batch shaped
// like the reference default config (batch 8 x 4096 tokens, layers 1 and 15,
// 16 rows per token and layer). Compare with the numpy reference on the same
// batch: tools/numpy_reference_bench.py.
//
//   build-addr/.../engram_addressing_benchmark
//   --benchmark_counters_tabular=true
#include <cstdint>
#include <random>
#include <vector>

#include "benchmark/benchmark.h"
#include "common/addressing/addresser.h"
#include "common/addressing/compression_map.h"
#include "common/addressing/hash_spec.h"

namespace engram {
namespace {

constexpr int kBatch = 8;
constexpr int kTime = 4096;

std::vector<int64_t> RandomTokens(size_t n, int64_t vocab) {
  std::mt19937_64 rng(0);
  std::vector<int64_t> tokens(n);
  for (int64_t& t : tokens) t = static_cast<int64_t>(rng() % vocab);
  return tokens;
}

void SetRate(benchmark::State& state, double rows_per_iteration) {
  state.counters["row_addresses/s"] = benchmark::Counter(
      rows_per_iteration, benchmark::Counter::kIsIterationInvariantRate);
}

// Times ComputeRowIdsAllLayers of `spec` over a [kBatch, kTime] prefill.
void AddressAllLayers(benchmark::State& state, const HashSpec& spec,
                      const std::vector<int64_t>& tokens,
                      const std::vector<int32_t>& lengths) {
  std::vector<int64_t> rows(static_cast<size_t>(spec.num_layers()) * kBatch *
                            kTime * spec.rows_per_token());
  for (auto _ : state) {
    if (!ComputeRowIdsAllLayers(spec, tokens, kBatch, kTime, lengths,
                                absl::MakeSpan(rows))
             .ok()) {
      state.SkipWithError("ComputeRowIdsAllLayers failed");
      break;
    }
    benchmark::DoNotOptimize(rows.data());
    benchmark::ClobberMemory();
  }
  SetRate(state, static_cast<double>(rows.size()));
}

// All layers of the default config for one prefill batch.
void BM_PrefillAllLayers(benchmark::State& state) {
  const HashSpec spec = *HashSpec::FromConfig(HashSpecConfig{});
  const std::vector<int64_t> tokens =
      RandomTokens(kBatch * kTime, spec.tokenizer_vocab());
  AddressAllLayers(state, spec, tokens, {});
}
BENCHMARK(BM_PrefillAllLayers)->Unit(benchmark::kMillisecond);

// The same, with a compression map (raw vocab 129280 * 1.25) and ragged
// left padding.
void BM_PrefillAllLayersCompressedPadded(benchmark::State& state) {
  HashSpecConfig config;
  CompressionMap::Options options;
  options.compressed_vocab = config.tokenizer_vocab;
  config.compression = *CompressionMap::FromLookup(
      RandomTokens(config.tokenizer_vocab * 5 / 4, config.tokenizer_vocab),
      options);
  const HashSpec spec = *HashSpec::FromConfig(config);
  const std::vector<int64_t> tokens =
      RandomTokens(kBatch * kTime, spec.raw_vocab());
  std::vector<int32_t> lengths(kBatch);
  for (int b = 0; b < kBatch; ++b) lengths[b] = kTime - 97 * b;
  AddressAllLayers(state, spec, tokens, lengths);
}
BENCHMARK(BM_PrefillAllLayersCompressedPadded)->Unit(benchmark::kMillisecond);

// One layer, also writing the per-head hash ids.
void BM_PrefillOneLayerWithHashes(benchmark::State& state) {
  const HashSpec spec = *HashSpec::FromConfig(HashSpecConfig{});
  const std::vector<int64_t> tokens =
      RandomTokens(kBatch * kTime, spec.tokenizer_vocab());
  std::vector<int64_t> rows(static_cast<size_t>(kBatch) * kTime *
                            spec.rows_per_token());
  std::vector<int64_t> hashes(rows.size());
  for (auto _ : state) {
    if (!ComputeRowIds(spec, 0, tokens, kBatch, kTime, {}, absl::MakeSpan(rows),
                       absl::MakeSpan(hashes))
             .ok()) {
      state.SkipWithError("ComputeRowIds failed");
      break;
    }
    benchmark::DoNotOptimize(rows.data());
    benchmark::ClobberMemory();
  }
  SetRate(state, static_cast<double>(rows.size()));
}
BENCHMARK(BM_PrefillOneLayerWithHashes)->Unit(benchmark::kMillisecond);

// Decode: one new token for each of state.range(0) sequences, one layer.
void BM_DecodeOneLayer(benchmark::State& state) {
  const HashSpec spec = *HashSpec::FromConfig(HashSpecConfig{});
  const int batch = static_cast<int>(state.range(0));
  const std::vector<int64_t> windows = RandomTokens(
      static_cast<size_t>(batch) * spec.max_ngram(), spec.tokenizer_vocab());
  std::vector<int64_t> rows(static_cast<size_t>(batch) * spec.rows_per_token());
  for (auto _ : state) {
    if (!ComputeDecodeRowIds(spec, 0, windows, batch, {}, absl::MakeSpan(rows))
             .ok()) {
      state.SkipWithError("ComputeDecodeRowIds failed");
      break;
    }
    benchmark::DoNotOptimize(rows.data());
    benchmark::ClobberMemory();
  }
  SetRate(state, static_cast<double>(rows.size()));
}
BENCHMARK(BM_DecodeOneLayer)->Arg(1)->Arg(64)->Arg(1024);

void BM_HashSpecFromConfig(benchmark::State& state) {
  for (auto _ : state) {
    benchmark::DoNotOptimize(HashSpec::FromConfig(HashSpecConfig{}));
  }
}
BENCHMARK(BM_HashSpecFromConfig)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace engram

BENCHMARK_MAIN();

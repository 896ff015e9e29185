// SHA-256 throughput, in bytes per second, on 4 MiB updates (the size of an
// import's row chunks), for the portable code and for SHA-NI. Imports hash
// every row byte on both client and server, so this bounds their speed.
//
//   build-sha/common/addressing/engram_sha256_benchmark
#include <cstdint>
#include <random>
#include <string>

#include "benchmark/benchmark.h"
#include "common/addressing/sha256.h"

namespace engram {
namespace {

using internal::Sha256;

constexpr size_t kUpdateBytes = 4 << 20;

void BM_Sha256(benchmark::State& state, Sha256::Implementation implementation) {
  if (implementation == Sha256::Implementation::kFastest &&
      !Sha256::HardwareAccelerated()) {
    state.SkipWithError("no SHA-NI on this CPU");
    return;
  }
  std::mt19937_64 rng(0);
  std::string data(kUpdateBytes, '\0');
  for (char& c : data) c = static_cast<char>(rng());
  Sha256 h(implementation);
  for (auto _ : state) {
    h.Update(data);
    benchmark::ClobberMemory();
  }
  benchmark::DoNotOptimize(h.Finish());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(kUpdateBytes));
}
BENCHMARK_CAPTURE(BM_Sha256, scalar, Sha256::Implementation::kScalar)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Sha256, sha_ni, Sha256::Implementation::kFastest)
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace engram

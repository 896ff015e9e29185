// LoadRunner: drives backends from `concurrency` threads for a fixed time
// and reports throughput and batch latency percentiles.
//
//   LoadConfig config{.concurrency = 4, .batch = 4096, .seconds = 10};
//   ENGRAM_ASSIGN_OR_RETURN(LoadReport report,
//                           RunLoad(config, shape, factory));
#ifndef ENGRAM_BENCH_LOAD_RUNNER_H_
#define ENGRAM_BENCH_LOAD_RUNNER_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "bench/bench_backend.h"

namespace engram::bench {

struct LoadConfig {
  // Worker threads, each with one batch in flight.
  int concurrency = 4;
  // Rows per batch.
  int batch = 4096;
  // Measured duration, after `warmup_seconds`.
  double seconds = 10;
  double warmup_seconds = 1;
  // Zipf exponent of the row ids; 0 for uniform.
  double zipf_s = 0;
  uint64_t seed = 1;
  // With both set, `on_interval` gets a report of each `report_every`
  // seconds of the measured time as it ends (soak runs), from a thread of
  // its own.
  double report_every_seconds = 0;
  std::function<void(const struct LoadReport&)> on_interval;
};

struct LoadReport {
  uint64_t batches = 0;
  uint64_t rows = 0;
  uint64_t errors = 0;
  // First error seen, for the operator.
  std::string first_error;
  // Seconds measured; for an interval report, also when it ended.
  double elapsed_seconds = 0;
  double ended_at_seconds = 0;
  double rows_per_s = 0;
  double gb_per_s = 0;
  double p50_us = 0;
  double p99_us = 0;
  double p999_us = 0;
};

// The value at `fraction` (0.99: p99) of `sorted`, increasing; 0 if empty.
double Percentile(const std::vector<double>& sorted, double fraction);

// InvalidArgument for a bad config; the factory's error if a backend
// cannot be made. Fetch errors are counted, not returned.
absl::StatusOr<LoadReport> RunLoad(const LoadConfig& config,
                                   const TableShape& shape,
                                   const BackendFactory& factory);

}  // namespace engram::bench

#endif  // ENGRAM_BENCH_LOAD_RUNNER_H_

#include "bench/load_runner.h"

#include <algorithm>
#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/zipf.h"
#include "common/status_macros.h"

namespace engram::bench {
namespace {

struct WorkerResult {
  std::vector<double> latencies_us;
  uint64_t errors = 0;
  std::string first_error;

  void Add(const absl::Status& status, double latency_us) {
    if (status.ok()) {
      latencies_us.push_back(latency_us);
    } else if (errors++ == 0) {
      first_error = status.ToString();
    }
  }
};

// The report of `results` over `seconds`.
LoadReport Summarize(std::vector<WorkerResult>& results, double seconds,
                     int batch, uint32_t row_bytes) {
  LoadReport report;
  std::vector<double> latencies;
  for (WorkerResult& result : results) {
    latencies.insert(latencies.end(), result.latencies_us.begin(),
                     result.latencies_us.end());
    report.errors += result.errors;
    if (report.first_error.empty()) report.first_error = result.first_error;
  }
  std::sort(latencies.begin(), latencies.end());
  report.batches = latencies.size();
  report.rows = report.batches * batch;
  report.elapsed_seconds = seconds;
  report.rows_per_s = report.rows / seconds;
  report.gb_per_s = report.rows_per_s * row_bytes / 1e9;
  report.p50_us = Percentile(latencies, 0.50);
  report.p99_us = Percentile(latencies, 0.99);
  report.p999_us = Percentile(latencies, 0.999);
  return report;
}

// What the workers measured since the last interval report.
class IntervalCollector {
 public:
  void Add(const absl::Status& status, double latency_us) {
    absl::MutexLock lock(&mu_);
    current_.Add(status, latency_us);
  }

  // Reports each interval of `report_every` seconds from `from` that ends
  // before `stop`, as it ends; Finish() reports the last one.
  void Run(const LoadConfig& config, uint32_t row_bytes, absl::Time from,
           absl::Time stop) {
    const absl::Duration every = absl::Seconds(config.report_every_seconds);
    for (last_begin_ = from; last_begin_ + every < stop; last_begin_ += every) {
      absl::SleepFor(last_begin_ + every - absl::Now());
      Report(config, row_bytes, from, last_begin_, last_begin_ + every);
    }
  }

  // The interval ending at `stop`; call it once the workers are done, so
  // that it holds what they measured up to the end.
  void Finish(const LoadConfig& config, uint32_t row_bytes, absl::Time from,
              absl::Time stop) {
    Report(config, row_bytes, from, last_begin_, stop);
  }

 private:
  // Reports what was measured since the last report as [begin, end).
  void Report(const LoadConfig& config, uint32_t row_bytes, absl::Time from,
              absl::Time begin, absl::Time end) {
    std::vector<WorkerResult> taken(1);
    {
      absl::MutexLock lock(&mu_);
      std::swap(taken[0], current_);
    }
    LoadReport report = Summarize(taken, absl::ToDoubleSeconds(end - begin),
                                  config.batch, row_bytes);
    report.ended_at_seconds = absl::ToDoubleSeconds(end - from);
    config.on_interval(report);
  }

  absl::Mutex mu_;
  WorkerResult current_ ABSL_GUARDED_BY(mu_);
  // Where the interval not reported yet begins.
  absl::Time last_begin_;
};

absl::Status ValidateConfig(const LoadConfig& config, const TableShape& shape) {
  if (config.concurrency < 1 || config.batch < 1 || config.seconds <= 0 ||
      config.warmup_seconds < 0 || config.zipf_s < 0) {
    return absl::InvalidArgumentError(
        "concurrency, batch and seconds must be > 0; zipf and warmup >= 0");
  }
  if (config.report_every_seconds < 0) {
    return absl::InvalidArgumentError("the report interval must be >= 0");
  }
  if (shape.rows == 0 || shape.row_bytes == 0) {
    return absl::InvalidArgumentError("the table has no rows");
  }
  return absl::OkStatus();
}

}  // namespace

double Percentile(const std::vector<double>& sorted, double fraction) {
  if (sorted.empty()) return 0;
  const size_t index = std::min(sorted.size() - 1,
                                static_cast<size_t>(fraction * sorted.size()));
  return sorted[index];
}

absl::StatusOr<LoadReport> RunLoad(const LoadConfig& config,
                                   const TableShape& shape,
                                   const BackendFactory& factory) {
  ENGRAM_RETURN_IF_ERROR(ValidateConfig(config, shape));
  std::vector<std::unique_ptr<BenchBackend>> backends;
  for (int i = 0; i < config.concurrency; ++i) {
    ENGRAM_ASSIGN_OR_RETURN(std::unique_ptr<BenchBackend> backend, factory());
    backends.push_back(std::move(backend));
  }
  const absl::Time start = absl::Now();
  const absl::Time measure_from = start + absl::Seconds(config.warmup_seconds);
  const absl::Time stop = measure_from + absl::Seconds(config.seconds);
  std::vector<WorkerResult> results(config.concurrency);
  const bool intervals =
      config.report_every_seconds > 0 && config.on_interval != nullptr;
  IntervalCollector collector;
  std::vector<std::thread> workers;
  for (int w = 0; w < config.concurrency; ++w) {
    workers.emplace_back([&, w] {
      RowIdSampler sampler(shape.rows, config.zipf_s, config.seed + w);
      std::vector<uint64_t> ids(config.batch);
      std::vector<char> out(static_cast<size_t>(config.batch) *
                            shape.row_bytes);
      WorkerResult& result = results[w];
      for (absl::Time now = absl::Now(); now < stop;) {
        for (uint64_t& id : ids) id = sampler.Next();
        const absl::Status status = backends[w]->Fetch(ids, out.data());
        const absl::Time done = absl::Now();
        if (now >= measure_from && done <= stop) {
          const double latency_us = absl::ToDoubleMicroseconds(done - now);
          result.Add(status, latency_us);
          if (intervals) collector.Add(status, latency_us);
        }
        now = done;
      }
    });
  }
  if (intervals) collector.Run(config, shape.row_bytes, measure_from, stop);
  for (std::thread& worker : workers) worker.join();
  if (intervals) collector.Finish(config, shape.row_bytes, measure_from, stop);
  return Summarize(results, config.seconds, config.batch, shape.row_bytes);
}

}  // namespace engram::bench

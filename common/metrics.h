// MetricsRegistry: counters and histograms with labels, and gauges read at
// scrape time, rendered in the Prometheus text exposition format (0.0.4).
//
//   MetricsRegistry registry;
//   Counter* served = registry.GetCounter(
//       "engram_rows_served_total", "Rows returned by lookups.",
//       {{"table", "layer_1"}});
//   served->Increment(4096);
//   registry.AddGaugeCollector([](GaugeWriter& out) {
//     out.Gauge("engram_tables", "Tables served.", {}, 2);
//   });
//   std::string text = registry.RenderText();  // for GET /metrics
//
// Get* returns the same series for the same name and labels; its pointer
// stays valid as long as the registry, so hot paths look a series up once.
// A name keeps the kind, help and (for histograms) buckets of its first
// use. Updates are lock-free; Get* and RenderText take a mutex.
// Thread-safe.
#ifndef ENGRAM_COMMON_METRICS_H_
#define ENGRAM_COMMON_METRICS_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace engram {

// Label name/value pairs of one series, in the order they are rendered.
using MetricLabels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void Increment(uint64_t by = 1) {
    value_.fetch_add(by, std::memory_order_relaxed);
  }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

class Histogram {
 public:
  // `bounds`: the buckets' upper bounds, increasing (+Inf is implied).
  explicit Histogram(std::vector<double> bounds);
  void Observe(double value);

  const std::vector<double>& bounds() const { return bounds_; }
  // Observations <= bounds()[i], not cumulative; the last is +Inf's.
  uint64_t bucket_count(size_t i) const {
    return counts_[i].load(std::memory_order_relaxed);
  }
  uint64_t count() const;
  double sum() const;

 private:
  const std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;
  // The sum in nanounits, so it adds atomically without a CAS loop.
  std::atomic<int64_t> sum_nanos_{0};
};

// Latency buckets for RPCs, in seconds: 50 us .. 10 s.
std::vector<double> LatencyBucketsSeconds();

// Where gauge collectors write the values they read at scrape time.
class GaugeWriter {
 public:
  virtual ~GaugeWriter() = default;
  virtual void Gauge(absl::string_view name, absl::string_view help,
                     const MetricLabels& labels, double value) = 0;
  // A counter whose value another component keeps (e.g. cache hits).
  virtual void CounterValue(absl::string_view name, absl::string_view help,
                            const MetricLabels& labels, uint64_t value) = 0;
};

class MetricsRegistry {
 public:
  MetricsRegistry() = default;
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  Counter* GetCounter(absl::string_view name, absl::string_view help,
                      const MetricLabels& labels) ABSL_LOCKS_EXCLUDED(mu_);
  Histogram* GetHistogram(absl::string_view name, absl::string_view help,
                          const MetricLabels& labels,
                          const std::vector<double>& bounds)
      ABSL_LOCKS_EXCLUDED(mu_);
  // `collect` runs at every RenderText, on the scraping thread.
  void AddGaugeCollector(std::function<void(GaugeWriter&)> collect)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Every series, families sorted by name, each with its HELP and TYPE.
  std::string RenderText() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Family {
    std::string help;
    bool is_histogram = false;
    // By rendered label set ({a="x",b="y"}).
    std::map<std::string, std::unique_ptr<Counter>> counters;
    std::map<std::string, std::unique_ptr<Histogram>> histograms;
  };

  Family& FamilyFor(absl::string_view name, absl::string_view help,
                    bool is_histogram) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::map<std::string, Family, std::less<>> families_ ABSL_GUARDED_BY(mu_);
  std::vector<std::function<void(GaugeWriter&)>> collectors_
      ABSL_GUARDED_BY(mu_);
};

// The text of a label set, {name="value",...} with values escaped; empty
// for no labels.
std::string RenderLabels(const MetricLabels& labels);

}  // namespace engram

#endif  // ENGRAM_COMMON_METRICS_H_

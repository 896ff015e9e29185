#include "common/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace engram {
namespace {

std::string EscapeLabelValue(absl::string_view value) {
  std::string out;
  for (const char c : value) {
    if (c == '\\' || c == '"') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out.append("\\n");
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// A sample value: integers exactly, others in %g with enough digits.
std::string FormatValue(double value) {
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (std::isnan(value)) return "NaN";
  if (value == std::floor(value) && std::fabs(value) < 1e15) {
    return absl::StrFormat("%.0f", value);
  }
  return absl::StrFormat("%.9g", value);
}

// The label set `labels` plus one more label, as text.
std::string WithLabel(const std::string& rendered, absl::string_view name,
                      absl::string_view value) {
  const std::string extra =
      absl::StrCat(name, "=\"", EscapeLabelValue(value), "\"");
  if (rendered.empty()) return absl::StrCat("{", extra, "}");
  return absl::StrCat(rendered.substr(0, rendered.size() - 1), ",", extra, "}");
}

void AppendHeader(std::string& out, absl::string_view name,
                  absl::string_view help, absl::string_view type) {
  absl::StrAppend(&out, "# HELP ", name, " ", help, "\n# TYPE ", name, " ",
                  type, "\n");
}

// Collects gauge samples by family so each family's header is written once.
class CollectedGauges final : public GaugeWriter {
 public:
  struct Family {
    std::string help;
    std::string type;
    std::vector<std::pair<std::string, double>> samples;
  };

  void Gauge(absl::string_view name, absl::string_view help,
             const MetricLabels& labels, double value) override {
    Add(name, help, "gauge", labels, value);
  }
  void CounterValue(absl::string_view name, absl::string_view help,
                    const MetricLabels& labels, uint64_t value) override {
    Add(name, help, "counter", labels, static_cast<double>(value));
  }

  std::map<std::string, Family>& families() { return families_; }

 private:
  void Add(absl::string_view name, absl::string_view help,
           absl::string_view type, const MetricLabels& labels, double value) {
    Family& family = families_[std::string(name)];
    if (family.type.empty()) {
      family.help = std::string(help);
      family.type = std::string(type);
    }
    family.samples.emplace_back(RenderLabels(labels), value);
  }

  std::map<std::string, Family> families_;
};

}  // namespace

std::string RenderLabels(const MetricLabels& labels) {
  if (labels.empty()) return "";
  std::string out = "{";
  for (size_t i = 0; i < labels.size(); ++i) {
    absl::StrAppend(&out, i == 0 ? "" : ",", labels[i].first, "=\"",
                    EscapeLabelValue(labels[i].second), "\"");
  }
  out.push_back('}');
  return out;
}

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      counts_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i] = 0;
}

void Histogram::Observe(double value) {
  const size_t bucket =
      std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
  counts_[bucket].fetch_add(1, std::memory_order_relaxed);
  sum_nanos_.fetch_add(static_cast<int64_t>(std::llround(value * 1e9)),
                       std::memory_order_relaxed);
}

uint64_t Histogram::count() const {
  uint64_t total = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) total += bucket_count(i);
  return total;
}

double Histogram::sum() const {
  return sum_nanos_.load(std::memory_order_relaxed) / 1e9;
}

std::vector<double> LatencyBucketsSeconds() {
  return {50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3,
          50e-3, 0.1,    0.25,   0.5,    1,    2.5,    5,    10};
}

MetricsRegistry::Family& MetricsRegistry::FamilyFor(absl::string_view name,
                                                    absl::string_view help,
                                                    bool is_histogram) {
  auto it = families_.find(name);
  if (it == families_.end()) {
    it = families_.emplace(std::string(name), Family{}).first;
    it->second.help = std::string(help);
    it->second.is_histogram = is_histogram;
  }
  return it->second;
}

Counter* MetricsRegistry::GetCounter(absl::string_view name,
                                     absl::string_view help,
                                     const MetricLabels& labels) {
  absl::MutexLock lock(&mu_);
  std::unique_ptr<Counter>& counter =
      FamilyFor(name, help, false).counters[RenderLabels(labels)];
  if (counter == nullptr) counter = std::make_unique<Counter>();
  return counter.get();
}

Histogram* MetricsRegistry::GetHistogram(absl::string_view name,
                                         absl::string_view help,
                                         const MetricLabels& labels,
                                         const std::vector<double>& bounds) {
  absl::MutexLock lock(&mu_);
  std::unique_ptr<Histogram>& histogram =
      FamilyFor(name, help, true).histograms[RenderLabels(labels)];
  if (histogram == nullptr) histogram = std::make_unique<Histogram>(bounds);
  return histogram.get();
}

void MetricsRegistry::AddGaugeCollector(
    std::function<void(GaugeWriter&)> collect) {
  absl::MutexLock lock(&mu_);
  collectors_.push_back(std::move(collect));
}

std::string MetricsRegistry::RenderText() const {
  std::string out;
  CollectedGauges gauges;
  absl::MutexLock lock(&mu_);
  for (const auto& collect : collectors_) collect(gauges);
  for (const auto& [name, family] : families_) {
    AppendHeader(out, name, family.help,
                 family.is_histogram ? "histogram" : "counter");
    for (const auto& [labels, counter] : family.counters) {
      absl::StrAppend(&out, name, labels, " ", counter->value(), "\n");
    }
    for (const auto& [labels, histogram] : family.histograms) {
      uint64_t cumulative = 0;
      const std::vector<double>& bounds = histogram->bounds();
      for (size_t i = 0; i <= bounds.size(); ++i) {
        cumulative += histogram->bucket_count(i);
        const std::string le =
            i < bounds.size() ? FormatValue(bounds[i]) : "+Inf";
        absl::StrAppend(&out, name, "_bucket", WithLabel(labels, "le", le), " ",
                        cumulative, "\n");
      }
      absl::StrAppend(&out, name, "_sum", labels, " ",
                      FormatValue(histogram->sum()), "\n", name, "_count",
                      labels, " ", cumulative, "\n");
    }
  }
  for (const auto& [name, family] : gauges.families()) {
    AppendHeader(out, name, family.help, family.type);
    for (const auto& [labels, value] : family.samples) {
      absl::StrAppend(&out, name, labels, " ", FormatValue(value), "\n");
    }
  }
  return out;
}

}  // namespace engram

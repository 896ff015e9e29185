#include "bench/load_runner.h"

#include <memory>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "bench/engram_backends.h"
#include "gtest/gtest.h"

namespace engram::bench {
namespace {

// Fails every third fetch of each worker, so errors are counted.
class FlakyBackend : public BenchBackend {
 public:
  absl::Status Fetch(absl::Span<const uint64_t>, char*) override {
    return ++fetches_ % 3 == 0 ? absl::UnavailableError("flaky")
                               : absl::OkStatus();
  }

 private:
  int fetches_ = 0;
};

TEST(LoadRunnerTest, IntervalReportsAddUpToTheWholeRun) {
  LoadConfig config;
  config.concurrency = 2;
  config.batch = 64;
  config.seconds = 1.0;
  config.warmup_seconds = 0.1;
  config.report_every_seconds = 0.25;
  absl::Mutex mu;
  std::vector<LoadReport> intervals;
  config.on_interval = [&](const LoadReport& report) {
    absl::MutexLock lock(&mu);
    intervals.push_back(report);
  };
  absl::StatusOr<BackendFactory> factory =
      InProcessBackendFactory({/*rows=*/1 << 12, /*row_bytes=*/128});
  ASSERT_TRUE(factory.ok()) << factory.status();
  absl::StatusOr<LoadReport> whole = RunLoad(config, {1 << 12, 128}, *factory);
  ASSERT_TRUE(whole.ok()) << whole.status();
  ASSERT_EQ(intervals.size(), 4u);
  uint64_t rows = 0;
  for (size_t i = 0; i < intervals.size(); ++i) {
    EXPECT_NEAR(intervals[i].ended_at_seconds, 0.25 * (i + 1), 1e-6);
    EXPECT_GT(intervals[i].rows, 0u);
    rows += intervals[i].rows;
  }
  EXPECT_EQ(rows, whole->rows);
  EXPECT_GT(whole->p99_us, 0);
}

TEST(LoadRunnerTest, ErrorsAreCountedPerIntervalAndInTotal) {
  LoadConfig config;
  config.concurrency = 1;
  config.batch = 8;
  config.seconds = 0.4;
  config.warmup_seconds = 0;
  config.report_every_seconds = 0.2;
  uint64_t interval_errors = 0;
  config.on_interval = [&](const LoadReport& report) {
    interval_errors += report.errors;
  };
  absl::StatusOr<LoadReport> whole = RunLoad(config, {16, 8}, [] {
    return absl::StatusOr<std::unique_ptr<BenchBackend>>(
        std::make_unique<FlakyBackend>());
  });
  ASSERT_TRUE(whole.ok()) << whole.status();
  EXPECT_GT(whole->errors, 0u);
  EXPECT_EQ(interval_errors, whole->errors);
  EXPECT_NE(whole->first_error.find("flaky"), std::string::npos);
}

TEST(LoadRunnerTest, ANegativeIntervalIsRefused) {
  LoadConfig config;
  config.report_every_seconds = -1;
  EXPECT_EQ(RunLoad(config, {16, 8}, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace engram::bench

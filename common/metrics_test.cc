#include "common/metrics.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/metrics_http_server.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_processes.h"

namespace engram {
namespace {

using ::engram::testing::HttpExchange;
using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST(MetricsRegistryTest, RendersCountersWithHelpTypeAndLabels) {
  MetricsRegistry registry;
  Counter* a = registry.GetCounter("engram_rows_served_total", "Rows.",
                                   {{"table", "layer_1"}});
  a->Increment(5);
  registry
      .GetCounter("engram_rows_served_total", "Rows.", {{"table", "layer_1"}})
      ->Increment(2);  // the same series
  registry
      .GetCounter("engram_rows_served_total", "Rows.", {{"table", "we\"ird\\"}})
      ->Increment();
  const std::string text = registry.RenderText();
  EXPECT_THAT(text, HasSubstr("# HELP engram_rows_served_total Rows.\n"
                              "# TYPE engram_rows_served_total counter\n"));
  EXPECT_THAT(text,
              HasSubstr("engram_rows_served_total{table=\"layer_1\"} 7\n"));
  EXPECT_THAT(
      text, HasSubstr("engram_rows_served_total{table=\"we\\\"ird\\\\\"} 1\n"));
}

TEST(MetricsRegistryTest, HistogramBucketsAreCumulativeWithSumAndCount) {
  MetricsRegistry registry;
  Histogram* h = registry.GetHistogram("engram_rpc_duration_seconds", "Time.",
                                       {{"method", "Lookup"}}, {0.1, 1});
  h->Observe(0.05);
  h->Observe(0.1);  // on a bound: counts in that bucket (le)
  h->Observe(0.5);
  h->Observe(7);
  const std::string text = registry.RenderText();
  EXPECT_THAT(text, HasSubstr("# TYPE engram_rpc_duration_seconds histogram"));
  EXPECT_THAT(text, HasSubstr("engram_rpc_duration_seconds_bucket{method="
                              "\"Lookup\",le=\"0.1\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("engram_rpc_duration_seconds_bucket{method="
                              "\"Lookup\",le=\"1\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("engram_rpc_duration_seconds_bucket{method="
                              "\"Lookup\",le=\"+Inf\"} 4\n"));
  EXPECT_THAT(text, HasSubstr("engram_rpc_duration_seconds_sum{method="
                              "\"Lookup\"} 7.65\n"));
  EXPECT_THAT(text, HasSubstr("engram_rpc_duration_seconds_count{method="
                              "\"Lookup\"} 4\n"));
}

TEST(MetricsRegistryTest, GaugeCollectorsRunAtEveryRender) {
  MetricsRegistry registry;
  int tables = 1;
  registry.AddGaugeCollector([&](GaugeWriter& out) {
    out.Gauge("engram_tables", "Tables served.", {}, tables);
    out.CounterValue("engram_cache_hits_total", "Hits.", {{"table", "t"}}, 9);
  });
  EXPECT_THAT(registry.RenderText(), HasSubstr("engram_tables 1\n"));
  tables = 3;
  const std::string text = registry.RenderText();
  EXPECT_THAT(text, HasSubstr("# TYPE engram_tables gauge\nengram_tables 3\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE engram_cache_hits_total counter\n"
                              "engram_cache_hits_total{table=\"t\"} 9\n"));
}

TEST(MetricsHttpServerTest, ServesMetricsAndRefusesEverythingElse) {
  MetricsRegistry registry;
  registry.GetCounter("engram_up_total", "Up.", {})->Increment();
  auto http = MetricsHttpServer::Start("127.0.0.1:0", &registry);
  ASSERT_TRUE(http.ok()) << http.status();
  const int port = (*http)->port();
  ASSERT_GT(port, 0);

  const std::string ok =
      HttpExchange(port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_THAT(ok, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(ok, HasSubstr("Content-Type: text/plain; version=0.0.4"));
  EXPECT_THAT(ok, HasSubstr("\r\n\r\n# HELP engram_up_total Up."));
  EXPECT_THAT(HttpExchange(port, "GET /other HTTP/1.1\r\n\r\n"),
              StartsWith("HTTP/1.1 404"));
  EXPECT_THAT(HttpExchange(port, "POST /metrics HTTP/1.1\r\n\r\n"),
              StartsWith("HTTP/1.1 405"));
}

TEST(MetricsHttpServerTest, AStalledClientDoesNotBlockScrapesForLong) {
  MetricsRegistry registry;
  auto http = MetricsHttpServer::Start("127.0.0.1:0", &registry);
  ASSERT_TRUE(http.ok()) << http.status();
  const int port = (*http)->port();
  // Connects and sends half a request, then nothing.
  const int stalled = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(
      connect(stalled, reinterpret_cast<sockaddr*>(&address), sizeof(address)),
      0);
  send(stalled, "GET /met", 8, 0);
  const absl::Time start = absl::Now();
  EXPECT_THAT(HttpExchange(port, "GET /metrics HTTP/1.1\r\n\r\n"),
              StartsWith("HTTP/1.1 200"));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  close(stalled);
}

TEST(MetricsHttpServerTest, BadAddressesAreRefused) {
  MetricsRegistry registry;
  EXPECT_EQ(MetricsHttpServer::Start("127.0.0.1", &registry).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto first = MetricsHttpServer::Start("127.0.0.1:0", &registry);
  ASSERT_TRUE(first.ok());
  const std::string taken = "127.0.0.1:" + std::to_string((*first)->port());
  EXPECT_EQ(MetricsHttpServer::Start(taken, &registry).status().code(),
            absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace engram

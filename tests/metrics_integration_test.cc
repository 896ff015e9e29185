// engram-server's Prometheus endpoint, scraped over HTTP while the server
// answers real lookups: per-RPC counts by status, latency histograms, rows
// served and the tables' gauges.
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "client/engram_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/demo_server_fixture.h"

namespace engram::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// The value of unlabelled gauge `name` in a scrape, or -1 if absent.
double GaugeValue(const std::string& scrape, const std::string& name) {
  const std::string prefix = absl::StrCat("\n", name, " ");
  const size_t start = scrape.find(prefix);
  if (start == std::string::npos) return -1;
  const size_t begin = start + prefix.size();
  double value = -1;
  return absl::SimpleAtod(
             scrape.substr(begin, scrape.find('\n', begin) - begin), &value)
             ? value
             : -1;
}

class MetricsEndpointTest : public DemoServerTest {
 protected:
  std::vector<std::string> ExtraServerFlags() const override {
    return {"--metrics-listen=127.0.0.1:0",
            "--metrics-port-file=" + PortFile()};
  }
  std::string PortFile() const { return dir_.path() + "/metrics.port"; }

  std::string Scrape() const {
    int port = 0;
    std::ifstream(PortFile()) >> port;
    EXPECT_GT(port, 0);
    return HttpExchange(port, "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n");
  }

  // Until gauge `name` reads `value` in a scrape; false if it does not in
  // 10 s.
  bool GaugeBecomes(const std::string& name, double value) const {
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (GaugeValue(Scrape(), name) != value) {
      if (absl::Now() > deadline) return false;
      absl::SleepFor(absl::Milliseconds(20));
    }
    return true;
  }
};

TEST_F(MetricsEndpointTest, CountsCallsByStatusAndRowsServedPerTable) {
  auto client = Connect();
  ASSERT_TRUE(client.ok()) << client.status();
  std::vector<char> out(3 * kSmallDemoValues * 4);
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE((*client)
                    ->Lookup("layer_3", std::vector<uint64_t>{0, 1, 2},
                             absl::MakeSpan(out))
                    .ok());
  }
  EXPECT_EQ((*client)
                ->Lookup("nope", std::vector<uint64_t>{0}, absl::MakeSpan(out))
                .status()
                .code(),
            absl::StatusCode::kNotFound);

  const std::string text = Scrape();
  EXPECT_THAT(text, StartsWith("HTTP/1.1 200 OK"));
  EXPECT_THAT(text, HasSubstr("engram_rpc_requests_total{method=\"Lookup\","
                              "code=\"OK\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("engram_rpc_requests_total{method=\"Lookup\","
                              "code=\"NOT_FOUND\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("engram_rpc_duration_seconds_count{method="
                              "\"Lookup\"} 3\n"));
  EXPECT_THAT(text,
              HasSubstr("engram_rows_served_total{table=\"layer_3\"} 6\n"));
  EXPECT_THAT(text, HasSubstr(absl::StrCat(
                        "engram_row_bytes_served_total{table=\"layer_3\"} ",
                        6 * kSmallDemoValues * 4, "\n")));
  EXPECT_THAT(text, HasSubstr(absl::StrCat(
                        "engram_table_rows{table=\"layer_3\",tier=\"ram\"} ",
                        LayerRows(3), "\n")));
  EXPECT_THAT(text, HasSubstr("engram_tables 2\n"));
  EXPECT_THAT(text, HasSubstr("engram_table_version{table=\"layer_7\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("engram_build_info{version=\""));
  // The server goes on serving after being scraped.
  EXPECT_TRUE(
      (*client)
          ->Lookup("layer_7", std::vector<uint64_t>{1}, absl::MakeSpan(out))
          .ok());
}

TEST_F(MetricsEndpointTest, ADroppedDemoTableGivesBackItsRam) {
  const double before = GaugeValue(Scrape(), "engram_ram_charged_bytes");
  ASSERT_GT(before, 0);
  const CommandResult drop =
      RunEngramctl(server_->address(), {"drop", "layer_3"});
  ASSERT_EQ(drop.exit_code, 0) << drop.err;
  EXPECT_EQ(GaugeValue(Scrape(), "engram_ram_charged_bytes"),
            before - double(LayerRows(3)) * kSmallDemoValues * 4);
}

TEST_F(MetricsEndpointTest, CallsInFlightAreCountedUntilTheyEnd) {
  auto client = Connect();
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_EQ(GaugeValue(Scrape(), "engram_rpcs_in_flight"), 0);
  {
    auto watch = (*client)->WatchTable(
        "layer_3", [](absl::StatusOr<client::VersionChange>) {});
    ASSERT_TRUE(watch.ok()) << watch.status();
    EXPECT_TRUE(GaugeBecomes("engram_rpcs_in_flight", 1));
  }
  EXPECT_TRUE(GaugeBecomes("engram_rpcs_in_flight", 0));
}

TEST_F(MetricsEndpointTest, AListenAddressInUseStopsTheServerWithAMessage) {
  int port = 0;
  std::ifstream(PortFile()) >> port;
  ASSERT_GT(port, 0);
  TempDir other;
  const CommandResult run = RunCommand(
      {ServerPath(), "--listen=127.0.0.1:0", "--data-dir=" + other.path(),
       absl::StrCat("--metrics-listen=127.0.0.1:", port)});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.err, HasSubstr("cannot serve metrics on 127.0.0.1:"));
}

}  // namespace
}  // namespace engram::testing

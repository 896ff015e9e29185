// engram-server as a process: start-up, persistence across restarts,
// configuration, bad flags and graceful shutdown.
#include <signal.h>

#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "cli/admin_channel.h"
#include "client/engram_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/demo_server_fixture.h"

namespace engram::testing {
namespace {

using ::testing::HasSubstr;

std::unique_ptr<client::EngramClient> Connect(const ServerProcess& server) {
  client::ClientOptions options;
  options.server_address = server.address();
  return *client::EngramClient::Create(options);
}

TEST(ServerLifecycleTest, SigtermExitsZeroAndRestartServesTheSameRows) {
  TempDir dir;
  const std::string data_dir = dir.path() + "/data";
  const std::vector<uint64_t> ids = {0, 42, 99};
  std::string first_rows(ids.size() * kSmallDemoValues * 4, '\0');
  {
    absl::StatusOr<std::unique_ptr<ServerProcess>> server =
        ServerProcess::Start(data_dir, SmallDemoFlags());
    ASSERT_TRUE(server.ok()) << server.status();
    ASSERT_TRUE(
        Connect(**server)
            ->Lookup("layer_3", ids,
                     absl::MakeSpan(first_rows.data(), first_rows.size()))
            .ok());
    // Tables are saved in the background after serving starts.
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (absl::Now() < deadline &&
           (*server)->Log().find("saved table layer_7") == std::string::npos) {
      absl::SleepFor(absl::Milliseconds(20));
    }
    EXPECT_EQ((*server)->Terminate(), 0) << (*server)->Log();
  }
  EXPECT_EQ(first_rows, ExpectedDemoRows(3, ids));
  // The second start finds the tables on disk instead of creating them.
  absl::StatusOr<std::unique_ptr<ServerProcess>> server =
      ServerProcess::Start(data_dir, SmallDemoFlags());
  ASSERT_TRUE(server.ok()) << server.status();
  std::string second_rows(first_rows.size(), '\0');
  ASSERT_TRUE(
      Connect(**server)
          ->Lookup("layer_3", ids,
                   absl::MakeSpan(second_rows.data(), second_rows.size()))
          .ok());
  EXPECT_EQ(second_rows, first_rows);
  EXPECT_THAT((*server)->Log(),
              ::testing::Not(HasSubstr("building demo table")));
  // Without --demo the tables on disk are still served.
  EXPECT_EQ((*server)->Terminate(), 0);
  server = ServerProcess::Start(data_dir, {});
  ASSERT_TRUE(server.ok()) << server.status();
  absl::StatusOr<std::vector<client::TableDescription>> tables =
      Connect(**server)->ListTables();
  ASSERT_TRUE(tables.ok());
  EXPECT_EQ(tables->size(), 2);
}

TEST(ServerLifecycleTest, ANewClientReachesARestartedServerAtOnce) {
  TempDir dir;
  absl::StatusOr<std::unique_ptr<ServerProcess>> server =
      ServerProcess::Start(dir.path() + "/data", {});
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string address = (*server)->address();
  // Idle clients still hold their connections to the killed server.
  const std::unique_ptr<client::EngramClient> old_client = Connect(**server);
  ASSERT_TRUE(old_client->ListTables().ok());
  const cli::AdminChannel old_admin({.address = address});
  ASSERT_TRUE(old_admin
                  .Call(old_admin.data(), &v1::EngramService::Stub::ListTables,
                        v1::ListTablesRequest())
                  .ok());
  server->reset();
  server = ServerProcess::Start(dir.path() + "/data", {"--listen", address});
  ASSERT_TRUE(server.ok()) << server.status();
  // Clients made now have connections of their own: their first calls are
  // served.
  const cli::AdminChannel admin({.address = address});
  const absl::Status first_admin_call =
      admin
          .Call(admin.data(), &v1::EngramService::Stub::ListTables,
                v1::ListTablesRequest())
          .status();
  EXPECT_TRUE(first_admin_call.ok()) << first_admin_call;
  const absl::Status first_call = Connect(**server)->ListTables().status();
  EXPECT_TRUE(first_call.ok()) << first_call;
}

TEST(ServerLifecycleTest, SigtermDrainsInFlightLookups) {
  TempDir dir;
  absl::StatusOr<std::unique_ptr<ServerProcess>> server =
      ServerProcess::Start(dir.path() + "/data", SmallDemoFlags());
  ASSERT_TRUE(server.ok()) << server.status();
  std::unique_ptr<client::EngramClient> client = Connect(**server);
  // Keep lookups flowing from two threads while the server is told to stop:
  // each must either succeed with correct rows or be refused as UNAVAILABLE
  // (after shutdown began), never return wrong data.
  std::atomic<bool> stop{false};
  std::atomic<int> ok_calls{0}, bad_calls{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&] {
      const std::vector<uint64_t> ids(4096, 7);
      std::string rows(ids.size() * kSmallDemoValues * 4, '\0');
      const std::string expected = ExpectedDemoRows(3, ids);
      while (!stop) {
        absl::StatusOr<client::LookupResult> result = client->Lookup(
            "layer_3", ids, absl::MakeSpan(rows.data(), rows.size()));
        if (result.ok()) {
          ok_calls += rows == expected;
          bad_calls += rows != expected;
        } else if (result.status().code() != absl::StatusCode::kUnavailable &&
                   result.status().code() != absl::StatusCode::kCancelled) {
          ++bad_calls;
        }
      }
    });
  }
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_EQ((*server)->Terminate(), 0) << (*server)->Log();
  stop = true;
  for (std::thread& thread : threads) thread.join();
  EXPECT_GT(ok_calls, 0);
  EXPECT_EQ(bad_calls, 0);
  EXPECT_THAT((*server)->Log(), HasSubstr("draining"));
}

// gRPC's drain waits for clients to close their connections; one that
// made blocking calls only may not until its next call.
TEST(ServerLifecycleTest, SigtermStopsOnceCallsAreDoneDespiteIdleClients) {
  TempDir dir;
  std::vector<std::string> flags = SmallDemoFlags();
  flags.insert(flags.end(), {"--shutdown-grace", "60s"});
  absl::StatusOr<std::unique_ptr<ServerProcess>> server =
      ServerProcess::Start(dir.path() + "/data", flags);
  ASSERT_TRUE(server.ok()) << server.status();
  std::unique_ptr<client::EngramClient> client = Connect(**server);
  ASSERT_TRUE(client->DescribeTable("layer_3").ok());
  const absl::Time start = absl::Now();
  EXPECT_EQ((*server)->Terminate(absl::Seconds(90)), 0) << (*server)->Log();
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  // And the client, told the server is gone, fails fast.
  EXPECT_FALSE(client->DescribeTable("layer_3").ok());
}

TEST(ServerLifecycleTest, ConfigFileSetsFlagsAndCommandLineOverrides) {
  TempDir dir;
  const std::string config = dir.path() + "/engram.conf";
  std::ofstream(config) << "# engram-server settings\n"
                        << "max-batch-rows = 10\n"
                        << "demo = true\n"
                        << "demo_layer_ids = 3\n"
                        << "demo-vocab-sizes = 1000,1200\n"
                        << "demo-heads = 2\n"
                        << "demo-values-per-row = 8\n"
                        << "demo-dtype = f32\n";
  absl::StatusOr<std::unique_ptr<ServerProcess>> server = ServerProcess::Start(
      dir.path() + "/data", {"--config", config, "--max-batch-rows=20"});
  ASSERT_TRUE(server.ok()) << server.status();
  std::unique_ptr<client::EngramClient> client = Connect(**server);
  std::string rows(21 * 32, '\0');
  EXPECT_TRUE(client
                  ->Lookup("layer_3", std::vector<uint64_t>(20, 1),
                           absl::MakeSpan(rows.data(), rows.size()))
                  .ok());
  EXPECT_EQ(client
                ->Lookup("layer_3", std::vector<uint64_t>(21, 1),
                         absl::MakeSpan(rows.data(), rows.size()))
                .status()
                .code(),
            absl::StatusCode::kResourceExhausted);
}

TEST(ServerLifecycleTest, BadConfigurationFailsWithAClearMessage) {
  TempDir dir;
  const std::string config = dir.path() + "/bad.conf";
  std::ofstream(config) << "no-such-setting = 1\n";
  CommandResult result = RunCommand(
      {ServerPath(), "--data-dir", dir.path() + "/data", "--config", config});
  EXPECT_NE(result.exit_code, 0);
  EXPECT_THAT(result.err, HasSubstr("unknown setting 'no_such_setting'"));

  result = RunCommand({ServerPath(), "--listen", "127.0.0.1:0"});
  EXPECT_NE(result.exit_code, 0);
  EXPECT_THAT(result.err, HasSubstr("--data-dir"));

  result =
      RunCommand({ServerPath(), "--data-dir", dir.path() + "/data", "--listen",
                  "127.0.0.1:0", "--demo", "--demo-heads", "0"});
  EXPECT_NE(result.exit_code, 0);
  EXPECT_THAT(result.err, HasSubstr("heads_per_ngram"));

  result = RunCommand({ServerPath(), "--data-dir", dir.path() + "/data",
                       "--listen", "127.0.0.1:0", "--keepalive-timeout", "0s"});
  EXPECT_NE(result.exit_code, 0);
  EXPECT_THAT(result.err,
              HasSubstr("--keepalive-timeout must be in [1ms, 24h], not 0"));
}

TEST(ServerLifecycleTest, TakenPortIsReported) {
  TempDir dir;
  absl::StatusOr<std::unique_ptr<ServerProcess>> server =
      ServerProcess::Start(dir.path() + "/a", {});
  ASSERT_TRUE(server.ok()) << server.status();
  const CommandResult result =
      RunCommand({ServerPath(), "--data-dir", dir.path() + "/b", "--listen",
                  (*server)->address()});
  EXPECT_NE(result.exit_code, 0);
  EXPECT_THAT(result.err, HasSubstr("cannot listen"));
}

}  // namespace
}  // namespace engram::testing

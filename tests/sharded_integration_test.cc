// ShardedClient against real servers: 3 shards x 2 replicas on loopback,
// each replica an engram-server that imported its row range of one file.
// Sharded results must equal the file's rows byte for byte, also while one
// replica of every shard is killed (kill -9) under load, and a restarted
// replica must get traffic again.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "client/shard_map.h"
#include "client/sharded_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_processes.h"

namespace engram::testing {
namespace {

using ::testing::HasSubstr;

constexpr int kRows = 30000;
constexpr int kCols = 4;  // f32: 16-byte rows
constexpr uint32_t kRowBytes = kCols * 4;
constexpr int kShards = 3;
constexpr int kReplicas = 2;

// A port free now (the kernel picks it; it is released at once).
int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  socklen_t length = sizeof(address);
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  close(fd);
  return ntohs(address.sin_port);
}

class ShardedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    rows_ = F32Rows(kRows, kCols);
    WriteNpyFile(dir_.path() + "/table.npy", "<f4", {kRows, kCols}, rows_);
    std::string map_text = absl::StrCat("table t rows ", kRows, "\n");
    for (int s = 0; s < kShards; ++s) {
      const int first = s * kRows / kShards;
      const int end = (s + 1) * kRows / kShards;
      absl::StrAppend(&map_text, "shard t ", first, " ", end);
      for (int r = 0; r < kReplicas; ++r) {
        Replica replica;
        replica.data_dir = absl::StrCat(dir_.path(), "/s", s, "r", r);
        replica.port = FreePort();
        ASSERT_NO_FATAL_FAILURE(StartReplica(replica));
        const CommandResult imported = RunCommand(
            {EngramctlPath(), "--server", replica.process->address(), "import",
             "t", dir_.path() + "/table.npy", "--row-range",
             absl::StrCat(first, ":", end)});
        ASSERT_EQ(imported.exit_code, 0) << imported.err;
        absl::StrAppend(&map_text, " ", replica.process->address());
        replicas_.push_back(std::move(replica));
      }
      absl::StrAppend(&map_text, "\n");
    }
    absl::StatusOr<client::ShardMap> map = client::ParseShardMap(map_text);
    ASSERT_TRUE(map.ok()) << map.status();
    map_ = *std::move(map);
  }

  struct Replica {
    std::string data_dir;
    int port = 0;
    std::unique_ptr<ServerProcess> process;
  };

  void StartReplica(Replica& replica) {
    auto process = ServerProcess::Start(
        replica.data_dir, {"--listen", absl::StrCat("127.0.0.1:", replica.port)});
    ASSERT_TRUE(process.ok()) << process.status();
    replica.process = *std::move(process);
  }

  std::string Expected(const std::vector<uint64_t>& ids) const {
    std::string expected;
    for (uint64_t id : ids) expected += rows_.substr(id * kRowBytes, kRowBytes);
    return expected;
  }

  // `count` random ids over every shard, some repeated.
  static std::vector<uint64_t> RandomIds(std::mt19937_64& random, int count) {
    std::vector<uint64_t> ids(count);
    for (uint64_t& id : ids) id = random() % kRows;
    ids.back() = ids.front();
    return ids;
  }

  TempDir dir_;
  std::string rows_;
  std::vector<Replica> replicas_;  // shard s, replica r at s * kReplicas + r
  client::ShardMap map_;
};

TEST_F(ShardedTest, ResultsEqualTheWholeTableAndServersReportTheirRanges) {
  auto client = client::ShardedClient::Create(map_, {});
  ASSERT_TRUE(client.ok()) << client.status();
  std::mt19937_64 random(1);
  for (int round = 0; round < 20; ++round) {
    const std::vector<uint64_t> ids = RandomIds(random, 700);
    std::string out(ids.size() * kRowBytes, '?');
    absl::StatusOr<client::LookupResult> result =
        (*client)->Lookup("t", ids, absl::MakeSpan(out.data(), out.size()));
    ASSERT_TRUE(result.ok()) << result.status();
    ASSERT_EQ(out, Expected(ids));
  }
  absl::StatusOr<client::TableDescription> table = (*client)->DescribeTable("t");
  ASSERT_TRUE(table.ok());
  EXPECT_EQ(table->rows, kRows);

  // The servers tell the same map themselves.
  std::vector<std::string> servers;
  for (const Replica& replica : replicas_) {
    servers.push_back(replica.process->address());
  }
  absl::StatusOr<client::ShardMap> discovered =
      client::DiscoverShardMap(servers, {});
  ASSERT_TRUE(discovered.ok()) << discovered.status();
  ASSERT_EQ(discovered->at("t").shards.size(), kShards);
  EXPECT_EQ(discovered->at("t").shards[1].first_row, kRows / kShards);
  EXPECT_EQ(discovered->at("t").shards[1].replicas.size(), kReplicas);

  // A shard's server refuses the rows of another, and the client the caller's
  // mistakes, without retrying them.
  std::string row(kRowBytes, '?');
  const std::vector<uint64_t> beyond = {kRows};
  EXPECT_EQ((*client)
                ->Lookup("t", beyond, absl::MakeSpan(row.data(), row.size()))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  const CommandResult other_shard =
      RunCommand({EngramctlPath(), "--server", servers[0], "lookup", "t",
                  "--rows", absl::StrCat(kRows - 1)});
  EXPECT_EQ(other_shard.exit_code, 1);
  EXPECT_THAT(other_shard.err, HasSubstr("OUT_OF_RANGE"));
}

TEST_F(ShardedTest, HedgedRequestsStillGiveTheRowsOnce) {
  client::ShardedClientOptions options;
  // Far below a round trip: nearly every shard request is hedged.
  options.hedge_after = absl::Microseconds(10);
  auto client = client::ShardedClient::Create(map_, options);
  ASSERT_TRUE(client.ok()) << client.status();
  std::mt19937_64 random(3);
  for (int round = 0; round < 30; ++round) {
    const std::vector<uint64_t> ids = RandomIds(random, 500);
    std::string out(ids.size() * kRowBytes, '?');
    ASSERT_TRUE(
        (*client)->Lookup("t", ids, absl::MakeSpan(out.data(), out.size())).ok());
    ASSERT_EQ(out, Expected(ids));
  }
  uint64_t total = 0;
  int answering = 0;
  for (const client::ReplicaStats& stats : (*client)->replica_stats()) {
    total += stats.successes;
    answering += stats.successes > 0;
  }
  // Hedges answer too: more answers than the 90 shard requests, and from
  // both replicas of the shards.
  EXPECT_GT(total, 90u);
  EXPECT_GT(answering, kShards);
}

TEST_F(ShardedTest, KillingAReplicaOfEveryShardFailsNoLookupAndItComesBack) {
  client::ShardedClientOptions options;
  options.initial_backoff = absl::Milliseconds(50);
  options.max_backoff = absl::Milliseconds(200);
  auto client = client::ShardedClient::Create(map_, options);
  ASSERT_TRUE(client.ok()) << client.status();
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> lookups{0};
  absl::Mutex mu;
  std::vector<std::string> failures;
  std::vector<std::thread> readers;
  for (int reader = 0; reader < 2; ++reader) {
    readers.emplace_back([&, reader] {
      std::mt19937_64 random(reader);
      while (!stop.load()) {
        const std::vector<uint64_t> ids = RandomIds(random, 300);
        std::string out(ids.size() * kRowBytes, '?');
        absl::StatusOr<client::LookupResult> result =
            (*client)->Lookup("t", ids, absl::MakeSpan(out.data(), out.size()));
        if (!result.ok() || out != Expected(ids)) {
          absl::MutexLock lock(&mu);
          failures.push_back(result.ok() ? "wrong rows"
                                         : std::string(result.status().message()));
          return;
        }
        lookups.fetch_add(1);
      }
    });
  }
  absl::SleepFor(absl::Milliseconds(300));
  for (int s = 0; s < kShards; ++s) {
    kill(replicas_[s * kReplicas].process->pid(), SIGKILL);
  }
  absl::SleepFor(absl::Milliseconds(700));
  const uint64_t during = lookups.load();
  for (int s = 0; s < kShards; ++s) {
    Replica& replica = replicas_[s * kReplicas];
    replica.process.reset();
    ASSERT_NO_FATAL_FAILURE(StartReplica(replica));
  }
  auto successes_of_restarted = [&] {
    uint64_t total = 0;
    for (const client::ReplicaStats& stats : (*client)->replica_stats()) {
      for (int s = 0; s < kShards; ++s) {
        if (stats.address == replicas_[s * kReplicas].process->address()) {
          total += stats.successes;
        }
      }
    }
    return total;
  };
  const uint64_t before_restart = successes_of_restarted();
  absl::SleepFor(absl::Seconds(1));
  stop = true;
  for (std::thread& reader : readers) reader.join();
  EXPECT_THAT(failures, ::testing::IsEmpty());
  EXPECT_GT(during, 0u);
  EXPECT_GT(successes_of_restarted(), before_restart)
      << "the restarted replicas get no traffic";
}

}  // namespace
}  // namespace engram::testing

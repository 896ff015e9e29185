// ShardedClient against real servers: 3 shards x 2 replicas on loopback,
// each replica an engram-server that imported its row range of one file.
// Sharded results must equal the file's rows byte for byte, also while one
// replica of every shard is killed (kill -9) under load, and a restarted
// replica must get traffic again. Patches applied through `engramctl
// --shard-map` change exactly their rows on every replica of their shards,
// sharded pins keep serving the rows they pinned, also with replicas
// killed or restarted, and `engramctl --shard-map ... export` writes the
// whole table.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "client/caching_client.h"
#include "client/engram_client.h"
#include "client/shard_map.h"
#include "client/sharded_client.h"
#include "common/addressing/npy.h"
#include "common/addressing/sha256.h"
#include "common/hash_spec_proto.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "gtest/gtest.h"
#include "tests/demo_server_fixture.h"
#include "tests/test_processes.h"

namespace engram::testing {
namespace {

using ::testing::HasSubstr;

constexpr int kRows = 30000;
constexpr int kCols = 4;  // f32: 16-byte rows
constexpr uint32_t kRowBytes = kCols * 4;
constexpr int kShards = 3;
constexpr int kReplicas = 2;
// Patched rows hold base + id + c / 100: far from any original value.
constexpr float kFirstPatch = 100000;
constexpr float kSecondPatch = 200000;

// A port free now (the kernel picks it; it is released at once).
int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address = LoopbackAddress(0);
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
        absl::StrAppend(&map_text, " ", replica.process->address());
        replicas_.push_back(std::move(replica));
      }
      absl::StrAppend(&map_text, "\n");
    }
    absl::StatusOr<client::ShardMap> map = client::ParseShardMap(map_text);
    ASSERT_TRUE(map.ok()) << map.status();
    map_ = *std::move(map);
    map_file_ = dir_.path() + "/shards.txt";
    std::ofstream(map_file_) << map_text;
    // Every shard at once, each to both its replicas.
    const CommandResult imported = ShardMapCtl(
        {"import", "t", NpyFile(), "--jobs", absl::StrCat(kShards)});
    ASSERT_EQ(imported.exit_code, 0) << imported.err;
    // One read of a shard's rows feeds all its replicas.
    EXPECT_THAT(imported.err,
                HasSubstr(absl::StrCat("import t [0, 10000) to ",
                                       replicas_[0].process->address(), ", ",
                                       replicas_[1].process->address())));
  }

  std::string NpyFile() const { return dir_.path() + "/table.npy"; }

  // Hot rows of every shard, for caches to keep.
  inline static const std::vector<uint64_t> kHotRows = {1, 2, 15000, 15001,
                                                        29998};

  // kHotRows as `client` reads them (a failed lookup fails the test).
  static std::string ReadHotRows(client::EngramClient& client) {
    std::string out(kHotRows.size() * kRowBytes, '?');
    absl::StatusOr<client::LookupResult> result =
        client.Lookup("t", kHotRows, absl::MakeSpan(out.data(), out.size()));
    EXPECT_TRUE(result.ok()) << result.status();
    return out;
  }

  // Options wrapping each replica's client in a 1 MiB CachingClient, which
  // `caches` gets in replica order (Index(s, r)).
  static client::ShardedClientOptions CachedReplicas(
      std::vector<client::CachingClient*>* caches) {
    client::ShardedClientOptions options;
    options.wrap_replica = [caches](std::unique_ptr<client::EngramClient> plain)
        -> absl::StatusOr<std::unique_ptr<client::EngramClient>> {
      absl::StatusOr<std::unique_ptr<client::CachingClient>> cache =
          client::CachingClient::Create(std::move(plain),
                                        {.capacity_bytes = 1 << 20});
      if (!cache.ok()) return cache.status();
      caches->push_back(cache->get());
      return *std::move(cache);
    };
    return options;
  }

  // The fields of each entry of the "replicas" of a --shard-map command's
  // JSON `json`, which must name the fixture's replicas in order.
  std::vector<google::protobuf::Struct> ReplicaReports(
      const google::protobuf::Struct& json) const {
    std::vector<google::protobuf::Struct> reports;
    for (const auto& entry :
         json.fields().at("replicas").list_value().values()) {
      const size_t i = reports.size();
      reports.push_back(entry.struct_value());
      EXPECT_TRUE(i < replicas_.size() &&
                  reports.back().fields().at("address").string_value() ==
                      replicas_[i].process->address())
          << "replica " << i;
    }
    return reports;
  }

  // engramctl --shard-map (the fixture's map) with `args`.
  CommandResult ShardMapCtl(const std::vector<std::string>& args) const {
    std::vector<std::string> argv = {EngramctlPath(), "--shard-map", map_file_};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv);
  }

  struct Replica {
    std::string data_dir;
    int port = 0;
    std::unique_ptr<ServerProcess> process;
  };

  void StartReplica(Replica& replica,
                    const std::vector<std::string>& extra_args = {}) {
    std::vector<std::string> args = {"--listen",
                                     absl::StrCat("127.0.0.1:", replica.port)};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    auto process = ServerProcess::Start(replica.data_dir, args);
    ASSERT_TRUE(process.ok()) << process.status();
    replica.process = *std::move(process);
  }

  // Replica r of shard s in replicas_.
  static int Index(int s, int r) { return s * kReplicas + r; }

  // A client of replica `index` alone.
  std::unique_ptr<client::EngramClient> ReplicaClient(int index) const {
    client::ClientOptions options;
    options.server_address = replicas_[index].process->address();
    auto plain = client::EngramClient::Create(options);
    EXPECT_TRUE(plain.ok()) << plain.status();
    return plain.ok() ? *std::move(plain) : nullptr;
  }

  // Table t as replica `index` describes it.
  absl::StatusOr<client::TableDescription> ReplicaTable(int index) const {
    std::unique_ptr<client::EngramClient> plain = ReplicaClient(index);
    if (plain == nullptr) return absl::InternalError("no client");
    return plain->DescribeTable("t");
  }

  // The version replica `index` serves, asked directly.
  uint64_t ReplicaVersion(int index) const {
    absl::StatusOr<client::TableDescription> table = ReplicaTable(index);
    EXPECT_TRUE(table.ok()) << table.status();
    return table.ok() ? table->version : 0;
  }

  // The live pins on replica `index`, over all versions (engramctl
  // versions).
  int ReplicaPins(int index) const {
    const CommandResult listed = RunEngramctl(
        replicas_[index].process->address(), {"versions", "t", "--json"});
    EXPECT_EQ(listed.exit_code, 0) << listed.err;
    int pins = 0;
    const google::protobuf::Struct json = ParseJson(listed.out);
    for (const auto& version :
         json.fields().at("versions").list_value().values()) {
      pins += version.struct_value().fields().at("pins").number_value();
    }
    return pins;
  }

  // Runs `engramctl --shard-map FILE patch apply t --json` with a patch
  // setting rows `ids` as Patched(..., ids, base) says.
  CommandResult ApplyPatch(const std::vector<int64_t>& ids, float base) {
    const std::string ids_file = dir_.path() + "/ids.npy";
    const std::string rows_file = dir_.path() + "/rows.npy";
    WriteNpyFile(ids_file, "<i8", {ids.size()}, Int64s(ids));
    std::string rows;
    for (int64_t id : ids) rows += F32Rows(1, kCols, base + id);
    WriteNpyFile(rows_file, "<f4", {ids.size(), kCols}, rows);
    return ShardMapCtl({"patch", "apply", "t", "--ids", ids_file, "--rows",
                        rows_file, "--json"});
  }

  // `table` with rows `ids` patched to base + id + c / 100.
  static std::string Patched(std::string table, const std::vector<int64_t>& ids,
                             float base) {
    for (int64_t id : ids) {
      table.replace(id * kRowBytes, kRowBytes, F32Rows(1, kCols, base + id));
    }
    return table;
  }

  // Reads the whole table through `client` `rounds` times (so that every
  // shard's replicas take turns) and checks it is `expected`.
  static void ExpectTable(client::ShardedClient& client,
                          const std::string& expected,
                          const client::LookupOptions& options = {},
                          int rounds = 4) {
    std::vector<uint64_t> ids(kRows);
    for (int i = 0; i < kRows; ++i) ids[i] = i;
    for (int round = 0; round < rounds; ++round) {
      std::string out(expected.size(), '?');
      absl::StatusOr<client::LookupResult> result = client.Lookup(
          "t", ids, absl::MakeSpan(out.data(), out.size()), options);
      ASSERT_TRUE(result.ok()) << result.status();
      const auto differs =
          std::mismatch(out.begin(), out.end(), expected.begin());
      ASSERT_TRUE(differs.first == out.end())
          << "round " << round << ": row "
          << (differs.first - out.begin()) / kRowBytes << " differs";
    }
  }

  // Reads the whole table through `client` (unpinned: it must be
  // `expected`) until the replica at `address` has answered some of it;
  // false if it has not in 10 s (e.g. it is still down).
  static bool ReachesReplica(client::ShardedClient& client,
                             const std::string& address,
                             const std::string& expected) {
    const uint64_t before = Successes(client, address);
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (absl::Now() < deadline) {
      ExpectTable(client, expected, {}, /*rounds=*/1);
      if (Successes(client, address) > before) return true;
      absl::SleepFor(absl::Milliseconds(50));
    }
    return false;
  }

  // The successes of the replica at `address` so far.
  static uint64_t Successes(const client::ShardedClient& client,
                            const std::string& address) {
    for (const client::ReplicaStats& stats : client.replica_stats()) {
      if (stats.address == address) return stats.successes;
    }
    return 0;
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
  std::vector<Replica> replicas_;  // shard s, replica r at Index(s, r)
  client::ShardMap map_;
  std::string map_file_;  // map_, as a file
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
  absl::StatusOr<client::TableDescription> table =
      (*client)->DescribeTable("t");
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
  const CommandResult other_shard = RunEngramctl(
      servers[0], {"lookup", "t", "--rows", absl::StrCat(kRows - 1)});
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
    ASSERT_TRUE((*client)
                    ->Lookup("t", ids, absl::MakeSpan(out.data(), out.size()))
                    .ok());
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

TEST_F(ShardedTest, ClientsGoWhileTheirLosingHedgesAreStillInFlight) {
  // Replica 0 of every shard is stopped (SIGSTOP): attempts sent to it stay
  // in flight until their deadline, while the hedge to replica 1 answers.
  for (int s = 0; s < kShards; ++s) {
    ASSERT_EQ(kill(replicas_[Index(s, 0)].process->pid(), SIGSTOP), 0);
  }
  client::ShardedClientOptions options;
  options.hedge_after = absl::Milliseconds(5);
  options.attempt_timeout = absl::Milliseconds(300);
  std::mt19937_64 random(5);
  for (int round = 0; round < 6; ++round) {
    auto client = client::ShardedClient::Create(map_, options);
    ASSERT_TRUE(client.ok()) << client.status();
    const std::vector<uint64_t> ids = RandomIds(random, 300);
    std::string out(ids.size() * kRowBytes, '?');
    absl::StatusOr<client::LookupResult> result =
        (*client)->Lookup("t", ids, absl::MakeSpan(out.data(), out.size()));
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(out, Expected(ids));
    // Destroyed here, with the attempts at the stopped replicas in flight.
  }
  for (int s = 0; s < kShards; ++s) {
    ASSERT_EQ(kill(replicas_[Index(s, 0)].process->pid(), SIGCONT), 0);
  }
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
          failures.push_back(result.ok()
                                 ? "wrong rows"
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

TEST_F(ShardedTest, LookupsFailingOverFromADeadReplicaNeverEndEarly) {
  std::vector<std::string> dead;
  for (int s = 0; s < kShards; ++s) {
    dead.push_back(replicas_[Index(s, 0)].process->address());
    ASSERT_EQ(kill(replicas_[Index(s, 0)].process->pid(), SIGKILL), 0);
    replicas_[Index(s, 0)].process.reset();
  }
  // No backoff: round robin sends about half the calls to the dead
  // replica first, whose fast failure must hand them to the live one.
  client::ShardedClientOptions options;
  options.initial_backoff = absl::Nanoseconds(1);
  options.max_backoff = absl::Nanoseconds(1);
  auto client = client::ShardedClient::Create(map_, options);
  ASSERT_TRUE(client.ok()) << client.status();
  std::mt19937_64 random(7);
  for (int lookup = 0; lookup < 3000; ++lookup) {
    const std::vector<uint64_t> ids = RandomIds(random, 6);
    std::string out(ids.size() * kRowBytes, '?');
    absl::StatusOr<client::LookupResult> result =
        (*client)->Lookup("t", ids, absl::MakeSpan(out.data(), out.size()));
    ASSERT_TRUE(result.ok()) << "lookup " << lookup << ": " << result.status();
    ASSERT_EQ(out, Expected(ids)) << "lookup " << lookup;
  }

  // With both replicas of shard 1 down, the error names each one's.
  const std::string last = replicas_[Index(1, 1)].process->address();
  ASSERT_EQ(kill(replicas_[Index(1, 1)].process->pid(), SIGKILL), 0);
  replicas_[Index(1, 1)].process.reset();
  const std::vector<uint64_t> ids = {0, kRows / kShards};
  std::string out(ids.size() * kRowBytes, '?');
  const absl::Status failed =
      (*client)
          ->Lookup("t", ids, absl::MakeSpan(out.data(), out.size()))
          .status();
  EXPECT_EQ(failed.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(failed.message(),
              HasSubstr("no replica of shard [10000, 20000) of table 't' "
                        "answered: replica "));
  EXPECT_THAT(failed.message(),
              HasSubstr(absl::StrCat(dead[1], ": UNAVAILABLE")));
  EXPECT_THAT(failed.message(), HasSubstr(absl::StrCat(last, ": UNAVAILABLE")));
}

TEST_F(ShardedTest, ShardMapPatchChangesExactlyItsRowsOnEveryReplica) {
  std::vector<uint64_t> before(kShards * kReplicas);
  for (int i = 0; i < kShards * kReplicas; ++i) before[i] = ReplicaVersion(i);
  // Shards 0 and 2 only, out of order: rows keep their ids' order.
  const std::vector<int64_t> ids = {29999, 5, kRows / kShards - 1,
                                    2 * kRows / kShards, 0};
  const CommandResult applied = ApplyPatch(ids, kFirstPatch);
  ASSERT_EQ(applied.exit_code, 0) << applied.err;

  // Per patched shard and replica, the version it made, which the replica
  // now serves; the shard without ids is left alone.
  const google::protobuf::Struct json = ParseJson(applied.out);
  const auto& shards = json.fields().at("shards").list_value().values();
  ASSERT_EQ(shards.size(), 2) << applied.out;
  const int patched[] = {0, 2};
  for (int k = 0; k < 2; ++k) {
    const auto& shard = shards[k].struct_value().fields();
    const int s = patched[k];
    EXPECT_EQ(shard.at("first_row").number_value(), s * kRows / kShards);
    EXPECT_EQ(shard.at("rows").number_value(), s == 0 ? 3 : 2);
    const auto& replicas = shard.at("replicas").list_value().values();
    ASSERT_EQ(replicas.size(), kReplicas);
    for (int r = 0; r < kReplicas; ++r) {
      const auto& replica = replicas[r].struct_value().fields();
      EXPECT_EQ(replica.at("address").string_value(),
                replicas_[Index(s, r)].process->address());
      EXPECT_EQ(replica.at("version").number_value(), before[Index(s, r)] + 1);
      EXPECT_EQ(ReplicaVersion(Index(s, r)), before[Index(s, r)] + 1);
    }
  }
  for (int r = 0; r < kReplicas; ++r) {
    EXPECT_EQ(ReplicaVersion(Index(1, r)), before[Index(1, r)]);
  }

  auto client = client::ShardedClient::Create(map_, {});
  ASSERT_TRUE(client.ok()) << client.status();
  ExpectTable(**client, Patched(rows_, ids, kFirstPatch));

  // Without --json, a line per patched shard naming its replicas' versions.
  const std::vector<int64_t> more = {kRows / kShards};
  WriteNpyFile(dir_.path() + "/one.npy", "<i8", {1}, Int64s(more));
  WriteNpyFile(dir_.path() + "/one_row.npy", "<f4", {1, kCols},
               F32Rows(1, kCols, kSecondPatch));
  const CommandResult text =
      ShardMapCtl({"patch", "apply", "t", "--ids", dir_.path() + "/one.npy",
                   "--rows", dir_.path() + "/one_row.npy"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_EQ(text.out, absl::StrCat("t shard [10000, 20000) 1 rows: ",
                                   replicas_[Index(1, 0)].process->address(),
                                   " version ", before[Index(1, 0)] + 1, ", ",
                                   replicas_[Index(1, 1)].process->address(),
                                   " version ", before[Index(1, 1)] + 1, "\n"));
}

TEST_F(ShardedTest, ShardedPinKeepsEveryShardsRowsUntilReleased) {
  std::vector<int64_t> ids;
  for (int s = 0; s < kShards; ++s) {
    for (int k = 0; k < 5; ++k) ids.push_back(s * kRows / kShards + 7 * k);
  }
  ASSERT_EQ(ApplyPatch(ids, kFirstPatch).exit_code, 0);
  const std::string first = Patched(rows_, ids, kFirstPatch);
  auto client = client::ShardedClient::Create(map_, {});
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<client::VersionPin> pin = (*client)->PinVersion("t");
  ASSERT_TRUE(pin.ok()) << pin.status();
  EXPECT_NE(pin->pin_id, 0u);
  EXPECT_EQ(pin->version, ReplicaVersion(Index(0, 0)));
  EXPECT_GT(pin->ttl, absl::ZeroDuration());
  for (int i = 0; i < kShards * kReplicas; ++i) EXPECT_EQ(ReplicaPins(i), 1);

  // A second patch, over more rows of every shard.
  for (int s = 0; s < kShards; ++s) ids.push_back(s * kRows / kShards + 1);
  const CommandResult second = ApplyPatch(ids, kSecondPatch);
  ASSERT_EQ(second.exit_code, 0) << second.err;
  ExpectTable(**client, Patched(rows_, ids, kSecondPatch));
  ExpectTable(**client, first, {.pin_id = pin->pin_id});
  // The pin's version, if named too, must be its own.
  std::string row(kRowBytes, '?');
  const std::vector<uint64_t> one = {3};
  EXPECT_EQ((*client)
                ->Lookup("t", one, absl::MakeSpan(row.data(), row.size()),
                         {.version = pin->version + 1, .pin_id = pin->pin_id})
                .status()
                .code(),
            absl::StatusCode::kFailedPrecondition);

  ASSERT_TRUE((*client)->ReleasePin(pin->pin_id).ok());
  for (int i = 0; i < kShards * kReplicas; ++i) EXPECT_EQ(ReplicaPins(i), 0);
  EXPECT_EQ((*client)
                ->Lookup("t", one, absl::MakeSpan(row.data(), row.size()),
                         {.pin_id = pin->pin_id})
                .status()
                .code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ((*client)->ReleasePin(pin->pin_id).code(),
            absl::StatusCode::kNotFound);
}

TEST_F(ShardedTest, PinnedLookupsGoToSurvivingAndNotToRestartedReplicas) {
  const std::vector<int64_t> ids = {1, kRows / kShards + 1,
                                    2 * kRows / kShards + 1};
  ASSERT_EQ(ApplyPatch(ids, kFirstPatch).exit_code, 0);
  client::ShardedClientOptions options;
  options.initial_backoff = absl::Milliseconds(50);
  options.max_backoff = absl::Milliseconds(200);
  auto client = client::ShardedClient::Create(map_, options);
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<client::VersionPin> pin = (*client)->PinVersion("t");
  ASSERT_TRUE(pin.ok()) << pin.status();
  ASSERT_EQ(ApplyPatch(ids, kSecondPatch).exit_code, 0);

  // One replica of every shard killed: the pin is served by the others.
  for (int s = 0; s < kShards; ++s) {
    kill(replicas_[Index(s, s % kReplicas)].process->pid(), SIGKILL);
  }
  ExpectTable(**client, Patched(rows_, ids, kFirstPatch),
              {.pin_id = pin->pin_id});
  ExpectTable(**client, Patched(rows_, ids, kSecondPatch));

  // Back, but without the pin (pins live in a server's memory), and
  // taking unpinned lookups again.
  std::vector<std::string> restarted;
  for (int s = 0; s < kShards; ++s) {
    Replica& replica = replicas_[Index(s, s % kReplicas)];
    replica.process.reset();
    ASSERT_NO_FATAL_FAILURE(StartReplica(replica));
    restarted.push_back(replica.process->address());
  }
  for (const std::string& address : restarted) {
    ASSERT_TRUE(
        ReachesReplica(**client, address, Patched(rows_, ids, kSecondPatch)))
        << address;
  }
  // Pinned lookups that reach them (round robin) are answered NOT_FOUND
  // and go to the sibling; and then keep away from them.
  ExpectTable(**client, Patched(rows_, ids, kFirstPatch),
              {.pin_id = pin->pin_id});
  std::vector<uint64_t> successes;
  for (const std::string& address : restarted) {
    successes.push_back(Successes(**client, address));
  }
  ExpectTable(**client, Patched(rows_, ids, kFirstPatch),
              {.pin_id = pin->pin_id});
  for (int s = 0; s < kShards; ++s) {
    EXPECT_EQ(Successes(**client, restarted[s]), successes[s])
        << "a restarted replica served the pin of shard " << s;
  }
  EXPECT_TRUE((*client)->ReleasePin(pin->pin_id).ok());
}

TEST_F(ShardedTest, AReplicaDownWhenPinnedIsLeftOutOfThePin) {
  Replica& down = replicas_[Index(1, 0)];
  kill(down.process->pid(), SIGKILL);
  auto client = client::ShardedClient::Create(map_, {});
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<client::VersionPin> pin = (*client)->PinVersion("t");
  ASSERT_TRUE(pin.ok()) << pin.status();
  down.process.reset();
  ASSERT_NO_FATAL_FAILURE(StartReplica(down));
  const std::vector<int64_t> ids = {kRows / kShards, kRows / kShards + 9};
  ASSERT_EQ(ApplyPatch(ids, kFirstPatch).exit_code, 0);
  // Had a pinned lookup gone to the unpinned replica, it would have read
  // the patched rows.
  ExpectTable(**client, rows_, {.pin_id = pin->pin_id}, /*rounds=*/6);
  EXPECT_EQ(Successes(**client, down.process->address()), 0u);
  EXPECT_TRUE(ReachesReplica(**client, down.process->address(),
                             Patched(rows_, ids, kFirstPatch)));
  ExpectTable(**client, rows_, {.pin_id = pin->pin_id});

  // With every replica of a shard down, nothing is pinned.
  for (int r = 0; r < kReplicas; ++r) {
    kill(replicas_[Index(2, r)].process->pid(), SIGKILL);
  }
  absl::StatusOr<client::VersionPin> none = (*client)->PinVersion("t");
  EXPECT_EQ(none.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(none.status().message(),
              HasSubstr("no replica of shard [20000, 30000) of table 't'"));
  for (int i = 0; i < Index(2, 0); ++i) {
    // The first pin's, where it took.
    EXPECT_EQ(ReplicaPins(i), i == Index(1, 0) ? 0 : 1) << "replica " << i;
  }
}

TEST_F(ShardedTest, ShardMapExportAndLookupReadThroughTheShards) {
  // Shards at different versions, and one replica down.
  const std::vector<int64_t> ids = {3, 2 * kRows / kShards + 1};
  ASSERT_EQ(ApplyPatch(ids, kFirstPatch).exit_code, 0);
  replicas_[Index(1, 0)].process.reset();
  const std::string expected = Patched(rows_, ids, kFirstPatch);

  // Exports t with `server_flags` and returns the JSON and the rows.
  const auto export_rows = [&](const std::vector<std::string>& server_flags,
                               google::protobuf::Struct* json) {
    const std::string out = dir_.path() + "/export.npy";
    std::vector<std::string> argv = {EngramctlPath()};
    argv.insert(argv.end(), server_flags.begin(), server_flags.end());
    argv.insert(argv.end(), {"export", "t", out, "--json"});
    const CommandResult exported = RunCommand(argv);
    EXPECT_EQ(exported.exit_code, 0) << exported.err;
    *json = ParseJson(exported.out);
    const std::string file = ReadFile(out);
    absl::StatusOr<internal::NpyHeader> header = internal::ParseNpyHeader(file);
    EXPECT_TRUE(header.ok()) << header.status();
    return header.ok() ? file.substr(header->data_offset) : "";
  };
  google::protobuf::Struct json;
  EXPECT_TRUE(export_rows({"--shard-map", map_file_}, &json) == expected);
  EXPECT_EQ(json.fields().at("rows").number_value(), kRows);
  // No one content digest covers the shards.
  EXPECT_FALSE(json.fields().at("verified").bool_value());

  // One server of a shard exports the shard, checked against its digest.
  const uint64_t first = kRows / kShards;
  const uint64_t end = 2 * kRows / kShards;
  EXPECT_TRUE(
      export_rows({"--server", replicas_[Index(1, 1)].process->address()},
                  &json) ==
      rows_.substr(first * kRowBytes, (end - first) * kRowBytes));
  EXPECT_EQ(json.fields().at("rows").number_value(), end - first);
  EXPECT_TRUE(json.fields().at("verified").bool_value());

  // lookup and describe go through the shard map too.
  const CommandResult looked =
      ShardMapCtl({"lookup", "t", "--rows",
                   absl::StrCat(ids[1], ",", kRows / 2), "--json"});
  ASSERT_EQ(looked.exit_code, 0) << looked.err;
  const google::protobuf::Struct found = ParseJson(looked.out);
  const auto& rows = found.fields().at("rows").list_value().values();
  ASSERT_EQ(rows.size(), 2);
  EXPECT_FLOAT_EQ(rows[0].list_value().values(1).number_value(),
                  kFirstPatch + ids[1] + 0.01f);
  EXPECT_FLOAT_EQ(rows[1].list_value().values(1).number_value(),
                  kRows / 2 + 0.01f);
  const CommandResult described = ShardMapCtl({"describe", "t", "--json"});
  ASSERT_EQ(described.exit_code, 0) << described.err;
  EXPECT_EQ(ParseJson(described.out).fields().at("rows").number_value(), kRows);
}

TEST_F(ShardedTest, CachesOfTheReplicasKeepHotRowsAndFollowPatches) {
  std::vector<client::CachingClient*> caches;
  auto sharded = client::ShardedClient::Create(map_, CachedReplicas(&caches));
  ASSERT_TRUE(sharded.ok()) << sharded.status();
  ASSERT_EQ(caches.size(), kShards * kReplicas);
  const auto total = [&caches] {
    client::CacheStats sum;
    for (client::CachingClient* cache : caches) sum += cache->stats();
    return sum;
  };
  const auto read_hot = [&] { return ReadHotRows(**sharded); };
  for (int round = 0; round < 8; ++round) {
    ASSERT_EQ(read_hot(), Expected(kHotRows)) << "round " << round;
  }
  EXPECT_GT(total().hits, 0);

  // A patch of two of them on every replica of their shards: each cache
  // drops them when its server says so, and the patched rows are read.
  const std::vector<int64_t> patched_ids = {2, 15001};
  ASSERT_EQ(ApplyPatch(patched_ids, kFirstPatch).exit_code, 0);
  const std::string patched = Patched(rows_, patched_ids, kFirstPatch);
  std::string expected;
  for (uint64_t id : kHotRows) {
    expected += patched.substr(id * kRowBytes, kRowBytes);
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (read_hot() != expected && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  for (int round = 0; round < 8; ++round) {
    ASSERT_EQ(read_hot(), expected) << "round " << round;
  }
  EXPECT_GT(total().invalidated, 0);
}

TEST_F(ShardedTest, PreferringOneReplicaCachesEachShardsHotRowsOnce) {
  std::vector<client::CachingClient*> caches;
  client::ShardedClientOptions options = CachedReplicas(&caches);
  options.prefer_one_replica = true;
  options.initial_backoff = absl::Milliseconds(50);
  options.max_backoff = absl::Milliseconds(200);
  auto sharded = client::ShardedClient::Create(map_, options);
  ASSERT_TRUE(sharded.ok()) << sharded.status();
  const auto read_hot = [&] {
    EXPECT_TRUE(ReadHotRows(**sharded) == Expected(kHotRows));
  };
  // The replicas of shard `s` whose caches hold rows.
  const auto caching = [&](int s) {
    std::vector<int> found;
    for (int r = 0; r < kReplicas; ++r) {
      if (caches[Index(s, r)]->stats().entries > 0) found.push_back(r);
    }
    return found;
  };
  // Caches fill once their watches are up; then more rounds.
  const absl::Time filled = absl::Now() + absl::Seconds(10);
  for (int s = 0; s < kShards; ++s) {
    while (caching(s).empty() && absl::Now() < filled) {
      read_hot();
      absl::SleepFor(absl::Milliseconds(20));
    }
  }
  for (int round = 0; round < 8; ++round) read_hot();
  for (int s = 0; s < kShards; ++s) {
    EXPECT_EQ(caching(s).size(), 1) << "shard " << s;
  }

  // Its preferred replica down, shard 1's lookups go to the other, whose
  // cache fills once its watch is up.
  ASSERT_EQ(caching(1).size(), 1);
  const int preferred = caching(1).front();
  const int other = 1 - preferred;
  Replica& down = replicas_[Index(1, preferred)];
  down.process.reset();
  const auto successes = [&](int r) {
    return (*sharded)->replica_stats()[Index(1, r)].successes;
  };
  const uint64_t other_before = successes(other);
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (caches[Index(1, other)]->stats().entries == 0 &&
         absl::Now() < deadline) {
    read_hot();
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_GT(caches[Index(1, other)]->stats().entries, 0);
  EXPECT_GT(successes(other), other_before);

  // Back up, it takes the shard's lookups again.
  ASSERT_NO_FATAL_FAILURE(StartReplica(down));
  const uint64_t before = successes(preferred);
  deadline = absl::Now() + absl::Seconds(10);
  while (successes(preferred) == before && absl::Now() < deadline) {
    read_hot();
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_GT(successes(preferred), before);
}

TEST_F(ShardedTest, ShardMapImportSendsEachShardToItsReplicasAndGoesOn) {
  // The fixture's import put each shard's rows, and only those, on each of
  // its replicas.
  for (int i = 0; i < kShards * kReplicas; ++i) {
    const uint64_t first = i / kReplicas * kRows / kShards;
    const uint64_t end = (i / kReplicas + 1) * kRows / kShards;
    absl::StatusOr<client::TableDescription> table = ReplicaTable(i);
    ASSERT_TRUE(table.ok()) << table.status();
    EXPECT_EQ(table->first_row, first) << i;
    EXPECT_EQ(table->rows, end - first) << i;
    internal::Sha256 hash;
    hash.Update(rows_.data() + first * kRowBytes, (end - first) * kRowBytes);
    EXPECT_EQ(table->content_digest, internal::Sha256::ToHex(hash.Finish()));
  }

  // The last shard dropped, and one of its replicas down: the import
  // verifies the others, sends the last shard's rows to its replica that
  // is up (one read of them feeds all its replicas), and says what failed.
  const int down_index = Index(kShards - 1, 0);
  Replica& down = replicas_[down_index];
  const std::string down_address = down.process->address();
  for (int r = 0; r < kReplicas; ++r) {
    ASSERT_EQ(RunEngramctl(replicas_[Index(kShards - 1, r)].process->address(),
                           {"drop", "t"})
                  .exit_code,
              0);
  }
  down.process.reset();
  CommandResult result = ShardMapCtl({"import", "t", NpyFile()});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err,
              HasSubstr(absl::StrCat("UNAVAILABLE: importing shard [20000, "
                                     "30000) of table 't' to replica ",
                                     down_address, ": ")));
  EXPECT_THAT(result.err,
              HasSubstr(absl::StrCat("; done before: shard [0, 10000) at ",
                                     replicas_[0].process->address())));
  EXPECT_THAT(result.err,
              HasSubstr(absl::StrCat(
                  "shard [20000, 30000) at ",
                  replicas_[Index(kShards - 1, 1)].process->address())));
  EXPECT_THAT(result.err, HasSubstr("(the same command again verifies those "
                                    "and goes on)"));

  // Run again: it goes on where it stopped.
  ASSERT_NO_FATAL_FAILURE(StartReplica(down));
  result = ShardMapCtl({"import", "t", NpyFile(), "--json"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const google::protobuf::Struct json = ParseJson(result.out);
  const std::vector<google::protobuf::Struct> replicas = ReplicaReports(json);
  ASSERT_EQ(replicas.size(), kShards * kReplicas) << result.out;
  for (int i = 0; i < kShards * kReplicas; ++i) {
    EXPECT_EQ(replicas[i].fields().at("verified").bool_value(), i != down_index)
        << i;
  }
  const CommandResult looked =
      ShardMapCtl({"lookup", "t", "--rows", "29999", "--json"});
  EXPECT_THAT(looked.out, HasSubstr("[[29999,29999.0098"));

  // The same with every shard at once: the failure names the replica, and
  // the run again goes on.
  const std::string jobs = absl::StrCat(kShards);
  for (int r = 0; r < kReplicas; ++r) {
    ASSERT_EQ(RunEngramctl(replicas_[Index(kShards - 1, r)].process->address(),
                           {"drop", "t"})
                  .exit_code,
              0);
  }
  Replica& last = replicas_[Index(kShards - 1, kReplicas - 1)];
  const std::string last_address = last.process->address();
  last.process.reset();
  result = ShardMapCtl({"import", "t", NpyFile(), "--jobs", jobs});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err,
              HasSubstr(absl::StrCat("UNAVAILABLE: importing shard [20000, "
                                     "30000) of table 't' to replica ",
                                     last_address, ": ")));
  EXPECT_THAT(result.err, HasSubstr("; done before: shard [0, 10000) at "));
  ASSERT_NO_FATAL_FAILURE(StartReplica(last));
  result = ShardMapCtl({"import", "t", NpyFile(), "--jobs", jobs, "--json"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const std::vector<google::protobuf::Struct> again =
      ReplicaReports(ParseJson(result.out));
  ASSERT_EQ(again.size(), kShards * kReplicas) << result.out;
  for (int i = 0; i + 1 < kShards * kReplicas; ++i) {
    EXPECT_TRUE(again[i].fields().at("verified").bool_value()) << i;
  }
  EXPECT_FALSE(again.back().fields().at("verified").bool_value());
  EXPECT_THAT(ShardMapCtl({"lookup", "t", "--rows", "29999", "--json"}).out,
              HasSubstr("[[29999,29999.0098"));
  result = ShardMapCtl({"import", "t", NpyFile(), "--jobs", "0"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("--jobs 0 must be at least 1"));

  // A file of another size, or flags that do not go with a shard map.
  const std::string small = dir_.path() + "/small.npy";
  WriteNpyFile(small, "<f4", {10, kCols}, F32Rows(10, kCols));
  result = ShardMapCtl({"import", "t", small});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err,
              HasSubstr(absl::StrCat(small, " holds 10 rows but ", map_file_,
                                     " gives table 't' 30000")));
  result = ShardMapCtl({"import", "t", NpyFile(), "--row-range", "0:10"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("it takes no --server-file"));
}

TEST_F(ShardedTest, ShardMapDropRemovesTheTableFromEveryReplica) {
  const auto drop = [&](const std::vector<std::string>& flags) {
    std::vector<std::string> args = {"drop", "t"};
    args.insert(args.end(), flags.begin(), flags.end());
    return ShardMapCtl(args);
  };
  const auto has_table = [&](int index) {
    const absl::Status described = ReplicaTable(index).status();
    EXPECT_TRUE(described.ok() || absl::IsNotFound(described)) << described;
    return described.ok();
  };

  // A replica down: nothing is dropped anywhere.
  Replica& down = replicas_[Index(1, 1)];
  const std::string down_address = down.process->address();
  down.process.reset();
  CommandResult result = drop({});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err,
              HasSubstr(absl::StrCat("UNAVAILABLE: asking shard [10000, 20000) "
                                     "at ",
                                     down_address,
                                     " for table 't' (nothing "
                                     "was dropped anywhere)")));
  ASSERT_NO_FATAL_FAILURE(StartReplica(down));
  for (int i = 0; i < kShards * kReplicas; ++i) EXPECT_TRUE(has_table(i)) << i;

  // A pin on the last replica refuses the drop there, after the others.
  const int pinned = Index(kShards - 1, kReplicas - 1);
  std::unique_ptr<client::EngramClient> pinner = ReplicaClient(pinned);
  ASSERT_NE(pinner, nullptr);
  ASSERT_TRUE(pinner->PinVersion("t").ok());
  result = drop({});
  EXPECT_EQ(result.exit_code, 1);
  const std::string pinned_at = absl::StrCat(
      "shard [20000, 30000) at ", replicas_[pinned].process->address());
  EXPECT_THAT(result.err,
              HasSubstr(absl::StrCat("FAILED_PRECONDITION: dropping table 't' "
                                     "from ",
                                     pinned_at)));
  EXPECT_THAT(result.err,
              HasSubstr(absl::StrCat("dropped at: shard [0, 10000) at ",
                                     replicas_[0].process->address())));
  EXPECT_THAT(result.err, HasSubstr(absl::StrCat("still served at: ", pinned_at,
                                                 " (servers")));
  for (int i = 0; i < kShards * kReplicas; ++i) {
    EXPECT_EQ(has_table(i), i == pinned) << i;
  }

  // Run again, forced: it goes on where it stopped.
  result = drop({"--force", "--json"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const google::protobuf::Struct json = ParseJson(result.out);
  EXPECT_EQ(json.fields().at("dropped").string_value(), "t");
  const std::vector<google::protobuf::Struct> replicas = ReplicaReports(json);
  ASSERT_EQ(replicas.size(), kShards * kReplicas) << result.out;
  for (int i = 0; i < kShards * kReplicas; ++i) {
    const auto& replica = replicas[i].fields();
    EXPECT_EQ(replica.at("first_row").number_value(),
              i / kReplicas * kRows / kShards);
    EXPECT_EQ(replica.at("dropped").bool_value(), i == pinned) << i;
  }
  EXPECT_EQ(replicas[pinned].fields().at("released_pins").number_value(), 1);
  for (int i = 0; i < kShards * kReplicas; ++i) EXPECT_FALSE(has_table(i));

  result = drop({});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("NOT_FOUND: no server of shard map "));
}

TEST_F(ShardedTest, BadPinsAndPatchesAreRefused) {
  auto client = client::ShardedClient::Create(map_, {});
  ASSERT_TRUE(client.ok()) << client.status();
  // A version only shard 0 has: NOT_FOUND naming a shard without it, and
  // shard 0's pins released again.
  const std::vector<int64_t> first_shard = {3};
  ASSERT_EQ(ApplyPatch(first_shard, kFirstPatch).exit_code, 0);
  const uint64_t only_first = ReplicaVersion(Index(0, 0));
  absl::StatusOr<client::VersionPin> pin =
      (*client)->PinVersion("t", only_first);
  EXPECT_EQ(pin.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(pin.status().message(),
              HasSubstr("shard [10000, 20000) of table 't'"));
  for (int i = 0; i < kShards * kReplicas; ++i) EXPECT_EQ(ReplicaPins(i), 0);
  EXPECT_EQ((*client)->PinVersion("nope").status().code(),
            absl::StatusCode::kNotFound);

  // Shard map and server together, or a shard map for another command.
  const std::string ids_file = dir_.path() + "/ids.npy";
  const std::string rows_file = dir_.path() + "/rows.npy";
  CommandResult refused =
      RunEngramctl(replicas_[0].process->address(),
                   {"--shard-map", map_file_, "patch", "apply", "t", "--ids",
                    ids_file, "--rows", rows_file});
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_THAT(refused.err,
              HasSubstr("--server and --shard-map exclude each other"));
  refused = ShardMapCtl({"patch", "list", "t"});
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_THAT(refused.err,
              HasSubstr("'export', 'import', 'patch apply', 'drop' only, not "
                        "'patch list'"));

  // An id beyond the table: nothing applied anywhere.
  const std::vector<int64_t> beyond = {1, kRows};
  refused = ApplyPatch(beyond, kFirstPatch);
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.err, HasSubstr("row id 30000 at position 1"));
  EXPECT_EQ(ReplicaVersion(Index(0, 0)), only_first);

  // A replica that refuses its part (a patch over its size limit) after
  // another shard took its own: the error names the replica, and says
  // where the patch already is.
  Replica& small = replicas_[Index(2, 1)];
  small.process.reset();
  ASSERT_NO_FATAL_FAILURE(StartReplica(small, {"--max-patch-bytes", "16"}));
  const uint64_t last_shard = ReplicaVersion(Index(2, 1));
  const std::vector<int64_t> two_shards = {4, 2 * kRows / kShards,
                                           2 * kRows / kShards + 1};
  refused = ApplyPatch(two_shards, kSecondPatch);
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.err,
              HasSubstr(absl::StrCat("patching shard [20000, 30000) at "
                                     "replica ",
                                     small.process->address())));
  EXPECT_THAT(refused.err,
              HasSubstr(absl::StrCat("applied and active: shard [0, 10000) at ",
                                     replicas_[Index(0, 0)].process->address(),
                                     " (version ", only_first + 1, ")")));
  EXPECT_THAT(refused.err,
              HasSubstr(absl::StrCat("not applied: shard [20000, 30000) at ",
                                     small.process->address())));
  EXPECT_EQ(ReplicaVersion(Index(0, 1)), only_first + 1);
  EXPECT_EQ(ReplicaVersion(Index(2, 0)), last_shard + 1);
  EXPECT_EQ(ReplicaVersion(Index(2, 1)), last_shard);

  // A replica down: found before anything is applied.
  kill(replicas_[Index(1, 0)].process->pid(), SIGKILL);
  const std::vector<int64_t> first_two = {2, kRows / kShards};
  refused = ApplyPatch(first_two, kSecondPatch);
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.err, HasSubstr(absl::StrCat(
                               "checking shard [10000, 20000) at replica ",
                               replicas_[Index(1, 0)].process->address(),
                               " (nothing was applied anywhere)")));
  EXPECT_EQ(ReplicaVersion(Index(0, 0)), only_first + 1);

  // An unknown sharded pin costs no RPC: NOT_FOUND with every server gone.
  for (Replica& replica : replicas_) replica.process.reset();
  std::string row(kRowBytes, '?');
  const std::vector<uint64_t> one = {3};
  const absl::Status unknown =
      (*client)
          ->Lookup("t", one, absl::MakeSpan(row.data(), row.size()),
                   {.pin_id = 12345})
          .status();
  EXPECT_EQ(unknown.code(), absl::StatusCode::kNotFound) << unknown;
  EXPECT_EQ((*client)->ReleasePin(12345).code(), absl::StatusCode::kNotFound);
}

// A sparse table held whole by two replicas (one shard): lookups through
// the shard map report the rows it lacks, as a direct lookup does.
TEST(ShardedSparseTest, ReplicasOfASparseTableReportItsMissingRows) {
  TempDir dir;
  const std::string rows = F32Rows(2, kCols, 7);
  WriteNpyFile(dir.path() + "/rows.npy", "<f4", {2, kCols}, rows);
  WriteNpyFile(dir.path() + "/ids.npy", "<i8", {2}, Int64s({90, 3}));
  std::vector<std::unique_ptr<ServerProcess>> servers;
  std::string map_text = "table s rows 100\nshard s 0 100";
  for (int r = 0; r < kReplicas; ++r) {
    auto server =
        ServerProcess::Start(absl::StrCat(dir.path(), "/r", r, "/data"), {});
    ASSERT_TRUE(server.ok()) << server.status();
    const CommandResult imported = RunEngramctl(
        (*server)->address(), {"import", "s", dir.path() + "/rows.npy", "--ids",
                               dir.path() + "/ids.npy", "--id-space", "100"});
    ASSERT_EQ(imported.exit_code, 0) << imported.err;
    absl::StrAppend(&map_text, " ", (*server)->address());
    servers.push_back(*std::move(server));
  }
  absl::StatusOr<client::ShardMap> map = client::ParseShardMap(map_text);
  ASSERT_TRUE(map.ok()) << map.status();
  auto sharded = client::ShardedClient::Create(*std::move(map), {});
  ASSERT_TRUE(sharded.ok()) << sharded.status();
  absl::StatusOr<client::TableDescription> described =
      (*sharded)->DescribeTable("s");
  ASSERT_TRUE(described.ok()) << described.status();
  EXPECT_EQ(described->rows, 100);
  EXPECT_EQ(described->rows_written, 2);
  EXPECT_EQ(described->missing_rows, "report");

  // Rounds, so that both replicas answer.
  const std::vector<uint64_t> ids = {3, 4, 90, 99, 3};
  for (int round = 0; round < 2 * kReplicas; ++round) {
    std::string out(ids.size() * kRowBytes, '?');
    absl::StatusOr<client::LookupResult> result =
        (*sharded)->Lookup("s", ids, absl::MakeSpan(out.data(), out.size()));
    ASSERT_TRUE(result.ok()) << result.status();
    for (size_t i = 0; i < ids.size(); ++i) {
      EXPECT_EQ(result->is_missing(i), ids[i] == 4 || ids[i] == 99)
          << "round " << round << ", position " << i;
    }
    EXPECT_EQ(out.substr(0, kRowBytes), rows.substr(kRowBytes, kRowBytes));
    EXPECT_EQ(out.substr(2 * kRowBytes, kRowBytes), rows.substr(0, kRowBytes));
    EXPECT_EQ(out.substr(kRowBytes, kRowBytes), std::string(kRowBytes, '\0'));
  }
  for (const client::ReplicaStats& replica : (*sharded)->replica_stats()) {
    EXPECT_GT(replica.successes, 0) << replica.address;
  }

  // So an export through the shard map writes the rows the table has.
  const std::string map_file = dir.path() + "/shards.txt";
  std::ofstream(map_file) << map_text << "\n";
  const CommandResult exported = RunCommand(
      {EngramctlPath(), "--shard-map", map_file, "export", "s",
       dir.path() + "/out.npy", "--ids", dir.path() + "/out_ids.npy"});
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  absl::StatusOr<std::vector<int64_t>> exported_ids =
      internal::ReadNpyInt64(dir.path() + "/out_ids.npy");
  ASSERT_TRUE(exported_ids.ok()) << exported_ids.status();
  EXPECT_EQ(*exported_ids, std::vector<int64_t>({3, 90}));
}

// Demo layer 3 imported with its hash spec as two shards: a ShardedClient
// addresses token lookups itself and gets the rows the demo server does.
class ShardedTokensTest : public DemoServerTest {
 protected:
  void SetUp() override {
    DemoServerTest::SetUp();
    if (HasFatalFailure()) return;
    for (int s = 0; s < 2; ++s) {
      auto server =
          ServerProcess::Start(absl::StrCat(dir_.path(), "/shard", s), {});
      ASSERT_TRUE(server.ok()) << server.status();
      shards_.push_back(*std::move(server));
    }
    const uint64_t rows = LayerRows(3);
    ranges_ = {{0, rows / 2}, {rows / 2, rows}};
    std::string map_text = absl::StrCat("table layer_3 rows ", rows, "\n");
    for (int s = 0; s < 2; ++s) {
      absl::StrAppend(&map_text, "shard layer_3 ", ranges_[s].first, " ",
                      ranges_[s].second, " ", shards_[s]->address(), "\n");
    }
    absl::StatusOr<client::ShardMap> map = client::ParseShardMap(map_text);
    ASSERT_TRUE(map.ok()) << map.status();
    map_ = *std::move(map);
  }

  // Imports shard `s` of demo layer 3 with the demo's hash flags and
  // `extra` ones.
  void ImportShard(int s, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> flags = {
        "--row-range", absl::StrCat(ranges_[s].first, ":", ranges_[s].second)};
    flags.insert(flags.end(), extra.begin(), extra.end());
    const CommandResult imported =
        ImportDemoLayerTo({"--server", shards_[s]->address()},
                          server_->address(), dir_.path(), 3, "layer_3", flags);
    ASSERT_EQ(imported.exit_code, 0) << imported.err;
  }

  // Two sequences, the second left-padded; 4 rows per token.
  const std::vector<int64_t> tokens_ = {5, 17, 900, 0, 42, 43};
  const std::vector<int32_t> lengths_ = {3, 2};
  const size_t bytes_ = tokens_.size() * 4 * kSmallDemoValues * 4;

  std::vector<std::unique_ptr<ServerProcess>> shards_;
  std::vector<std::pair<uint64_t, uint64_t>> ranges_;
  client::ShardMap map_;
};

TEST_F(ShardedTokensTest, TokenLookupsAcrossShardsEqualTheWholeTables) {
  ASSERT_NO_FATAL_FAILURE(ImportShard(0));
  ASSERT_NO_FATAL_FAILURE(ImportShard(1));
  auto sharded = client::ShardedClient::Create(map_, {});
  ASSERT_TRUE(sharded.ok()) << sharded.status();
  auto whole = Connect();
  ASSERT_TRUE(whole.ok()) << whole.status();
  std::string expected(bytes_, '?');
  std::string got(bytes_, '!');
  ASSERT_TRUE((*whole)
                  ->LookupTokens("layer_3", tokens_, 2, 3, lengths_,
                                 absl::MakeSpan(expected))
                  .ok());
  const absl::StatusOr<client::LookupResult> result = (*sharded)->LookupTokens(
      "layer_3", tokens_, 2, 3, lengths_, absl::MakeSpan(got));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->row_count, tokens_.size() * 4);
  EXPECT_TRUE(got == expected);
  for (const client::ReplicaStats& replica : (*sharded)->replica_stats()) {
    EXPECT_GT(replica.successes, 0) << replica.address;
  }
  EXPECT_EQ(
      (*sharded)
          ->LookupTokens("layer_3", tokens_, 2, 2, {}, absl::MakeSpan(got))
          .status()
          .code(),
      absl::StatusCode::kInvalidArgument);
}

TEST_F(ShardedTokensTest, RawTokensOfACompressedModelAreCompressedWithItsMap) {
  const std::shared_ptr<const CompressionMap> map = DemoCompressionMap(7919);
  const std::string map_file = dir_.path() + "/map.npy";
  WriteCompressionMapNpy(map_file, *map);
  ASSERT_NO_FATAL_FAILURE(ImportShard(0, {"--compression", map_file}));
  ASSERT_NO_FATAL_FAILURE(ImportShard(1, {"--compression", map_file}));
  // The whole layer, on one server that compresses the tokens itself.
  ASSERT_EQ(ImportDemoLayerAs(server_->address(), dir_.path(), 3, "whole_3",
                              {"--compression", map_file})
                .exit_code,
            0);
  auto sharded = client::ShardedClient::Create(map_, {});
  ASSERT_TRUE(sharded.ok()) << sharded.status();
  auto whole = Connect();
  ASSERT_TRUE(whole.ok()) << whole.status();
  // 129999 lies beyond the compressed ids.
  const std::vector<int64_t> raw = {129999, 10, 129290, 0, 42, 43};
  std::string expected(bytes_, '?');
  std::string got(bytes_, '!');
  ASSERT_TRUE((*whole)
                  ->LookupTokens("whole_3", raw, 2, 3, lengths_,
                                 absl::MakeSpan(expected))
                  .ok());
  const absl::StatusOr<client::LookupResult> result = (*sharded)->LookupTokens(
      "layer_3", raw, 2, 3, lengths_, absl::MakeSpan(got));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(got == expected);
  const auto fetched = (*sharded)->GetCompressionMap("layer_3");
  ASSERT_TRUE(fetched.ok()) << fetched.status();
  EXPECT_EQ(CompressionDigest(fetched->get()), CompressionDigest(map.get()));
  const std::vector<int64_t> beyond = {0, 1, 2, 3, kDemoRawVocab, 5};
  const absl::Status refused =
      (*sharded)
          ->LookupTokens("layer_3", beyond, 2, 3, {}, absl::MakeSpan(got))
          .status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.message(),
              HasSubstr("outside the compression map's raw vocabulary"));
}

TEST_F(ShardedTokensTest, AShardAddressedByAnotherSpecServesNoRows) {
  ASSERT_NO_FATAL_FAILURE(ImportShard(0));
  ASSERT_NO_FATAL_FAILURE(ImportShard(1, {"--seed", "1"}));
  auto sharded = client::ShardedClient::Create(map_, {});
  ASSERT_TRUE(sharded.ok()) << sharded.status();
  std::string out(bytes_, '?');
  const absl::Status refused = (*sharded)
                                   ->LookupTokens("layer_3", tokens_, 2, 3,
                                                  lengths_, absl::MakeSpan(out))
                                   .status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.message(), HasSubstr("row ids were computed under hash "
                                           "spec "));
}

}  // namespace
}  // namespace engram::testing

// engramctl drop against a real engram-server: lookups running through the
// drop see rows or NOT_FOUND and nothing else, watches and pins end, and
// neither a restart nor a new import of the name brings the old table back.
#include <atomic>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "client/caching_client.h"
#include "client/engram_client.h"
#include "client/shard_map.h"
#include "client/sharded_client.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "gtest/gtest.h"
#include "tests/cache_warming.h"
#include "tests/test_processes.h"

namespace engram::testing {
namespace {

using ::testing::HasSubstr;

constexpr int kRows = 64;
constexpr int kCols = 4;
constexpr char kToken[] = "s3cret";

// Whether `count` reaches `at_least` within 30 s.
bool ReachesWithin(const std::atomic<int>& count, int at_least) {
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (count.load() < at_least && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  return count.load() >= at_least;
}

class DropTableTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    token_file_ = Path("token");
    std::ofstream(token_file_) << kToken << "\n";
    StartServer();
    WriteNpyFile(Path("old.npy"), "<f4", {kRows, kCols}, F32Rows(kRows, kCols));
    WriteNpyFile(Path("new.npy"), "<f4", {kRows, kCols},
                 F32Rows(kRows, kCols, 1000));
    const CommandResult imported =
        Ctl({"import", "t", Path("old.npy"), "--placement", GetParam()});
    ASSERT_EQ(imported.exit_code, 0) << imported.err;
  }

  void StartServer() {
    server_.reset();
    absl::StatusOr<std::unique_ptr<ServerProcess>> server =
        ServerProcess::Start(Path("data"), {"--admin-token-file", token_file_,
                                            "--ram-budget", "1073741824"});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    client::ClientOptions options;
    options.server_address = server_->address();
    client_ = *client::EngramClient::Create(options);
  }

  std::string Path(const std::string& name) const {
    return dir_.path() + "/" + name;
  }

  CommandResult Ctl(const std::vector<std::string>& args,
                    bool with_token = true) {
    std::vector<std::string> argv;
    if (with_token) argv = {"--token-file", token_file_};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunEngramctl(server_->address(), argv);
  }

  // Row 5 of table "t" as served now: its first value.
  absl::StatusOr<float> FirstValueOfRow5() {
    const uint64_t id = 5;
    float row[kCols];
    absl::StatusOr<client::LookupResult> result = client_->Lookup(
        "t", {&id, 1}, {reinterpret_cast<char*>(row), sizeof(row)});
    if (!result.ok()) return result.status();
    return row[0];
  }

  TempDir dir_;
  std::string token_file_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<client::EngramClient> client_;
};

TEST_P(DropTableTest, DropsOnlineForGood) {
  // Lookups run throughout; each must get the old rows or NOT_FOUND.
  std::atomic<bool> stop = false;
  std::atomic<int> served = 0;
  std::atomic<int> not_found = 0;
  absl::Mutex mu;
  std::vector<std::string> unexpected;
  std::thread lookups([&] {
    while (!stop.load()) {
      absl::StatusOr<float> value = FirstValueOfRow5();
      if (value.ok() && *value == 5.0f) {
        ++served;
      } else if (absl::IsNotFound(value.status())) {
        ++not_found;
      } else {
        absl::MutexLock lock(&mu);
        unexpected.push_back(value.ok() ? absl::StrCat("row 5 = ", *value)
                                        : value.status().ToString());
      }
    }
  });
  absl::Notification watch_ended;
  absl::Status watch_end;
  absl::StatusOr<std::unique_ptr<client::TableWatch>> watch =
      client_->WatchTable("t", [&](absl::StatusOr<client::VersionChange> c) {
        if (c.ok()) return;
        watch_end = c.status();
        watch_ended.Notify();
      });
  ASSERT_TRUE(watch.ok()) << watch.status();
  absl::StatusOr<client::VersionPin> pin = client_->PinVersion("t");
  ASSERT_TRUE(pin.ok()) << pin.status();
  // Stops the lookups however the test ends.
  absl::Cleanup stop_lookups = [&] {
    stop = true;
    lookups.join();
  };
  ASSERT_TRUE(ReachesWithin(served, 20)) << served.load();

  CommandResult result = Ctl({"drop", "t"}, /*with_token=*/false);
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("UNAUTHENTICATED"));
  result = Ctl({"drop", "t"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("FAILED_PRECONDITION"));
  EXPECT_THAT(result.err, HasSubstr("1 live pin(s)"));
  EXPECT_TRUE(FirstValueOfRow5().ok());

  result = Ctl({"drop", "t", "--force", "--json"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const google::protobuf::Struct json = ParseJson(result.out);
  EXPECT_EQ(json.fields().at("dropped").string_value(), "t");
  EXPECT_EQ(json.fields().at("rows").number_value(), kRows);
  EXPECT_EQ(json.fields().at("placement").string_value(), GetParam());
  EXPECT_EQ(json.fields().at("released_pins").number_value(), 1);

  ASSERT_TRUE(ReachesWithin(not_found, 20)) << not_found.load();
  std::move(stop_lookups).Invoke();
  EXPECT_THAT(unexpected, ::testing::IsEmpty());
  ASSERT_TRUE(watch_ended.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_EQ(watch_end.code(), absl::StatusCode::kNotFound) << watch_end;
  EXPECT_EQ(client_->ReleasePin(pin->pin_id).code(),
            absl::StatusCode::kNotFound);
  result = Ctl({"drop", "t"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("NOT_FOUND"));
  watch->reset();

  // A restart does not bring it back; a new import of the name starts over.
  ASSERT_EQ(server_->Terminate(), 0);
  StartServer();
  EXPECT_EQ(FirstValueOfRow5().status().code(), absl::StatusCode::kNotFound);
  result = Ctl({"import", "t", Path("new.npy"), "--placement", GetParam()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  absl::StatusOr<float> value = FirstValueOfRow5();
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ(*value, 1005.0f);
  result = Ctl({"versions", "t", "--json"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(
      ParseJson(result.out).fields().at("versions").list_value().values_size(),
      1);
}

// A worker's cache of a dropped table forgets it, even when a table of
// another shape comes back under the name.
TEST_P(DropTableTest, CachingClientDescribesATableImportedAgain) {
  auto cached = *client::CachingClient::Create(std::move(client_),
                                               {.capacity_bytes = 1 << 20});
  const uint64_t id = 5;
  float old_row[kCols];
  ASSERT_TRUE(LookUpUntilCached(*cached, [&] {
                return cached
                    ->Lookup(
                        "t", {&id, 1},
                        {reinterpret_cast<char*>(old_row), sizeof(old_row)})
                    .status();
              }).ok());
  EXPECT_EQ(old_row[0], 5.0f);

  ASSERT_EQ(Ctl({"drop", "t"}).exit_code, 0);
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (cached->tracked_version("t") != 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  ASSERT_EQ(cached->tracked_version("t"), 0);
  constexpr int kWideCols = 2 * kCols;
  WriteNpyFile(Path("wide.npy"), "<f4", {kRows, kWideCols},
               F32Rows(kRows, kWideCols, 2000));
  const CommandResult imported =
      Ctl({"import", "t", Path("wide.npy"), "--placement", GetParam()});
  ASSERT_EQ(imported.exit_code, 0) << imported.err;

  // The new table is cached again once its watch is up.
  const absl::Status cached_again = LookUpUntilCached(*cached, [&] {
    float wide_row[kWideCols] = {};
    absl::StatusOr<client::LookupResult> result = cached->Lookup(
        "t", {&id, 1}, {reinterpret_cast<char*>(wide_row), sizeof(wide_row)});
    if (!result.ok()) return result.status();
    EXPECT_EQ(result->row_bytes, sizeof(wide_row));
    for (int c = 0; c < kWideCols; ++c) {
      EXPECT_FLOAT_EQ(wide_row[c], 2005.0f + c / 100.0f) << c;
    }
    return absl::OkStatus();
  });
  EXPECT_TRUE(cached_again.ok()) << cached_again;
}

// A ShardedClient laid its lookups out by the row size it learnt first;
// rows of a table imported again with another size are refused, never
// copied at the old offsets, and the next lookup learns the new size.
TEST_P(DropTableTest, ShardedClientLearnsTheRowSizeOfATableImportedAgain) {
  client::ShardMap map;
  map["t"] = {kRows, {{0, kRows, {server_->address()}}}};
  absl::StatusOr<std::unique_ptr<client::ShardedClient>> sharded =
      client::ShardedClient::Create(map, {});
  ASSERT_TRUE(sharded.ok()) << sharded.status();
  const uint64_t id = 5;
  // Looks row 5 up into a buffer of `values` floats; its values, or the
  // error.
  const auto lookup = [&](int values) -> absl::StatusOr<std::vector<float>> {
    std::vector<float> row(values, -1.0f);
    absl::StatusOr<client::LookupResult> result = (*sharded)->Lookup(
        "t", {&id, 1},
        {reinterpret_cast<char*>(row.data()), row.size() * sizeof(float)});
    if (!result.ok()) return result.status();
    if (result->row_bytes != values * sizeof(float)) {
      return absl::InternalError(
          absl::StrCat("rows of ", result->row_bytes, " bytes"));
    }
    return row;
  };
  // Replaces table "t" with one of `values` floats per row, from `base`.
  const auto import_again = [&](int values, float base) {
    const std::string file = Path(absl::StrCat("t", values, ".npy"));
    WriteNpyFile(file, "<f4", {kRows, uint64_t(values)},
                 F32Rows(kRows, values, base));
    ASSERT_EQ(Ctl({"drop", "t"}).exit_code, 0);
    const CommandResult imported =
        Ctl({"import", "t", file, "--placement", GetParam()});
    ASSERT_EQ(imported.exit_code, 0) << imported.err;
  };
  absl::StatusOr<std::vector<float>> row = lookup(kCols);
  ASSERT_TRUE(row.ok()) << row.status();
  EXPECT_EQ((*row)[0], 5.0f);

  // Wider rows do not fit the buffers of the old size.
  import_again(2 * kCols, 2000);
  EXPECT_EQ(lookup(kCols).status().code(), absl::StatusCode::kInvalidArgument);
  row = lookup(2 * kCols);
  ASSERT_TRUE(row.ok()) << row.status();
  EXPECT_EQ((*row)[0], 2005.0f);
  EXPECT_FLOAT_EQ((*row)[2 * kCols - 1], 2005.0f + (2 * kCols - 1) / 100.0f);

  // Narrower rows would fit them, at the wrong offsets.
  import_again(kCols / 2, 3000);
  row = lookup(2 * kCols);
  EXPECT_EQ(row.status().code(), absl::StatusCode::kFailedPrecondition)
      << row.status();
  EXPECT_THAT(row.status().message(),
              HasSubstr("now serves rows of 8 bytes, not the 32"));
  row = lookup(kCols / 2);
  ASSERT_TRUE(row.ok()) << row.status();
  EXPECT_EQ((*row)[0], 3005.0f);
  EXPECT_FLOAT_EQ((*row)[1], 3005.01f);
}

INSTANTIATE_TEST_SUITE_P(Placements, DropTableTest,
                         ::testing::Values("ram", "ssd"),
                         [](const auto& placement) { return placement.param; });

}  // namespace
}  // namespace engram::testing

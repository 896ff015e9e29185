// Whole-process tests of knowledge patches: the real engram-server on a
// loopback port, driven through raw gRPC stubs.
//
//   * a stress test: readers look rows up while a swapper activates and
//     rolls back versions; every row of a response must be of the version
//     the response names (each version's rows encode its number);
//   * kill -9 at random points of upload, commit and activation: after a
//     restart the active version is the previous one or the new one and
//     every committed version still serves its own rows (ENGRAM_KILL_TRIALS
//     trials, 3 by default; `cmake --build build --target nightly` runs 25);
//   * admin and data tokens, the C++ client's pins and version selectors;
//     watches; the worker-side cache's coherence with activations.
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
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
#include "common/logging.h"
#include "common/packed_row_ids.h"
#include "common/status_macros.h"
#include "engram/v1/admin_service.grpc.pb.h"
#include "engram/v1/engram_service.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "tests/test_processes.h"

namespace engram::testing {
namespace {

using ::testing::HasSubstr;

// Rows are {version, id} as two little-endian uint64s; the base (version
// 1) is all zeros, so it reads as version 0.
constexpr uint32_t kRowBytes = 16;

struct EncodedRow {
  uint64_t version;
  uint64_t id;
};

EncodedRow DecodeRow(const char* row) {
  EncodedRow decoded;
  std::memcpy(&decoded.version, row, 8);
  std::memcpy(&decoded.id, row + 8, 8);
  return decoded;
}

uint64_t ExpectedTag(uint64_t version) { return version == 1 ? 0 : version; }

// OK when rows [first, first + count) all hold `version`'s contents (each
// patch of these tests rewrites every row).
absl::Status CheckRowsOfVersion(const char* rows, uint64_t first,
                                uint64_t count, uint64_t version) {
  for (uint64_t i = 0; i < count; ++i) {
    const EncodedRow row = DecodeRow(rows + i * kRowBytes);
    const uint64_t expected_id = version == 1 ? 0 : first + i;
    if (row.version != ExpectedTag(version) || row.id != expected_id) {
      return absl::DataLossError(absl::StrCat(
          "row ", first + i, " of a version ", version,
          " response holds version ", row.version, " id ", row.id));
    }
  }
  return absl::OkStatus();
}

std::string PackedIds(uint64_t first, uint64_t count) {
  std::string packed;
  for (uint64_t id = first; id < first + count; ++id) {
    packed.append(reinterpret_cast<const char*>(&id), sizeof(id));
  }
  return packed;
}

std::string EncodedRows(uint64_t version, uint64_t first, uint64_t count) {
  std::string rows;
  for (uint64_t id = first; id < first + count; ++id) {
    rows.append(reinterpret_cast<const char*>(&version), 8);
    rows.append(reinterpret_cast<const char*>(&id), 8);
  }
  return rows;
}

// A connection to one server, with the admin token (if any) on every call.
class Connection {
 public:
  Connection(const std::string& address, std::string token = "")
      : token_(std::move(token)) {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(64 << 20);
    channel_ = grpc::CreateCustomChannel(
        address, grpc::InsecureChannelCredentials(), args);
    admin_ = v1::EngramAdmin::NewStub(channel_);
    data_ = v1::EngramService::NewStub(channel_);
  }

  std::unique_ptr<grpc::ClientContext> Context() const {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() +
                          std::chrono::seconds(30));
    if (!token_.empty()) {
      context->AddMetadata("authorization", "Bearer " + token_);
    }
    return context;
  }

  // A dense table of `rows` zero rows.
  grpc::Status ImportZeros(const std::string& name, uint64_t rows) {
    auto context = Context();
    v1::ImportTableResponse response;
    auto stream = admin_->ImportTable(context.get(), &response);
    v1::ImportTableRequest header;
    header.mutable_header()->mutable_info()->set_name(name);
    header.mutable_header()->mutable_info()->set_rows(rows);
    header.mutable_header()->mutable_info()->set_row_bytes(kRowBytes);
    header.mutable_header()->mutable_info()->set_element_type(
        v1::ELEMENT_TYPE_OPAQUE);
    stream->Write(header);
    v1::ImportTableRequest body;
    body.set_rows(std::string(rows * kRowBytes, '\0'));
    stream->Write(body);
    stream->WritesDone();
    return stream->Finish();
  }

  // Creates, uploads (in chunks) and commits a patch making every row of a
  // `rows`-row table {version, id}, expecting it to become `version`.
  grpc::Status CommitVersion(const std::string& table, uint64_t rows,
                             uint64_t version, v1::VersionInfo* committed) {
    std::vector<uint64_t> ids(rows);
    for (uint64_t id = 0; id < rows; ++id) ids[id] = id;
    return CommitRows(table, ids, version, committed);
  }

  // The same for rows `ids` only.
  grpc::Status CommitRows(const std::string& table,
                          const std::vector<uint64_t>& ids, uint64_t version,
                          v1::VersionInfo* committed) {
    v1::PatchInfo patch;
    v1::CreatePatchRequest create;
    create.set_table(table);
    grpc::Status status = admin_->CreatePatch(Context().get(), create, &patch);
    if (!status.ok()) return status;
    {
      auto context = Context();
      v1::PatchInfo uploaded;
      auto stream = admin_->UploadPatch(context.get(), &uploaded);
      constexpr size_t kChunkRows = 64 << 10;
      for (size_t first = 0; first < ids.size(); first += kChunkRows) {
        v1::UploadPatchRequest chunk;
        chunk.set_patch_id(patch.patch_id());
        for (size_t i = first; i < std::min(ids.size(), first + kChunkRows);
             ++i) {
          chunk.mutable_row_ids()->append(
              reinterpret_cast<const char*>(&ids[i]), 8);
          chunk.mutable_rows()->append(EncodedRows(version, ids[i], 1));
        }
        if (!stream->Write(chunk)) break;
      }
      stream->WritesDone();
      status = stream->Finish();
      if (!status.ok()) return status;
    }
    v1::CommitPatchRequest commit;
    commit.set_patch_id(patch.patch_id());
    return admin_->CommitPatch(Context().get(), commit, committed);
  }

  grpc::Status Activate(const std::string& table, uint64_t version) {
    v1::ActivateVersionRequest request;
    request.set_table(table);
    request.set_version(version);
    v1::VersionInfo response;
    return admin_->ActivateVersion(Context().get(), request, &response);
  }

  grpc::Status ListVersions(const std::string& table,
                            v1::ListVersionsResponse* response) {
    v1::ListVersionsRequest request;
    request.set_table(table);
    return admin_->ListVersions(Context().get(), request, response);
  }

  // Looks up rows [first, first + count) at `at` and checks that each is
  // of the version the response names; returns that version.
  absl::StatusOr<uint64_t> LookupConsistent(
      const std::string& table, uint64_t first, uint64_t count,
      const v1::VersionSelector& at = {}) {
    v1::LookupRequest request;
    request.set_table(table);
    request.set_row_ids(PackedIds(first, count));
    *request.mutable_at() = at;
    v1::LookupResponse response;
    const grpc::Status status =
        data_->Lookup(Context().get(), request, &response);
    if (!status.ok()) {
      return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                          status.error_message());
    }
    ENGRAM_RETURN_IF_ERROR(CheckRowsOfVersion(response.rows().data(), first,
                                              count, response.version()));
    return response.version();
  }

  v1::EngramAdmin::Stub& admin() { return *admin_; }
  v1::EngramService::Stub& data() { return *data_; }

 private:
  const std::string token_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::EngramAdmin::Stub> admin_;
  std::unique_ptr<v1::EngramService::Stub> data_;
};

TEST(PatchStressTest, EveryResponseIsOfOneVersionWhileVersionsSwap) {
  TempDir dir;
  auto server = ServerProcess::Start(dir.path() + "/data", {});
  ASSERT_TRUE(server.ok()) << server.status();
  Connection admin((*server)->address());
  constexpr uint64_t kRows = 8192;
  ASSERT_TRUE(admin.ImportZeros("t", kRows).ok());
  constexpr uint64_t kVersions = 6;  // 2..7
  for (uint64_t version = 2; version < 2 + kVersions; ++version) {
    v1::VersionInfo committed;
    const grpc::Status status =
        admin.CommitVersion("t", kRows, version, &committed);
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_EQ(committed.version(), version);
  }
  // One reader pins the base version: it must see only version 1.
  v1::PinVersionRequest pin_request;
  pin_request.set_table("t");
  pin_request.set_version(1);
  v1::PinVersionResponse pin;
  ASSERT_TRUE(
      admin.data().PinVersion(admin.Context().get(), pin_request, &pin).ok());

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> lookups{0};
  absl::Mutex mu;
  std::vector<std::string> failures;
  std::vector<std::thread> readers;
  // Two more readers go through a worker-side cache, which must keep every
  // result of one version as versions swap under it.
  client::ClientOptions client_options;
  client_options.server_address = (*server)->address();
  auto cached = client::CachingClient::Create(
      *client::EngramClient::Create(client_options),
      {.capacity_bytes = 1 << 20});
  ASSERT_TRUE(cached.ok()) << cached.status();
  for (int reader = 0; reader < 2; ++reader) {
    readers.emplace_back([&, reader] {
      std::mt19937_64 random(100 + reader);
      std::string rows(1024 * kRowBytes, '\0');
      while (!stop.load()) {
        const uint64_t first = random() % (kRows - 1024);
        std::vector<uint64_t> ids(1024);
        for (uint64_t i = 0; i < 1024; ++i) ids[i] = first + i;
        absl::StatusOr<client::LookupResult> result = (*cached)->Lookup(
            "t", ids, absl::MakeSpan(rows.data(), rows.size()));
        absl::Status checked = result.status();
        if (result.ok()) {
          checked =
              CheckRowsOfVersion(rows.data(), first, 1024, result->version);
        }
        if (!checked.ok()) {
          absl::MutexLock lock(&mu);
          failures.push_back(absl::StrCat("cached: ", checked.message()));
          return;
        }
        lookups.fetch_add(1);
      }
    });
  }
  for (int reader = 0; reader < 4; ++reader) {
    readers.emplace_back([&, reader] {
      Connection connection((*server)->address());
      std::mt19937_64 random(reader);
      v1::VersionSelector at;
      if (reader == 0) at.set_pin_id(pin.pin_id());
      while (!stop.load()) {
        const uint64_t first = random() % (kRows - 1024);
        absl::StatusOr<uint64_t> version =
            connection.LookupConsistent("t", first, 1024, at);
        if (version.ok() && reader == 0 && *version != 1) {
          version = absl::InternalError(
              absl::StrCat("pinned reader got version ", *version));
        }
        if (!version.ok()) {
          absl::MutexLock lock(&mu);
          failures.push_back(std::string(version.status().message()));
          return;
        }
        lookups.fetch_add(1);
      }
    });
  }
  std::mt19937_64 random(42);
  int swaps = 0;
  for (; swaps < 200; ++swaps) {
    const uint64_t version = 1 + random() % (kVersions + 1);
    const grpc::Status status = admin.Activate("t", version);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  absl::SleepFor(absl::Milliseconds(200));
  stop = true;
  for (std::thread& reader : readers) reader.join();
  EXPECT_THAT(failures, ::testing::IsEmpty());
  EXPECT_GT(lookups.load(), 20u);
  EXPECT_EQ(swaps, 200);
  EXPECT_GT((*cached)->stats().hits, 0u);
}

// The next version a committed patch will get, and what a restart must
// show: the active version before the attempt, or the one it made.
struct DurabilityState {
  uint64_t active = 1;
  uint64_t newest = 1;
};

TEST(PatchDurabilityTest, KillNineLeavesOldOrNewVersionNeverAMix) {
  const char* trials_env = std::getenv("ENGRAM_KILL_TRIALS");
  const int trials = trials_env != nullptr ? std::atoi(trials_env) : 3;
  TempDir dir;
  const std::string data_dir = dir.path() + "/data";
  constexpr uint64_t kRows = 100000;
  DurabilityState state;
  {
    auto server = ServerProcess::Start(data_dir, {});
    ASSERT_TRUE(server.ok()) << server.status();
    ASSERT_TRUE(Connection((*server)->address()).ImportZeros("t", kRows).ok());
  }
  std::mt19937_64 random(7);
  int killed_before_commit = 0;
  int killed_after_commit = 0;
  for (int trial = 0; trial < trials; ++trial) {
    auto server = ServerProcess::Start(data_dir, {});
    ASSERT_TRUE(server.ok()) << server.status();
    const pid_t pid = (*server)->pid();
    std::thread killer([pid, delay = random() % 120] {
      absl::SleepFor(absl::Milliseconds(delay));
      kill(pid, SIGKILL);
    });
    Connection connection((*server)->address());
    v1::VersionInfo committed;
    const grpc::Status committing =
        connection.CommitVersion("t", kRows, state.newest + 1, &committed);
    const bool activated =
        committing.ok() && connection.Activate("t", committed.version()).ok();
    killer.join();
    server->reset();

    auto restarted = ServerProcess::Start(data_dir, {});
    ASSERT_TRUE(restarted.ok()) << restarted.status();
    Connection check((*restarted)->address());
    v1::ListVersionsResponse versions;
    ASSERT_TRUE(check.ListVersions("t", &versions).ok());
    const uint64_t attempted = state.newest + 1;
    // Acknowledged changes are never lost; unacknowledged ones are whole or
    // absent.
    if (committing.ok()) {
      ASSERT_EQ(versions.versions(0).version(), attempted);
    }
    if (activated) ASSERT_EQ(versions.active_version(), attempted);
    ASSERT_TRUE(versions.active_version() == state.active ||
                versions.active_version() == attempted)
        << "active " << versions.active_version() << " after trial " << trial;
    EXPECT_EQ(versions.uploading_size(), 0);
    for (const v1::VersionInfo& version : versions.versions()) {
      v1::VersionSelector at;
      at.set_version(version.version());
      absl::StatusOr<uint64_t> served =
          check.LookupConsistent("t", 0, kRows, at);
      ASSERT_TRUE(served.ok()) << served.status();
      EXPECT_EQ(*served, version.version());
    }
    ASSERT_TRUE(check.LookupConsistent("t", 0, kRows).ok());
    const bool made = versions.versions(0).version() == attempted;
    (made ? killed_after_commit : killed_before_commit)++;
    state.active = versions.active_version();
    state.newest = versions.versions(0).version();
  }
  LOG(INFO) << trials << " trials: killed before the commit landed "
            << killed_before_commit << " times, after " << killed_after_commit;
}

class TokenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string admin_file = dir_.path() + "/admin.token";
    const std::string data_file = dir_.path() + "/data.token";
    std::ofstream(admin_file) << "admin-secret\n";
    std::ofstream(data_file) << "data-secret\n";
    auto server = ServerProcess::Start(
        dir_.path() + "/data",
        {"--admin-token-file", admin_file, "--data-token-file", data_file});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  TempDir dir_;
  std::unique_ptr<ServerProcess> server_;
};

TEST_F(TokenTest, AdminCallsNeedTheAdminTokenAndChangeNothingWithout) {
  Connection anonymous(server_->address());
  Connection wrong(server_->address(), "guess");
  Connection admin(server_->address(), "admin-secret");
  const grpc::Status no_token = anonymous.ImportZeros("t", 16);
  EXPECT_EQ(no_token.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(no_token.error_message(), HasSubstr("Bearer"));
  EXPECT_EQ(wrong.ImportZeros("t", 16).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  ASSERT_TRUE(admin.ImportZeros("t", 16).ok());

  v1::VersionInfo committed;
  EXPECT_EQ(wrong.CommitVersion("t", 16, 2, &committed).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(anonymous.Activate("t", 1).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  v1::ListVersionsResponse versions;
  ASSERT_TRUE(admin.ListVersions("t", &versions).ok());
  EXPECT_EQ(versions.versions_size(), 1);
  EXPECT_EQ(versions.uploading_size(), 0);
}

TEST_F(TokenTest, DataCallsNeedTheDataToken) {
  ASSERT_TRUE(
      Connection(server_->address(), "admin-secret").ImportZeros("t", 16).ok());
  EXPECT_EQ(Connection(server_->address())
                .LookupConsistent("t", 0, 4)
                .status()
                .code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(Connection(server_->address(), "admin-secret")
                .LookupConsistent("t", 0, 4)
                .status()
                .code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(Connection(server_->address(), "data-secret")
                  .LookupConsistent("t", 0, 4)
                  .ok());
}

// The C++ client's side: its token, version selectors and pins.
TEST_F(TokenTest, ClientPinsAndSelectsVersionsWithItsToken) {
  Connection admin(server_->address(), "admin-secret");
  ASSERT_TRUE(admin.ImportZeros("t", 64).ok());
  v1::VersionInfo v2;
  ASSERT_TRUE(admin.CommitVersion("t", 64, 2, &v2).ok());

  client::ClientOptions options;
  options.server_address = server_->address();
  options.bearer_token = "data-secret";
  auto client = client::EngramClient::Create(options);
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<client::VersionPin> pin =
      (*client)->PinVersion("t", 0, absl::Seconds(30));
  ASSERT_TRUE(pin.ok()) << pin.status();
  EXPECT_EQ(pin->version, 1);
  EXPECT_EQ(pin->ttl, absl::Seconds(30));
  ASSERT_TRUE(admin.Activate("t", 2).ok());

  const std::vector<uint64_t> ids = {7};
  std::string row(kRowBytes, '?');
  const auto lookup = [&](const client::LookupOptions& at) {
    return (*client)->Lookup("t", ids, absl::MakeSpan(row.data(), row.size()),
                             at);
  };
  absl::StatusOr<client::LookupResult> pinned = lookup({.pin_id = pin->pin_id});
  ASSERT_TRUE(pinned.ok()) << pinned.status();
  EXPECT_EQ(pinned->version, 1);
  EXPECT_EQ(DecodeRow(row.data()).version, 0);
  absl::StatusOr<client::LookupResult> active = lookup({});
  ASSERT_TRUE(active.ok());
  EXPECT_EQ(active->version, 2);
  EXPECT_EQ(DecodeRow(row.data()).version, 2);
  absl::StatusOr<client::LookupResult> named = lookup({.version = 1});
  ASSERT_TRUE(named.ok());
  EXPECT_EQ(named->version, 1);

  ASSERT_TRUE((*client)->ReleasePin(pin->pin_id).ok());
  EXPECT_EQ(lookup({.pin_id = pin->pin_id}).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ((*client)->ReleasePin(pin->pin_id).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(lookup({.version = 9}).status().code(),
            absl::StatusCode::kNotFound);

  options.bearer_token = "guess";
  auto wrong = client::EngramClient::Create(options);
  ASSERT_TRUE(wrong.ok());
  EXPECT_EQ((*wrong)->PinVersion("t").status().code(),
            absl::StatusCode::kPermissionDenied);
}

TEST(CachingClientTest, AnActivationInvalidatesExactlyTheChangedRows) {
  TempDir dir;
  auto server = ServerProcess::Start(dir.path() + "/data", {});
  ASSERT_TRUE(server.ok()) << server.status();
  Connection admin((*server)->address());
  ASSERT_TRUE(admin.ImportZeros("t", 64).ok());
  client::ClientOptions options;
  options.server_address = (*server)->address();
  auto cached = client::CachingClient::Create(
      *client::EngramClient::Create(options), {.capacity_bytes = 1 << 20});
  ASSERT_TRUE(cached.ok()) << cached.status();
  std::vector<uint64_t> ids(64);
  for (uint64_t id = 0; id < 64; ++id) ids[id] = id;
  std::string rows(64 * kRowBytes, '?');
  const auto lookup = [&] {
    return (*cached)->Lookup("t", ids,
                             absl::MakeSpan(rows.data(), rows.size()));
  };
  EXPECT_EQ((*cached)->StartCaching("nope").code(),
            absl::StatusCode::kNotFound);
  ASSERT_TRUE((*cached)->StartCaching("t").ok());
  EXPECT_EQ((*cached)->tracked_version("t"), 1);
  ASSERT_TRUE(lookup().ok());
  EXPECT_EQ((*cached)->stats().misses, 64u);
  ASSERT_TRUE(lookup().ok());
  EXPECT_EQ((*cached)->stats().hits, 64u);

  v1::VersionInfo committed;
  ASSERT_TRUE(admin.CommitRows("t", {3, 40}, 2, &committed).ok());
  ASSERT_TRUE(admin.Activate("t", 2).ok());
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while ((*cached)->tracked_version("t") != 2 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  ASSERT_EQ((*cached)->tracked_version("t"), 2);
  EXPECT_EQ((*cached)->stats().invalidated, 2u);

  absl::StatusOr<client::LookupResult> after = lookup();
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->version, 2);
  const client::CacheStats stats = (*cached)->stats();
  EXPECT_EQ(stats.hits, 64u + 62u);
  EXPECT_EQ(stats.misses, 64u + 2u);
  for (uint64_t id = 0; id < 64; ++id) {
    const EncodedRow row = DecodeRow(rows.data() + id * kRowBytes);
    const bool patched = id == 3 || id == 40;
    EXPECT_EQ(row.version, patched ? 2u : 0u) << id;
  }
  // A pinned lookup goes to the server, at its version.
  absl::StatusOr<client::VersionPin> pin = (*cached)->PinVersion("t", 1);
  ASSERT_TRUE(pin.ok());
  absl::StatusOr<client::LookupResult> pinned =
      (*cached)->Lookup("t", ids, absl::MakeSpan(rows.data(), rows.size()),
                        {.pin_id = pin->pin_id});
  ASSERT_TRUE(pinned.ok());
  EXPECT_EQ(pinned->version, 1);
  EXPECT_EQ(DecodeRow(rows.data() + 3 * kRowBytes).version, 0u);
  EXPECT_EQ((*cached)->stats().bypassed, 1u);
}

TEST(AdminExposureTest, RefusesANetworkAddressWithoutAdminToken) {
  TempDir dir;
  const CommandResult result =
      RunCommand({ServerPath(), "--listen", "0.0.0.0:0", "--data-dir",
                  dir.path() + "/data"});
  EXPECT_NE(result.exit_code, 0);
  EXPECT_THAT(result.err, HasSubstr("--admin-token-file"));
}

TEST(AdminExposureTest, ServesAdminCallsOnAUnixSocketWithoutAdminToken) {
  TempDir dir;
  const std::string socket = "unix:" + dir.path() + "/engram.sock";
  auto server =
      ServerProcess::Start(dir.path() + "/data", {"--listen", socket});
  ASSERT_TRUE(server.ok()) << server.status();
  Connection connection(socket);
  ASSERT_TRUE(connection.ImportZeros("t", 8).ok());
  v1::DescribeTableRequest describe;
  describe.set_table("t");
  v1::TableInfo info;
  ASSERT_TRUE(connection.data()
                  .DescribeTable(connection.Context().get(), describe, &info)
                  .ok());
  EXPECT_EQ(info.rows(), 8u);
  // gRPC's "port" of a Unix socket (1) is not named as if it were TCP's.
  EXPECT_THAT((*server)->Log(), HasSubstr("tables on " + socket + "\n"));
}

TEST(WatchTest, AnnouncesCurrentThenActivationsWithChangedRows) {
  TempDir dir;
  auto server = ServerProcess::Start(dir.path() + "/data", {});
  ASSERT_TRUE(server.ok()) << server.status();
  Connection connection((*server)->address());
  ASSERT_TRUE(connection.ImportZeros("t", 64).ok());
  v1::PatchInfo patch;
  v1::CreatePatchRequest create;
  create.set_table("t");
  ASSERT_TRUE(connection.admin()
                  .CreatePatch(connection.Context().get(), create, &patch)
                  .ok());
  {
    auto context = connection.Context();
    v1::PatchInfo uploaded;
    auto stream = connection.admin().UploadPatch(context.get(), &uploaded);
    v1::UploadPatchRequest chunk;
    chunk.set_patch_id(patch.patch_id());
    std::string ids;
    for (uint64_t id : {40, 3}) {
      ids.append(reinterpret_cast<const char*>(&id), 8);
    }
    chunk.set_row_ids(ids);
    chunk.set_rows(std::string(2 * kRowBytes, 'x'));
    ASSERT_TRUE(stream->Write(chunk));
    stream->WritesDone();
    ASSERT_TRUE(stream->Finish().ok());
  }
  v1::CommitPatchRequest commit;
  commit.set_patch_id(patch.patch_id());
  v1::VersionInfo committed;
  ASSERT_TRUE(connection.admin()
                  .CommitPatch(connection.Context().get(), commit, &committed)
                  .ok());

  grpc::ClientContext watch_context;
  v1::WatchTableRequest watch;
  watch.set_table("t");
  auto events = connection.data().WatchTable(&watch_context, watch);
  v1::VersionEvent event;
  ASSERT_TRUE(events->Read(&event));
  EXPECT_EQ(event.kind(), v1::VersionEvent::CURRENT);
  EXPECT_EQ(event.version(), 1);
  ASSERT_TRUE(connection.Activate("t", committed.version()).ok());
  ASSERT_TRUE(events->Read(&event));
  EXPECT_EQ(event.kind(), v1::VersionEvent::ACTIVATED);
  EXPECT_EQ(event.version(), committed.version());
  EXPECT_EQ(event.previous_version(), 1);
  EXPECT_TRUE(event.last_part());
  EXPECT_EQ(event.changed_row_ids(), PackedIds(3, 1) + PackedIds(40, 1));
  // A server that stops ends its watches rather than waiting on them.
  EXPECT_EQ((*server)->Terminate(absl::Seconds(20)), 0);
  EXPECT_FALSE(events->Read(&event));
  const grpc::Status ended = events->Finish();
  EXPECT_EQ(ended.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(ended.error_message(), HasSubstr("shutting down"));
}

}  // namespace
}  // namespace engram::testing

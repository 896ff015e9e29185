// Tests the Redis and memcached clients against real redis-server and
// memcached processes on loopback (Debian's redis-server and memcached
// packages); each test skips when its store is not installed.
#include "bench/baseline_backends.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <ostream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace engram::bench {

// Names the parameter in test names and ctest listings ("redis", not bytes).
void PrintTo(BaselineKind kind, std::ostream* os) {
  *os << (kind == BaselineKind::kRedis ? "redis" : "memcached");
}

namespace {

using ::testing::HasSubstr;

// A loopback port nothing listens on right now. The store binds it a moment
// later; StoreProcess::Start retries if another process took it meanwhile.
int PickFreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (fd < 0 ||
      bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    if (fd >= 0) close(fd);
    return 0;
  }
  close(fd);
  return ntohs(addr.sin_port);
}

bool AcceptsConnections(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok =
      connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

std::string FindBinary(const std::string& name) {
  for (const char* dir : {"/usr/bin/", "/usr/local/bin/", "/usr/sbin/"}) {
    const std::string path = std::string(dir) + name;
    if (access(path.c_str(), X_OK) == 0) return path;
  }
  return "";
}

// A fresh directory under $TEST_TMPDIR or /tmp, removed on destruction.
class TempDir {
 public:
  TempDir() {
    const char* root = std::getenv("TEST_TMPDIR");
    std::string pattern = absl::StrCat(root != nullptr ? root : "/tmp",
                                       "/baseline_backends_test.XXXXXX");
    if (mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// One redis-server or memcached child process on 127.0.0.1:port(), killed
// on destruction.
class StoreProcess {
 public:
  // `make_argv` builds the command line for a port. Gives up (nullptr) when
  // three tries do not produce a listening server.
  static std::unique_ptr<StoreProcess> Start(
      const std::function<std::vector<std::string>(int)>& make_argv,
      const std::string& log_path) {
    for (int attempt = 0; attempt < 3; ++attempt) {
      const int port = PickFreePort();
      if (port == 0) continue;
      auto process = std::unique_ptr<StoreProcess>(new StoreProcess);
      process->port_ = port;
      process->pid_ = Spawn(make_argv(port), log_path);
      if (process->pid_ < 0) return nullptr;
      const absl::Time deadline = absl::Now() + absl::Seconds(10);
      while (absl::Now() < deadline && process->Running()) {
        if (AcceptsConnections(port)) return process;
        absl::SleepFor(absl::Milliseconds(10));
      }
    }
    return nullptr;
  }

  ~StoreProcess() { Kill(); }

  int port() const { return port_; }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }

  bool Running() {
    if (pid_ < 0) return false;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) pid_ = -1;
    return pid_ >= 0;
  }

  // SIGKILL: the stores hold nothing worth flushing, and memcached takes
  // about a second to honour SIGTERM, which would dominate the test time.
  void Kill() {
    if (!Running()) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  StoreProcess() = default;

  static pid_t Spawn(const std::vector<std::string>& argv,
                     const std::string& log_path) {
    std::vector<char*> args;
    for (const std::string& arg : argv)
      args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    const pid_t pid = fork();
    if (pid != 0) return pid;
    // Child: a crashed test must not leave stores running.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    const int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    const int null_in = open("/dev/null", O_RDONLY);
    if (log >= 0) {
      dup2(log, STDOUT_FILENO);
      dup2(log, STDERR_FILENO);
    }
    if (null_in >= 0) dup2(null_in, STDIN_FILENO);
    execv(args[0], args.data());
    _exit(127);
  }

  pid_t pid_ = -1;
  int port_ = 0;
};

std::unique_ptr<StoreProcess> StartStore(BaselineKind kind,
                                         const std::string& binary,
                                         const std::string& dir) {
  if (kind == BaselineKind::kRedis) {
    return StoreProcess::Start(
        [&](int port) -> std::vector<std::string> {
          return {binary,   "--port", absl::StrCat(port), "--bind", "127.0.0.1",
                  "--save", "",       "--appendonly",     "no",     "--dir",
                  dir};
        },
        dir + "/redis.log");
  }
  return StoreProcess::Start(
      [&](int port) -> std::vector<std::string> {
        // -u root: memcached refuses to start as root without it, and test
        // containers often run as root.
        std::vector<std::string> argv = {
            binary, "-l", "127.0.0.1", "-p", absl::StrCat(port),
            "-U",   "0",  "-m",        "256"};
        if (geteuid() == 0) {
          argv.push_back("-u");
          argv.push_back("root");
        }
        return argv;
      },
      dir + "/memcached.log");
}

std::string Expected(const std::vector<uint64_t>& ids, uint32_t row_bytes) {
  std::string want(ids.size() * row_bytes, '\0');
  for (size_t i = 0; i < ids.size(); ++i) {
    FillBaselineRow(ids[i], row_bytes, want.data() + i * row_bytes);
  }
  return want;
}

// Random ids in [0, rows) in random order; with rows < count, duplicates are
// certain.
std::vector<uint64_t> RandomIds(size_t count, uint64_t rows, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<uint64_t> ids(count);
  for (uint64_t& id : ids) id = rng() % rows;
  return ids;
}

class BaselineBackendTest : public ::testing::TestWithParam<BaselineKind> {
 protected:
  void SetUp() override {
    const std::string name =
        GetParam() == BaselineKind::kRedis ? "redis-server" : "memcached";
    const std::string binary = FindBinary(name);
    if (binary.empty()) {
      GTEST_SKIP() << name << " is not installed (apt-get install " << name
                   << "); skipping the " << name << " baseline tests";
    }
    ASSERT_FALSE(dir_.path().empty()) << "cannot create a temp dir";
    store_ = StartStore(GetParam(), binary, dir_.path());
    ASSERT_NE(store_, nullptr)
        << name << " did not start; see the logs in " << dir_.path();
  }

  void TearDown() override {
    if (store_ != nullptr) store_->Kill();
  }

  absl::StatusOr<BackendFactory> Factory(TableShape shape, bool populate) {
    return BaselineBackendFactory(GetParam(), store_->address(), shape,
                                  populate);
  }

  TempDir dir_;
  std::unique_ptr<StoreProcess> store_;
};

TEST_P(BaselineBackendTest, FetchesRandomBatchWithDuplicates) {
  const TableShape shape{.rows = 1000, .row_bytes = 128};
  absl::StatusOr<BackendFactory> factory = Factory(shape, /*populate=*/true);
  ASSERT_TRUE(factory.ok()) << factory.status();
  absl::StatusOr<std::unique_ptr<BenchBackend>> backend = (*factory)();
  ASSERT_TRUE(backend.ok()) << backend.status();

  // 4096 keys: the batch engram-bench uses, past any one-line limit.
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    const std::vector<uint64_t> ids = RandomIds(4096, shape.rows, seed);
    std::string out(ids.size() * shape.row_bytes, '\0');
    ASSERT_TRUE((*backend)->Fetch(ids, out.data()).ok());
    EXPECT_TRUE(out == Expected(ids, shape.row_bytes)) << "seed " << seed;
  }
  // More keys than one memcached `get` carries: split and pipelined.
  {
    const std::vector<uint64_t> ids = RandomIds(10000, shape.rows, 4);
    std::string out(ids.size() * shape.row_bytes, '\0');
    ASSERT_TRUE((*backend)->Fetch(ids, out.data()).ok());
    EXPECT_TRUE(out == Expected(ids, shape.row_bytes));
  }
  // Edge batches: one row, the same row repeated, the last row.
  for (const std::vector<uint64_t>& ids :
       {std::vector<uint64_t>{0}, std::vector<uint64_t>{7, 7, 7, 7},
        std::vector<uint64_t>{shape.rows - 1, 0}}) {
    std::string out(ids.size() * shape.row_bytes, '\0');
    ASSERT_TRUE((*backend)->Fetch(ids, out.data()).ok());
    EXPECT_TRUE(out == Expected(ids, shape.row_bytes));
  }
}

TEST_P(BaselineBackendTest, StreamsRepliesLargerThanTheReadBuffer) {
  // 4096 rows of 3000 bytes is a 12 MB reply, many read-buffer refills, and
  // rows straddle refills at odd offsets.
  const TableShape shape{.rows = 500, .row_bytes = 3000};
  absl::StatusOr<BackendFactory> factory = Factory(shape, /*populate=*/true);
  ASSERT_TRUE(factory.ok()) << factory.status();
  absl::StatusOr<std::unique_ptr<BenchBackend>> backend = (*factory)();
  ASSERT_TRUE(backend.ok()) << backend.status();
  const std::vector<uint64_t> ids = RandomIds(4096, shape.rows, 11);
  std::string out(ids.size() * shape.row_bytes, '\0');
  ASSERT_TRUE((*backend)->Fetch(ids, out.data()).ok());
  EXPECT_TRUE(out == Expected(ids, shape.row_bytes));
}

TEST_P(BaselineBackendTest, WorkersFetchConcurrently) {
  const TableShape shape{.rows = 2000, .row_bytes = 64};
  absl::StatusOr<BackendFactory> factory = Factory(shape, /*populate=*/true);
  ASSERT_TRUE(factory.ok()) << factory.status();
  std::vector<std::unique_ptr<BenchBackend>> backends;
  for (int i = 0; i < 4; ++i) {
    absl::StatusOr<std::unique_ptr<BenchBackend>> backend = (*factory)();
    ASSERT_TRUE(backend.ok()) << backend.status();
    backends.push_back(*std::move(backend));
  }
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < 4; ++w) {
    threads.emplace_back([&, w] {
      for (int round = 0; round < 20; ++round) {
        const std::vector<uint64_t> ids =
            RandomIds(512, shape.rows, 100 * w + round);
        std::string out(ids.size() * shape.row_bytes, '\0');
        if (!backends[w]->Fetch(ids, out.data()).ok() ||
            out != Expected(ids, shape.row_bytes)) {
          ++mismatches;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(mismatches.load(), 0);
}

TEST_P(BaselineBackendTest, MissingKeyIsNotFoundAndConnectionStaysUsable) {
  const TableShape shape{.rows = 100, .row_bytes = 32};
  absl::StatusOr<BackendFactory> factory = Factory(shape, /*populate=*/true);
  ASSERT_TRUE(factory.ok()) << factory.status();
  absl::StatusOr<std::unique_ptr<BenchBackend>> backend = (*factory)();
  ASSERT_TRUE(backend.ok()) << backend.status();

  const std::vector<uint64_t> with_missing = {3, 500, 4, 501, 3};
  std::string out(with_missing.size() * shape.row_bytes, '\0');
  const absl::Status status = (*backend)->Fetch(with_missing, out.data());
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("r:500"));
  // The rows that exist were still delivered to their positions.
  EXPECT_EQ(out.substr(0, shape.row_bytes), Expected({3}, shape.row_bytes));
  EXPECT_EQ(out.substr(4 * shape.row_bytes), Expected({3}, shape.row_bytes));

  // Misses at the end of one pipelined memcached `get` and of the batch.
  std::vector<uint64_t> long_batch = RandomIds(8200, shape.rows, 6);
  long_batch[4095] = 777;
  long_batch[8199] = 778;
  std::string long_out(long_batch.size() * shape.row_bytes, '\0');
  const absl::Status long_status =
      (*backend)->Fetch(long_batch, long_out.data());
  EXPECT_EQ(long_status.code(), absl::StatusCode::kNotFound) << long_status;
  EXPECT_THAT(std::string(long_status.message()), HasSubstr("r:777"));
  const std::string want = Expected(long_batch, shape.row_bytes);
  for (const size_t i : {size_t{0}, size_t{4094}, size_t{4096}, size_t{8198}}) {
    EXPECT_EQ(long_out.substr(i * shape.row_bytes, shape.row_bytes),
              want.substr(i * shape.row_bytes, shape.row_bytes))
        << "row " << i;
  }

  const std::vector<uint64_t> ids = {99, 0, 42};
  std::string again(ids.size() * shape.row_bytes, '\0');
  ASSERT_TRUE((*backend)->Fetch(ids, again.data()).ok());
  EXPECT_EQ(again, Expected(ids, shape.row_bytes));
}

TEST_P(BaselineBackendTest, UnpopulatedStoreIsNotFound) {
  const absl::StatusOr<BackendFactory> factory =
      Factory({.rows = 10, .row_bytes = 16}, /*populate=*/false);
  EXPECT_EQ(factory.status().code(), absl::StatusCode::kNotFound)
      << factory.status();
  EXPECT_THAT(std::string(factory.status().message()), HasSubstr("--populate"));
}

TEST_P(BaselineBackendTest, StoreGoneIsUnavailable) {
  const TableShape shape{.rows = 10, .row_bytes = 16};
  absl::StatusOr<BackendFactory> factory = Factory(shape, /*populate=*/true);
  ASSERT_TRUE(factory.ok()) << factory.status();
  absl::StatusOr<std::unique_ptr<BenchBackend>> backend = (*factory)();
  ASSERT_TRUE(backend.ok()) << backend.status();
  store_->Kill();
  const std::vector<uint64_t> ids = {1, 2};
  std::string out(ids.size() * shape.row_bytes, '\0');
  // The first call may see the reset connection, the second must fail to
  // reconnect; both are Unavailable.
  for (int i = 0; i < 2; ++i) {
    const absl::Status status = (*backend)->Fetch(ids, out.data());
    EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Stores, BaselineBackendTest,
    ::testing::Values(BaselineKind::kRedis, BaselineKind::kMemcached),
    [](const ::testing::TestParamInfo<BaselineKind>& info) {
      return info.param == BaselineKind::kRedis ? "Redis" : "Memcached";
    });

TEST(BaselineBackendFactoryTest, UnreachablePortIsUnavailable) {
  const int port = PickFreePort();
  ASSERT_NE(port, 0);
  const std::string address = absl::StrCat("127.0.0.1:", port);
  for (const BaselineKind kind :
       {BaselineKind::kRedis, BaselineKind::kMemcached}) {
    const absl::StatusOr<BackendFactory> factory = BaselineBackendFactory(
        kind, address, {.rows = 10, .row_bytes = 16}, /*populate=*/false);
    EXPECT_EQ(factory.status().code(), absl::StatusCode::kUnavailable)
        << factory.status();
    EXPECT_THAT(std::string(factory.status().message()), HasSubstr(address));
    EXPECT_THAT(std::string(factory.status().message()),
                HasSubstr(std::strerror(ECONNREFUSED)));
  }
}

TEST(BaselineBackendFactoryTest, MalformedAddressIsInvalidArgument) {
  for (const char* address :
       {"127.0.0.1", "127.0.0.1:", ":6379", "127.0.0.1:port", "127.0.0.1:0",
        "127.0.0.1:70000", "::1:6379", "[::1:6379"}) {
    const absl::StatusOr<BackendFactory> factory = BaselineBackendFactory(
        BaselineKind::kRedis, address, {.rows = 10, .row_bytes = 16},
        /*populate=*/false);
    EXPECT_EQ(factory.status().code(), absl::StatusCode::kInvalidArgument)
        << address << ": " << factory.status();
  }
}

TEST(BaselineBackendFactoryTest, EmptyTableIsInvalidArgument) {
  const absl::StatusOr<BackendFactory> factory = BaselineBackendFactory(
      BaselineKind::kMemcached, "127.0.0.1:11211", {.rows = 0, .row_bytes = 16},
      /*populate=*/false);
  EXPECT_EQ(factory.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace engram::bench

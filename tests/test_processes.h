// Helpers for tests that run the project's real binaries: a temp directory,
// an engram-server process on a loopback ephemeral port, and one-shot
// command runs with their output.
//
//   TempDir dir;
//   absl::StatusOr<std::unique_ptr<ServerProcess>> server =
//       ServerProcess::Start(dir.path() + "/data", {"--demo"});
//   CommandResult result = RunEngramctl((*server)->address(), {"tables"});
#ifndef ENGRAM_TESTS_TEST_PROCESSES_H_
#define ENGRAM_TESTS_TEST_PROCESSES_H_

#include <netinet/in.h>
#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "google/protobuf/struct.pb.h"

namespace engram::testing {

// A fresh directory under $TEST_TMPDIR or /tmp, removed on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Path of a binary built by this project, e.g.
// BinaryPath("server/engram-server").
std::string BinaryPath(const std::string& relative);
std::string ServerPath();
std::string EngramctlPath();
std::string BenchPath();

// The bytes of the file at `path`; empty if it cannot be read.
std::string ReadFile(const std::string& path);

// A rows x cols f32 array whose element (r, c) is base + r + c / 100, as
// raw little-endian bytes (for WriteNpyFile, or to compare rows with).
std::string F32Rows(int rows, int cols, float base = 0);

// `values` as raw little-endian bytes (for WriteNpyFile with "<i8").
std::string Int64s(const std::vector<int64_t>& values);

// The JSON object a command printed; a test failure naming the text (and
// an empty Struct) when it is none.
google::protobuf::Struct ParseJson(const std::string& text);

// Writes a .npy file (format 1.0) of dtype `descr` (e.g. "<f4"), `shape`
// and raw little-endian `data`, as np.save would.
void WriteNpyFile(const std::string& path, const std::string& descr,
                  const std::vector<uint64_t>& shape, const std::string& data);

// One tensor of a .safetensors file.
struct SafetensorsTensor {
  std::string name;
  std::string dtype;  // e.g. "F32", "BF16"
  std::vector<uint64_t> shape;
  std::string data;
};

// The bytes of a .safetensors file holding `tensors` in order.
std::string SafetensorsBytes(const std::vector<SafetensorsTensor>& tensors);

struct CommandResult {
  int exit_code = -1;  // -1 if it did not exit normally.
  std::string out;
  std::string err;
};

// Runs argv[0] with `argv`, no stdin, and waits (at most `timeout`; then it
// is killed and exit_code is -1).
CommandResult RunCommand(const std::vector<std::string>& argv,
                         absl::Duration timeout = absl::Seconds(60));

// Runs `engramctl --server SERVER ARGS...`.
CommandResult RunEngramctl(const std::string& server,
                           const std::vector<std::string>& args);

// 127.0.0.1:`port` as a socket address (port 0: any free one, to bind).
sockaddr_in LoopbackAddress(int port);

// Sends the raw HTTP `request` to 127.0.0.1:port and returns everything
// the server wrote back until it closed; empty if it cannot connect.
std::string HttpExchange(int port, const std::string& request);

// A running engram-server.
class ServerProcess {
 public:
  // Starts engram-server --listen 127.0.0.1:0 --data-dir `data_dir` plus
  // `extra_args` and waits until it serves. `launcher`, if given, runs the
  // server (e.g. {"/usr/bin/prlimit", "--fsize=1000000", "--"}). Its log
  // goes to a file beside `data_dir` (see Log()).
  static absl::StatusOr<std::unique_ptr<ServerProcess>> Start(
      const std::string& data_dir, const std::vector<std::string>& extra_args,
      absl::Duration timeout = absl::Seconds(60),
      const std::vector<std::string>& launcher = {});
  // Kills the server (SIGKILL) if it still runs.
  ~ServerProcess();

  const std::string& address() const { return address_; }
  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  bool Running();

  // Sends SIGTERM and waits for the exit; returns the exit code (-1 when
  // killed by a signal or still running after `timeout`).
  int Terminate(absl::Duration timeout = absl::Seconds(30));
  std::string Log() const;

 private:
  ServerProcess() = default;
  pid_t pid_ = -1;
  int port_ = 0;
  std::string address_;
  std::string log_path_;
};

}  // namespace engram::testing

#endif  // ENGRAM_TESTS_TEST_PROCESSES_H_

#include "tests/test_processes.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/element_type.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"

namespace engram::testing {
namespace {

namespace fs = std::filesystem;

// Forks and execs `argv` with stdout/stderr redirected to the given files.
pid_t Spawn(const std::vector<std::string>& argv, const std::string& out_path,
            const std::string& err_path) {
  std::vector<char*> args;
  for (const std::string& arg : argv)
    args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    const int null_fd = open("/dev/null", O_RDONLY);
    const int out_fd =
        open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int err_fd =
        open(err_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    dup2(null_fd, STDIN_FILENO);
    dup2(out_fd, STDOUT_FILENO);
    dup2(err_fd, STDERR_FILENO);
    execv(args[0], args.data());
    _exit(127);
  }
  return pid;
}

// Waits for `pid` up to `timeout`; its exit code, or -1.
int WaitExit(pid_t pid, absl::Duration timeout, bool* exited) {
  const absl::Time deadline = absl::Now() + timeout;
  int status = 0;
  *exited = false;
  while (absl::Now() < deadline) {
    const pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) {
      *exited = true;
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  return -1;
}

}  // namespace

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

std::string F32Rows(int rows, int cols, float base) {
  std::string data(rows * cols * 4, '\0');
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) {
      EncodeElement(ElementType::kF32, base + r + c / 100.0f,
                    data.data() + (r * cols + c) * 4);
    }
  }
  return data;
}

std::string Int64s(const std::vector<int64_t>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()),
                     values.size() * sizeof(int64_t));
}

google::protobuf::Struct ParseJson(const std::string& text) {
  google::protobuf::Struct parsed;
  const auto status =
      google::protobuf::util::JsonStringToMessage(text, &parsed);
  EXPECT_TRUE(status.ok()) << status.ToString() << " in: " << text;
  return parsed;
}

void WriteNpyFile(const std::string& path, const std::string& descr,
                  const std::vector<uint64_t>& shape, const std::string& data) {
  std::string shape_text;
  for (uint64_t dim : shape) absl::StrAppend(&shape_text, dim, ",");
  std::string header =
      absl::StrCat("{'descr': '", descr,
                   "', 'fortran_order': False, 'shape': (", shape_text, "), }");
  // numpy pads the header so the data starts on a 64-byte boundary.
  const size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header.push_back('\n');
  std::ofstream out(path, std::ios::binary);
  out.write("\x93NUMPY\x01\x00", 8);
  const char length[2] = {static_cast<char>(header.size() & 0xFF),
                          static_cast<char>(header.size() >> 8)};
  out.write(length, 2);
  out << header << data;
}

std::string SafetensorsBytes(const std::vector<SafetensorsTensor>& tensors) {
  std::string header = "{\"__metadata__\":{\"format\":\"pt\"}";
  std::string data;
  for (const SafetensorsTensor& tensor : tensors) {
    std::string shape;
    for (uint64_t dim : tensor.shape) {
      absl::StrAppend(&shape, shape.empty() ? "" : ",", dim);
    }
    absl::StrAppend(&header, ",\"", tensor.name, "\":{\"dtype\":\"",
                    tensor.dtype, "\",\"shape\":[", shape,
                    "],\"data_offsets\":[", data.size(), ",",
                    data.size() + tensor.data.size(), "]}");
    data += tensor.data;
  }
  header += "}";
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) {
    bytes[i] = static_cast<char>((uint64_t{header.size()} >> (8 * i)) & 0xFF);
  }
  return bytes + header + data;
}

TempDir::TempDir() {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string pattern =
      absl::StrCat(base != nullptr ? base : "/tmp", "/engram-test-XXXXXX");
  path_ = mkdtemp(pattern.data());
}

TempDir::~TempDir() {
  std::error_code error;
  fs::remove_all(path_, error);
}

std::string BinaryPath(const std::string& relative) {
  // ctest sets ENGRAM_BINARY_DIR; a test binary run by hand falls back to
  // the build tree it was compiled in.
  const char* dir = std::getenv("ENGRAM_BINARY_DIR");
  return absl::StrCat(dir != nullptr ? dir : ENGRAM_DEFAULT_BINARY_DIR, "/",
                      relative);
}
std::string ServerPath() { return BinaryPath("server/engram-server"); }
std::string EngramctlPath() { return BinaryPath("cli/engramctl"); }
std::string BenchPath() { return BinaryPath("bench/engram-bench"); }

sockaddr_in LoopbackAddress(int port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

std::string HttpExchange(int port, const std::string& request) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address = LoopbackAddress(port);
  std::string response;
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) ==
      0) {
    send(fd, request.data(), request.size(), MSG_NOSIGNAL);
    char buffer[4096];
    for (ssize_t n; (n = recv(fd, buffer, sizeof(buffer), 0)) > 0;) {
      response.append(buffer, n);
    }
  }
  close(fd);
  return response;
}

CommandResult RunCommand(const std::vector<std::string>& argv,
                         absl::Duration timeout) {
  TempDir dir;
  const std::string out_path = dir.path() + "/out";
  const std::string err_path = dir.path() + "/err";
  const pid_t pid = Spawn(argv, out_path, err_path);
  CommandResult result;
  bool exited;
  result.exit_code = WaitExit(pid, timeout, &exited);
  if (!exited) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
  result.out = ReadFile(out_path);
  result.err = ReadFile(err_path);
  return result;
}

CommandResult RunEngramctl(const std::string& server,
                           const std::vector<std::string>& args) {
  std::vector<std::string> argv = {EngramctlPath(), "--server", server};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv);
}

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::Start(
    const std::string& data_dir, const std::vector<std::string>& extra_args,
    absl::Duration timeout, const std::vector<std::string>& launcher) {
  auto server = std::unique_ptr<ServerProcess>(new ServerProcess());
  const std::string parent = fs::path(data_dir).parent_path().string();
  const std::string port_file = absl::StrCat(parent, "/port-", getpid(), "-",
                                             absl::ToUnixNanos(absl::Now()));
  std::vector<std::string> argv = launcher;
  for (const std::string& arg :
       {ServerPath(), std::string("--listen"), std::string("127.0.0.1:0"),
        std::string("--data-dir"), data_dir, std::string("--port-file"),
        port_file}) {
    argv.push_back(arg);
  }
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  server->log_path_ = port_file + ".log";
  server->pid_ = Spawn(argv, "/dev/null", server->log_path_);
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    std::string text = ReadFile(port_file);
    if (absl::SimpleAtoi(absl::StripAsciiWhitespace(text), &server->port_)) {
      server->address_ = absl::StrCat("127.0.0.1:", server->port_);
      return server;
    }
    if (!server->Running()) {
      return absl::InternalError(
          absl::StrCat("engram-server exited during start:\n", server->Log()));
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  return absl::DeadlineExceededError(
      absl::StrCat("engram-server did not start in time:\n", server->Log()));
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0 && Running()) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

bool ServerProcess::Running() {
  if (pid_ <= 0) return false;
  int status;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

int ServerProcess::Terminate(absl::Duration timeout) {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  bool exited;
  const int code = WaitExit(pid_, timeout, &exited);
  if (exited) pid_ = -1;
  return code;
}

std::string ServerProcess::Log() const { return ReadFile(log_path_); }

}  // namespace engram::testing

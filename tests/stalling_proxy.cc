#include "tests/stalling_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "tests/test_processes.h"

namespace engram::testing {
namespace {

absl::Status SocketError(const char* what) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(errno)));
}

// Writes all of `data`; false when the peer is gone.
bool WriteAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t written = write(fd, data, size);
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) return false;
    data += written;
    size -= static_cast<size_t>(written);
  }
  return true;
}

}  // namespace

absl::StatusOr<std::unique_ptr<StallingProxy>> StallingProxy::Start(
    int target_port, uint64_t budget) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return SocketError("socket");
  sockaddr_in address = LoopbackAddress(0);
  socklen_t length = sizeof(address);
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      listen(fd, 16) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    const absl::Status error = SocketError("listen");
    close(fd);
    return error;
  }
  std::unique_ptr<StallingProxy> proxy(
      new StallingProxy(fd, target_port, budget));
  proxy->address_ = absl::StrCat("127.0.0.1:", ntohs(address.sin_port));
  proxy->acceptor_ =
      std::thread([raw = proxy.get()] { raw->AcceptConnections(); });
  return proxy;
}

StallingProxy::StallingProxy(int listen_fd, int target_port, uint64_t budget)
    : listen_fd_(listen_fd), target_port_(target_port), budget_left_(budget) {}

StallingProxy::~StallingProxy() {
  stopping_.Notify();
  shutdown(listen_fd_, SHUT_RDWR);
  acceptor_.join();
  std::vector<std::thread> pumps;
  {
    absl::MutexLock lock(&mu_);
    for (const int fd : connection_fds_) shutdown(fd, SHUT_RDWR);
    pumps.swap(pumps_);
  }
  for (std::thread& pump : pumps) pump.join();
  absl::MutexLock lock(&mu_);
  for (const int fd : connection_fds_) close(fd);
  close(listen_fd_);
}

bool StallingProxy::Stalled() {
  absl::MutexLock lock(&mu_);
  return budget_left_ == 0;
}

void StallingProxy::Silence() {
  absl::MutexLock lock(&mu_);
  silenced_ = true;
}

bool StallingProxy::Silenced() {
  absl::MutexLock lock(&mu_);
  return silenced_;
}

void StallingProxy::AcceptConnections() {
  while (true) {
    const int client = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) {
      if (errno == EINTR) continue;
      return;  // Shut down.
    }
    const int server = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const sockaddr_in target = LoopbackAddress(target_port_);
    absl::MutexLock lock(&mu_);
    connection_fds_.push_back(client);
    if (server < 0) continue;
    connection_fds_.push_back(server);
    if (stopping_.HasBeenNotified() ||
        connect(server, reinterpret_cast<const sockaddr*>(&target),
                sizeof(target)) != 0) {
      shutdown(client, SHUT_RDWR);
      continue;
    }
    pumps_.emplace_back(
        [this, client, server] { Pump(client, server, /*budgeted=*/true); });
    pumps_.emplace_back(
        [this, client, server] { Pump(server, client, /*budgeted=*/false); });
  }
}

uint64_t StallingProxy::TakeBudget(uint64_t want) {
  absl::MutexLock lock(&mu_);
  const uint64_t taken = std::min(want, budget_left_);
  budget_left_ -= taken;
  return taken;
}

void StallingProxy::Pump(int from, int to, bool budgeted) {
  char buffer[64 << 10];
  while (true) {
    uint64_t want = sizeof(buffer);
    if (budgeted) {
      want = TakeBudget(want);
      if (want == 0) {
        // Stalled: nothing more is read until the proxy closes.
        stopping_.WaitForNotification();
        return;
      }
    }
    const ssize_t got = read(from, buffer, want);
    if (got < 0 && errno == EINTR) continue;
    if (Silenced()) {
      // Dropped, and nothing more is read until the proxy closes.
      stopping_.WaitForNotification();
      return;
    }
    if (got <= 0 || !WriteAll(to, buffer, static_cast<size_t>(got))) {
      shutdown(to, SHUT_WR);
      return;
    }
    if (budgeted && static_cast<uint64_t>(got) < want) {
      // Give back what this read did not use.
      absl::MutexLock lock(&mu_);
      budget_left_ += want - static_cast<uint64_t>(got);
    }
  }
}

}  // namespace engram::testing

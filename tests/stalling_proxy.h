// StallingProxy: a loopback TCP proxy in front of a server that passes the
// first `budget` bytes clients send and then stops reading, as a hung
// server (or a network gone quiet) looks to a client: the connections
// stay open and its writes stop being taken. What the server sends passes
// until Silence().
//
//   absl::StatusOr<std::unique_ptr<StallingProxy>> proxy =
//       StallingProxy::Start(server->port(), /*budget=*/1 << 20);
//   RunEngramctl((*proxy)->address(), {"import", ...});  // stalls past 1 MiB
#ifndef ENGRAM_TESTS_STALLING_PROXY_H_
#define ENGRAM_TESTS_STALLING_PROXY_H_

#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"

namespace engram::testing {

class StallingProxy {
 public:
  // Listens on 127.0.0.1 (an ephemeral port) and forwards each connection
  // to 127.0.0.1:`target_port`, `budget` client bytes in all.
  static absl::StatusOr<std::unique_ptr<StallingProxy>> Start(int target_port,
                                                              uint64_t budget);
  // Closes every connection, so that the server sees its clients gone.
  ~StallingProxy();

  StallingProxy(const StallingProxy&) = delete;
  StallingProxy& operator=(const StallingProxy&) = delete;

  const std::string& address() const { return address_; }
  // Whether clients have sent all of the budget (and now wait).
  bool Stalled();
  // From now on nothing passes either way, and no connection is closed:
  // a network partition (or a middlebox that dropped the connections) as
  // both ends see it.
  void Silence();

 private:
  StallingProxy(int listen_fd, int target_port, uint64_t budget);
  void AcceptConnections();
  // Copies `from` to `to` until either closes; `budgeted`: from a client,
  // taking bytes from the budget and waiting once it is spent.
  void Pump(int from, int to, bool budgeted);
  // Up to `want` bytes of the budget; 0 once it is spent.
  uint64_t TakeBudget(uint64_t want);
  bool Silenced();

  const int listen_fd_;
  const int target_port_;
  std::string address_;
  absl::Notification stopping_;
  absl::Mutex mu_;
  uint64_t budget_left_ ABSL_GUARDED_BY(mu_);
  bool silenced_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<int> connection_fds_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> pumps_ ABSL_GUARDED_BY(mu_);
  std::thread acceptor_;
};

}  // namespace engram::testing

#endif  // ENGRAM_TESTS_STALLING_PROXY_H_

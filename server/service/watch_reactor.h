// WatchReactor: one WatchTable call. It registers with the VersionManager,
// turns each VersionChange into VersionEvent messages (changed ids split
// over parts of at most kIdsPerMessage) and writes them in order, one write
// in flight at a time.
//
//   1. Constructed: VersionManager::Watch, which queues the CURRENT event.
//   2. Each change queues its messages and starts a write if none is in
//      flight; OnWriteDone starts the next.
//   3. A watcher that falls kMaxQueuedMessages behind is finished with
//      RESOURCE_EXHAUSTED (watch again and resync) rather than buffering
//      without bound; a client that cancels is finished with CANCELLED; the
//      server stopping finishes it with UNAVAILABLE.
//   4. OnDone: Unwatch, then the reactor deletes itself.
#ifndef ENGRAM_SERVER_SERVICE_WATCH_REACTOR_H_
#define ENGRAM_SERVER_SERVICE_WATCH_REACTOR_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "engram/v1/engram_service.grpc.pb.h"
#include "server/versions/version_manager.h"

namespace engram::server {

class WatchReactor final : public grpc::ServerWriteReactor<v1::VersionEvent> {
 public:
  // Row ids per message: 2 MiB of ids, under gRPC's default 4 MiB limit.
  static constexpr size_t kIdsPerMessage = 256 << 10;
  static constexpr size_t kMaxQueuedMessages = 256;

  WatchReactor(VersionManager* versions, const std::string& table);

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  void Enqueue(const VersionChange& change) ABSL_LOCKS_EXCLUDED(mu_);
  void FinishLocked(const grpc::Status& status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  VersionManager* const versions_;
  uint64_t watch_id_ = 0;
  absl::Mutex mu_;
  std::deque<std::unique_ptr<v1::VersionEvent>> queue_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace engram::server

#endif  // ENGRAM_SERVER_SERVICE_WATCH_REACTOR_H_

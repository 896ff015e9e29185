// MessageFanOut: one reader's messages to several consumers, each taking
// them at its own pace but at most `depth` messages behind the reader, so
// that a sharded import reads a shard's rows once for all its replicas and
// holds a few chunks in memory, not the shard.
//
//   MessageFanOut<Chunk> fan_out(/*consumers=*/2, /*depth=*/4);
//   // Reader:
//   for (...) if (!fan_out.Push(chunk)) break;  // every consumer left
//   fan_out.Close(absl::OkStatus());            // or the reader's error
//   // Consumer c (its own thread):
//   while (true) {
//     absl::StatusOr<std::shared_ptr<const Chunk>> next = fan_out.Pop(c);
//     if (!next.ok() || *next == nullptr) break;  // aborted, or the end
//     if (!Send(**next).ok()) { fan_out.Leave(c); break; }
//   }
//
// The slowest consumer paces the reader; one that fails Leaves, and the
// reader no longer waits for it. Thread-safe.
#ifndef ENGRAM_CLI_MESSAGE_FAN_OUT_H_
#define ENGRAM_CLI_MESSAGE_FAN_OUT_H_

#include <cstddef>
#include <deque>
#include <memory>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace engram::cli {

template <typename Message>
class MessageFanOut {
 public:
  MessageFanOut(int consumers, size_t depth)
      : depth_(depth), queues_(consumers), live_(consumers, true) {}

  // Queues `message` for every consumer still taking messages, first
  // waiting until each has fewer than `depth` queued. False (and nothing
  // queued) when every consumer has left.
  bool Push(std::shared_ptr<const Message> message) {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(this, &MessageFanOut::RoomForAll));
    bool queued = false;
    for (size_t c = 0; c < queues_.size(); ++c) {
      if (!live_[c]) continue;
      queues_[c].push_back(message);
      queued = true;
    }
    return queued;
  }

  // Ends the messages: consumers get what is queued, then the end (null)
  // if `status` is OK, or `status` at once otherwise.
  void Close(absl::Status status) {
    absl::MutexLock lock(&mu_);
    closed_ = true;
    end_ = std::move(status);
  }

  // Consumer `c`'s next message; null at the end; the reader's error when
  // it closed with one. Blocks until there is one of these.
  absl::StatusOr<std::shared_ptr<const Message>> Pop(int c) {
    absl::MutexLock lock(&mu_);
    std::deque<std::shared_ptr<const Message>>& queue = queues_[c];
    const auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return closed_ || !queue.empty();
    };
    mu_.Await(absl::Condition(&ready));
    if (!end_.ok()) return end_;
    if (queue.empty()) return nullptr;
    std::shared_ptr<const Message> message = std::move(queue.front());
    queue.pop_front();
    return message;
  }

  // Consumer `c` takes no more messages: its queue is dropped and the
  // reader no longer waits for it.
  void Leave(int c) {
    absl::MutexLock lock(&mu_);
    live_[c] = false;
    queues_[c].clear();
  }

 private:
  bool RoomForAll() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (size_t c = 0; c < queues_.size(); ++c) {
      if (live_[c] && queues_[c].size() >= depth_) return false;
    }
    return true;
  }

  const size_t depth_;
  absl::Mutex mu_;
  std::vector<std::deque<std::shared_ptr<const Message>>> queues_
      ABSL_GUARDED_BY(mu_);
  std::vector<bool> live_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status end_ ABSL_GUARDED_BY(mu_);
};

}  // namespace engram::cli

#endif  // ENGRAM_CLI_MESSAGE_FAN_OUT_H_

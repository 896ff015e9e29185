#include "server/service/watch_reactor.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/packed_row_ids.h"

namespace engram::server {

WatchReactor::WatchReactor(VersionManager* versions, const std::string& table)
    : versions_(versions) {
  absl::StatusOr<uint64_t> watch = versions_->Watch(
      table, [this](const VersionChange& change) { Enqueue(change); });
  if (!watch.ok()) {
    absl::MutexLock lock(&mu_);
    FinishLocked(ToGrpcStatus(watch.status()));
    return;
  }
  watch_id_ = *watch;
}

void WatchReactor::Enqueue(const VersionChange& change) {
  absl::MutexLock lock(&mu_);
  if (finished_) return;
  if (!change.end.ok()) {
    FinishLocked(ToGrpcStatus(change.end));
    return;
  }
  const std::vector<uint64_t>& ids = *change.changed_ids;
  size_t first = 0;
  do {
    const size_t count = std::min(kIdsPerMessage, ids.size() - first);
    auto event = std::make_unique<v1::VersionEvent>();
    event->set_table(change.table);
    event->set_kind(change.kind);
    event->set_version(change.version);
    event->set_previous_version(change.previous_version);
    AppendPackedRowIds(absl::MakeConstSpan(ids).subspan(first, count),
                       event->mutable_changed_row_ids());
    first += count;
    event->set_last_part(first == ids.size());
    queue_.push_back(std::move(event));
  } while (first < ids.size());
  if (queue_.size() > kMaxQueuedMessages) {
    FinishLocked(
        grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                     absl::StrCat("the watcher fell ", queue_.size(),
                                  " messages behind; watch again and resync")));
    return;
  }
  if (!writing_) {
    writing_ = true;
    StartWrite(queue_.front().get());
  }
}

void WatchReactor::OnWriteDone(bool ok) {
  absl::MutexLock lock(&mu_);
  writing_ = false;
  if (finished_) return;
  if (!ok) {
    FinishLocked(grpc::Status::CANCELLED);
    return;
  }
  queue_.pop_front();
  if (!queue_.empty()) {
    writing_ = true;
    StartWrite(queue_.front().get());
  }
}

void WatchReactor::OnCancel() {
  absl::MutexLock lock(&mu_);
  FinishLocked(grpc::Status::CANCELLED);
}

void WatchReactor::OnDone() {
  if (watch_id_ != 0) versions_->Unwatch(watch_id_);
  delete this;
}

void WatchReactor::FinishLocked(const grpc::Status& status) {
  if (finished_) return;
  finished_ = true;
  Finish(status);
}

}  // namespace engram::server

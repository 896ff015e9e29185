#include "server/storage/rocksdb_status.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace engram::server {
namespace {

absl::StatusCode CodeFor(const rocksdb::Status& status) {
  using rocksdb::Status;
  switch (status.code()) {
    case Status::kOk:
      return absl::StatusCode::kOk;
    case Status::kNotFound:
    case Status::kColumnFamilyDropped:
      return absl::StatusCode::kNotFound;
    case Status::kCorruption:
      return absl::StatusCode::kDataLoss;
    case Status::kNotSupported:
      return absl::StatusCode::kUnimplemented;
    case Status::kInvalidArgument:
      return absl::StatusCode::kInvalidArgument;
    case Status::kIOError:
      switch (status.subcode()) {
        case Status::kNoSpace:
        case Status::kSpaceLimit:
          return absl::StatusCode::kResourceExhausted;
        case Status::kPathNotFound:
          return absl::StatusCode::kNotFound;
        default:
          return absl::StatusCode::kInternal;
      }
    case Status::kTimedOut:
    case Status::kExpired:
      return absl::StatusCode::kDeadlineExceeded;
    case Status::kAborted:
      return status.subcode() == Status::kMemoryLimit
                 ? absl::StatusCode::kResourceExhausted
                 : absl::StatusCode::kAborted;
    case Status::kShutdownInProgress:
    case Status::kBusy:
    case Status::kTryAgain:
      return absl::StatusCode::kUnavailable;
    case Status::kCompactionTooLarge:
      return absl::StatusCode::kResourceExhausted;
    case Status::kMergeInProgress:
    case Status::kIncomplete:
    default:
      return absl::StatusCode::kInternal;
  }
}

}  // namespace

absl::Status FromRocksDbStatus(const rocksdb::Status& status,
                               absl::string_view context) {
  if (status.ok()) return absl::OkStatus();
  const std::string message = status.ToString();
  return absl::Status(
      CodeFor(status),
      context.empty() ? message : absl::StrCat(context, ": ", message));
}

}  // namespace engram::server

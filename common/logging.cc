#include "common/logging.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace engram {
namespace {

// The innermost ScopedLogRequestId's id on this thread; null outside one.
thread_local const std::string* current_request_id = nullptr;

}  // namespace

ScopedLogRequestId::ScopedLogRequestId(absl::string_view request_id)
    : request_id_(request_id), outer_(current_request_id) {
  current_request_id = &request_id_;
}

ScopedLogRequestId::~ScopedLogRequestId() { current_request_id = outer_; }

namespace logging_internal {
namespace {

std::atomic<int> verbosity{0};

char SeverityLetter(Severity severity) {
  switch (severity) {
    case Severity::kInfo:
      return 'I';
    case Severity::kWarning:
      return 'W';
    case Severity::kError:
      return 'E';
    case Severity::kFatal:
      return 'F';
  }
  return '?';
}

absl::string_view Basename(absl::string_view path) {
  const size_t slash = path.rfind('/');
  return slash == absl::string_view::npos ? path : path.substr(slash + 1);
}

}  // namespace

LogMessage::LogMessage(Severity severity, const char* file, int line)
    : severity_(severity) {
  stream_ << SeverityLetter(severity)
          << absl::FormatTime("%m%d %H:%M:%E6S ", absl::Now(),
                              absl::LocalTimeZone())
          << Basename(file) << ':' << line << "] ";
  if (current_request_id != nullptr) {
    stream_ << "request_id=" << *current_request_id << ' ';
  }
}

LogMessage::~LogMessage() {
  stream_ << '\n';
  const std::string line = stream_.str();
  // One write() per line keeps concurrent lines from interleaving.
  (void)!write(STDERR_FILENO, line.data(), line.size());
  if (severity_ == Severity::kFatal) std::abort();
}

bool ShouldLogEveryNSec(std::atomic<int64_t>& last_micros, double seconds) {
  const int64_t now = absl::ToUnixMicros(absl::Now());
  int64_t last = last_micros.load(std::memory_order_relaxed);
  if (last != 0 && now - last < static_cast<int64_t>(seconds * 1e6)) {
    return false;
  }
  return last_micros.compare_exchange_strong(last, now);
}

int Verbosity() { return verbosity.load(std::memory_order_relaxed); }
void SetVerbosity(int level) { verbosity.store(level); }

}  // namespace logging_internal
}  // namespace engram

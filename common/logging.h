// Minimal logging in the shape of absl/log (which Abseil 20220623 lacks).
//
//   LOG(INFO) << "serving on " << address;
//   LOG_EVERY_N_SEC(WARNING, 10) << "slow lookup: " << micros << "us";
//   VLOG(1) << "batch of " << n << " rows";
//
// Lines go to stderr as "I1123 10:54:24.123456 server.cc:42] message", or
// "... server.cc:42] request_id=ID message" on a thread inside a
// ScopedLogRequestId. LOG(FATAL) aborts after writing. VLOG(n) prints when
// n <= --v.
#ifndef ENGRAM_COMMON_LOGGING_H_
#define ENGRAM_COMMON_LOGGING_H_

#include <atomic>
#include <cstdint>
#include <sstream>
#include <string>

#include "absl/base/attributes.h"
#include "absl/strings/string_view.h"

namespace engram {

// While it lives, every line this thread logs carries "request_id=ID" after
// its location, so that one request's lines can be picked out of many (the
// server opens one around each piece of an RPC's handling). Scopes nest;
// the innermost wins.
//
//   const ScopedLogRequestId scope(request_id);
//   LOG(INFO) << "patch created";  // "... request_id=7f3a-12 patch created"
class ScopedLogRequestId {
 public:
  explicit ScopedLogRequestId(absl::string_view request_id);
  ~ScopedLogRequestId();
  ScopedLogRequestId(const ScopedLogRequestId&) = delete;
  ScopedLogRequestId& operator=(const ScopedLogRequestId&) = delete;

 private:
  const std::string request_id_;
  const std::string* const outer_;
};

}  // namespace engram

namespace engram::logging_internal {

enum class Severity { kInfo = 0, kWarning = 1, kError = 2, kFatal = 3 };

// Accumulates one log line and writes it, whole, on destruction.
class LogMessage {
 public:
  LogMessage(Severity severity, const char* file, int line);
  ~LogMessage();
  LogMessage(const LogMessage&) = delete;
  LogMessage& operator=(const LogMessage&) = delete;

  std::ostream& stream() { return stream_; }

 private:
  Severity severity_;
  std::ostringstream stream_;
};

// Swallows the stream expression so that disabled log statements compile to
// a branch and nothing else.
struct Voidify {
  void operator&(std::ostream&) {}
};

// Returns true at most once every `seconds` for the call site owning `last`.
bool ShouldLogEveryNSec(std::atomic<int64_t>& last_micros, double seconds);

// The verbosity threshold for VLOG, set by SetVerbosity (the --v flag).
int Verbosity();
void SetVerbosity(int level);

}  // namespace engram::logging_internal

#define ENGRAM_LOG_SEVERITY_INFO ::engram::logging_internal::Severity::kInfo
#define ENGRAM_LOG_SEVERITY_WARNING \
  ::engram::logging_internal::Severity::kWarning
#define ENGRAM_LOG_SEVERITY_ERROR ::engram::logging_internal::Severity::kError
#define ENGRAM_LOG_SEVERITY_FATAL ::engram::logging_internal::Severity::kFatal

#define LOG(severity)                                                    \
  ::engram::logging_internal::LogMessage(ENGRAM_LOG_SEVERITY_##severity, \
                                         __FILE__, __LINE__)             \
      .stream()

#define LOG_IF(severity, condition) \
  !(condition) ? (void)0 : ::engram::logging_internal::Voidify() & LOG(severity)

#define LOG_EVERY_N_SEC(severity, seconds)                              \
  for (static std::atomic<int64_t> engram_log_last_{0};                 \
       ::engram::logging_internal::ShouldLogEveryNSec(engram_log_last_, \
                                                      (seconds));)      \
    for (bool engram_log_once_ = true; engram_log_once_;                \
         engram_log_once_ = false)                                      \
  LOG(severity)

#define VLOG(level) \
  LOG_IF(INFO, (level) <= ::engram::logging_internal::Verbosity())

#endif  // ENGRAM_COMMON_LOGGING_H_

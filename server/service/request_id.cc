#include "server/service/request_id.h"

#include <atomic>
#include <cstdint>

#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"

namespace engram::server {
namespace {

constexpr size_t kMaxClientIdBytes = 64;

// Printable in a log line and a metadata value, and one token wide.
bool UsableClientId(absl::string_view id) {
  if (id.empty() || id.size() > kMaxClientIdBytes) return false;
  for (const char c : id) {
    if (!absl::ascii_isalnum(c) && c != '.' && c != '_' && c != ':' &&
        c != '-') {
      return false;
    }
  }
  return true;
}

std::string NewRequestId() {
  // Distinguishes this process's ids from those of its restarts and
  // siblings; the counter makes them unique within it.
  static const uint32_t process_tag = absl::Uniform<uint32_t>(absl::BitGen());
  static std::atomic<uint64_t> calls{0};
  return absl::StrFormat("%08x-%d", process_tag,
                         calls.fetch_add(1, std::memory_order_relaxed) + 1);
}

}  // namespace

std::string AssignRequestId(grpc::CallbackServerContext& context) {
  const auto& metadata = context.client_metadata();
  const auto sent = metadata.find(kRequestIdKey);
  std::string id;
  if (sent != metadata.end() &&
      UsableClientId(
          absl::string_view(sent->second.data(), sent->second.size()))) {
    id.assign(sent->second.data(), sent->second.size());
  } else {
    id = NewRequestId();
  }
  context.AddInitialMetadata(kRequestIdKey, id);
  return id;
}

}  // namespace engram::server

#include "server/service/request_id.h"

#include <atomic>
#include <cstdint>

#include "absl/random/random.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "common/request_id.h"

namespace engram::server {
namespace {

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
  const auto sent = metadata.find(kRequestIdMetadataKey);
  std::string id;
  if (sent != metadata.end() &&
      CheckRequestId(
          absl::string_view(sent->second.data(), sent->second.size()))
          .ok()) {
    id.assign(sent->second.data(), sent->second.size());
  } else {
    id = NewRequestId();
  }
  context.AddInitialMetadata(kRequestIdMetadataKey, id);
  return id;
}

}  // namespace engram::server

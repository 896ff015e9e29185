#include "common/request_id.h"

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace engram {

absl::Status CheckRequestId(absl::string_view id) {
  if (id.empty() || id.size() > kMaxRequestIdBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("a request id has 1 to ", kMaxRequestIdBytes,
                     " characters; this one has ", id.size()));
  }
  for (const char c : id) {
    if (!absl::ascii_isalnum(c) && c != '.' && c != '_' && c != ':' &&
        c != '-') {
      return absl::InvalidArgumentError(
          absl::StrCat("request id '", absl::CHexEscape(id),
                       "' has a character outside [A-Za-z0-9._:-]"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckOptionalRequestId(absl::string_view id) {
  if (id.empty()) return absl::OkStatus();
  return CheckRequestId(id);
}

void AddRequestId(absl::string_view id, grpc::ClientContext* context) {
  if (id.empty()) return;
  context->AddMetadata(kRequestIdMetadataKey, std::string(id));
}

}  // namespace engram

// Context for an error passed up: where it happened, and what it left
// behind, around the message of the error that caused it.
//
//   return Annotate(read.status(), absl::StrCat(path, ": "));
//   return Annotate(sent.status(), "sending rows: ", "; nothing was sent");
#ifndef ENGRAM_COMMON_STATUS_CONTEXT_H_
#define ENGRAM_COMMON_STATUS_CONTEXT_H_

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace engram {

// `status` with `prefix` before and `suffix` after its message. The code
// is kept, so callers still tell a bad argument from an unreachable
// server; an OK status stays OK.
inline absl::Status Annotate(const absl::Status& status,
                             absl::string_view prefix,
                             absl::string_view suffix = "") {
  if (status.ok()) return status;
  return absl::Status(status.code(),
                      absl::StrCat(prefix, status.message(), suffix));
}

}  // namespace engram

#endif  // ENGRAM_COMMON_STATUS_CONTEXT_H_

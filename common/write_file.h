// Writing a whole (small) file from memory: maps, id lists.
//
//   ENGRAM_RETURN_IF_ERROR(WriteStringToFile("map.npy", bytes));
//
// Thread-safe (for different paths).
#ifndef ENGRAM_COMMON_WRITE_FILE_H_
#define ENGRAM_COMMON_WRITE_FILE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace engram {

// Creates or truncates `path` and writes `bytes` to it. Errors from errno
// (e.g. NotFound for a missing directory, PermissionDenied), naming the
// path.
absl::Status WriteStringToFile(const std::string& path,
                               absl::string_view bytes);

// `values` as raw native floats (what engram-worker --logits-out and the
// module checks write), as WriteStringToFile.
absl::Status WriteFloatsToFile(const std::string& path,
                               absl::Span<const float> values);

}  // namespace engram

#endif  // ENGRAM_COMMON_WRITE_FILE_H_

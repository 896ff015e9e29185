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

namespace engram {

// Creates or truncates `path` and writes `bytes` to it. Errors from errno
// (e.g. NotFound for a missing directory, PermissionDenied), naming the
// path.
absl::Status WriteStringToFile(const std::string& path,
                               absl::string_view bytes);

}  // namespace engram

#endif  // ENGRAM_COMMON_WRITE_FILE_H_

// Reading a whole (small) file into memory: configs, PEM files, weights.
//
//   ENGRAM_ASSIGN_OR_RETURN(std::string text,
//                           ReadFileToString(path, "model config "));
//
// Thread-safe.
#ifndef ENGRAM_COMMON_READ_FILE_H_
#define ENGRAM_COMMON_READ_FILE_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace engram {

// The bytes of `path`. NotFound "cannot read <what><path>" when it cannot
// be opened (`what` names the kind of file, e.g. "TLS file ", or is empty).
absl::StatusOr<std::string> ReadFileToString(const std::string& path,
                                             absl::string_view what = "");

}  // namespace engram

#endif  // ENGRAM_COMMON_READ_FILE_H_

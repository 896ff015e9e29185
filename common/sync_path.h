// SyncPath: fsync of a file or directory by path, for writers that must
// know their bytes are on disk before they say so (a checkpoint, a rename
// that publishes a file).
#ifndef ENGRAM_COMMON_SYNC_PATH_H_
#define ENGRAM_COMMON_SYNC_PATH_H_

#include <string>

#include "absl/status/status.h"

namespace engram {

// The errno of open or fsync as a status naming `path`.
absl::Status SyncPath(const std::string& path);

}  // namespace engram

#endif  // ENGRAM_COMMON_SYNC_PATH_H_

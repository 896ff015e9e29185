// Paths of the addressing tests' data, set by CMakeLists.txt.
//
//   std::string path = internal::TestDataPath("numpy_random.json");
//   std::string text = internal::ReadTestFile(path);
#ifndef ENGRAM_COMMON_ADDRESSING_TEST_PATHS_H_
#define ENGRAM_COMMON_ADDRESSING_TEST_PATHS_H_

#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"

namespace engram::internal {

// TestDataPath is a file that tools/gen_test_data.py wrote at build time.
inline std::string TestDataPath(const std::string& name) {
  return absl::StrCat(ENGRAM_ADDRESSING_TEST_DATA_DIR, "/", name);
}

// ReferenceVectorPath is a checked-in copy of a shared reference vector file.
inline std::string ReferenceVectorPath(const std::string& name) {
  return absl::StrCat(ENGRAM_ADDRESSING_REFERENCE_DIR, "/", name);
}

// SharedReferencePath is the original in /work/shared/reference (may be
// absent outside the development machines).
inline std::string SharedReferencePath(const std::string& name) {
  return absl::StrCat(ENGRAM_SHARED_REFERENCE_DIR, "/", name);
}

// ReadTestFile is the whole of file `path` (empty if it cannot be read).
inline std::string ReadTestFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

}  // namespace engram::internal

#endif  // ENGRAM_COMMON_ADDRESSING_TEST_PATHS_H_

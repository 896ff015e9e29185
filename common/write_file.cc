#include "common/write_file.h"

#include <cerrno>
#include <cstdio>

#include "absl/strings/str_cat.h"

namespace engram {

absl::Status WriteStringToFile(const std::string& path,
                               absl::string_view bytes) {
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) {
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot write ", path));
  }
  const bool written =
      std::fwrite(bytes.data(), 1, bytes.size(), file) == bytes.size();
  const int write_errno = errno;
  if (std::fclose(file) != 0 || !written) {
    return absl::ErrnoToStatus(written ? errno : write_errno,
                               absl::StrCat("cannot write ", path));
  }
  return absl::OkStatus();
}

absl::Status WriteFloatsToFile(const std::string& path,
                               absl::Span<const float> values) {
  return WriteStringToFile(
      path, absl::string_view(reinterpret_cast<const char*>(values.data()),
                              values.size() * sizeof(float)));
}

}  // namespace engram

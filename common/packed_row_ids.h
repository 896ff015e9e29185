// Row ids on the wire: unsigned 64-bit little-endian integers packed back to
// back in a bytes field (8 bytes per id), so a batch is one memcpy to build
// and needs no per-id parsing.
//
//   std::string wire;
//   AppendPackedRowIds(ids, &wire);
//   PackedRowIds view(wire);  // view.size() == ids.size(), view[i] == ids[i]
#ifndef ENGRAM_COMMON_PACKED_ROW_IDS_H_
#define ENGRAM_COMMON_PACKED_ROW_IDS_H_

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace engram {

static_assert(std::endian::native == std::endian::little,
              "packed row ids are little-endian; add byte swaps for this host");

inline constexpr size_t kPackedRowIdBytes = sizeof(uint64_t);

// A read-only view of packed row ids. The bytes need no alignment.
class PackedRowIds {
 public:
  // REQUIRES: bytes.size() is a multiple of 8 (see ValidatePackedRowIds).
  explicit PackedRowIds(absl::string_view bytes) : bytes_(bytes) {}

  size_t size() const { return bytes_.size() / kPackedRowIdBytes; }
  bool empty() const { return bytes_.empty(); }
  uint64_t operator[](size_t i) const {
    uint64_t id;
    std::memcpy(&id, bytes_.data() + i * kPackedRowIdBytes, sizeof(id));
    return id;
  }
  absl::string_view bytes() const { return bytes_; }

 private:
  absl::string_view bytes_;
};

// InvalidArgument unless `bytes` holds a whole number of ids.
inline absl::Status ValidatePackedRowIds(absl::string_view bytes) {
  if (bytes.size() % kPackedRowIdBytes != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "row_ids holds ", bytes.size(),
        " bytes, which is not a multiple of 8 (one little-endian uint64 per "
        "row id)"));
  }
  return absl::OkStatus();
}

inline void AppendPackedRowIds(absl::Span<const uint64_t> ids,
                               std::string* out) {
  out->append(reinterpret_cast<const char*>(ids.data()),
              ids.size() * kPackedRowIdBytes);
}

}  // namespace engram

#endif  // ENGRAM_COMMON_PACKED_ROW_IDS_H_

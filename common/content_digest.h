// ContentDigest: the documented digest of a table's contents, reported as
// TableInfo.content_digest and checked by imports:
//
//   dense tables   SHA-256 of all row bytes in row order (so `sha256sum` of
//                  a raw row file gives it);
//   sparse tables  SHA-256 of, for each written row in increasing id order,
//                  the id as 8 bytes little-endian followed by the row.
//
//   ContentDigest digest;
//   digest.AddRows(chunk);               // dense, any chunking
//   digest.AddSparseRows(ids, rows, 128);  // sparse
//   std::string hex = std::move(digest).Finish();
#ifndef ENGRAM_COMMON_CONTENT_DIGEST_H_
#define ENGRAM_COMMON_CONTENT_DIGEST_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "common/addressing/sha256.h"
#include "common/packed_row_ids.h"

namespace engram {

class ContentDigest {
 public:
  void AddRows(absl::string_view bytes) {
    hash_.Update(bytes.data(), bytes.size());
  }

  // REQUIRES: rows.size() == ids.size() * row_bytes.
  void AddSparseRows(const PackedRowIds& ids, absl::string_view rows,
                     uint32_t row_bytes) {
    for (size_t i = 0; i < ids.size(); ++i) {
      const uint64_t id = ids[i];
      hash_.Update(&id, sizeof(id));
      hash_.Update(rows.data() + i * row_bytes, row_bytes);
    }
  }

  // Lowercase hex. The digest is spent.
  std::string Finish() && {
    return ::engram::internal::Sha256::ToHex(hash_.Finish());
  }

 private:
  ::engram::internal::Sha256 hash_;
};

}  // namespace engram

#endif  // ENGRAM_COMMON_CONTENT_DIGEST_H_

// SparseRowStore: a table whose rows may never have been written, as a
// dense store (whose unwritten rows hold zeros) plus a presence bitmap.
//
//   ENGRAM_ASSIGN_OR_RETURN(auto store,
//                           SparseRowStore::Create(dense, std::move(bits)));
//   MissingRows missing(ids.size());
//   ENGRAM_RETURN_IF_ERROR(store->GatherSparse(ids, out, missing));
//
// The bitmap costs one bit per row id (48 MB for 384M ids) and one probe
// per looked-up row.
#ifndef ENGRAM_SERVER_STORAGE_SPARSE_ROW_STORE_H_
#define ENGRAM_SERVER_STORAGE_SPARSE_ROW_STORE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/storage/row_store.h"

namespace engram::server {

class SparseRowStore final : public RowStore {
 public:
  // `present` holds ceil(dense->rows() / 8) bytes: row i was written iff bit
  // i % 8 of byte i / 8 is set. InvalidArgument for another size.
  static absl::StatusOr<std::unique_ptr<SparseRowStore>> Create(
      std::shared_ptr<const RowStore> dense, std::string present);

  uint64_t rows() const override { return dense_->rows(); }
  uint32_t row_bytes() const override { return dense_->row_bytes(); }
  // Unwritten rows come back as zeros.
  absl::Status Gather(const PackedRowIds& ids, char* out) const override;
  absl::Status GatherSparse(const PackedRowIds& ids, char* out,
                            MissingRows& missing) const override;
  RowStoreStats Stats() const override;

  uint64_t rows_present() const { return rows_present_; }

 private:
  SparseRowStore(std::shared_ptr<const RowStore> dense, std::string present,
                 uint64_t rows_present)
      : dense_(std::move(dense)),
        present_(std::move(present)),
        rows_present_(rows_present) {}

  bool Present(uint64_t id) const {
    return (static_cast<uint8_t>(present_[id / 8]) >> (id % 8)) & 1;
  }

  const std::shared_ptr<const RowStore> dense_;
  const std::string present_;
  const uint64_t rows_present_;
};

}  // namespace engram::server

#endif  // ENGRAM_SERVER_STORAGE_SPARSE_ROW_STORE_H_

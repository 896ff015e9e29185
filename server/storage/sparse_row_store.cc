#include "server/storage/sparse_row_store.h"

#include <bit>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace engram::server {

absl::StatusOr<std::unique_ptr<SparseRowStore>> SparseRowStore::Create(
    std::shared_ptr<const RowStore> dense, std::string present) {
  const uint64_t expected = (dense->rows() + 7) / 8;
  if (present.size() != expected) {
    return absl::InvalidArgumentError(absl::StrCat(
        "presence bitmap holds ", present.size(), " bytes; a table of ",
        dense->rows(), " rows needs ", expected));
  }
  uint64_t rows_present = 0;
  for (char byte : present) {
    rows_present += std::popcount(static_cast<uint8_t>(byte));
  }
  return std::unique_ptr<SparseRowStore>(
      new SparseRowStore(std::move(dense), std::move(present), rows_present));
}

absl::Status SparseRowStore::Gather(const PackedRowIds& ids, char* out) const {
  return dense_->Gather(ids, out);
}

absl::Status SparseRowStore::GatherSparse(const PackedRowIds& ids, char* out,
                                          MissingRows& missing) const {
  ENGRAM_RETURN_IF_ERROR(dense_->Gather(ids, out));
  for (size_t i = 0; i < ids.size(); ++i) {
    if (!Present(ids[i])) missing.Set(i);
  }
  return absl::OkStatus();
}

RowStoreStats SparseRowStore::Stats() const {
  RowStoreStats stats = dense_->Stats();
  stats.bytes_in_ram += present_.size();
  stats.rows_in_ram = rows_present_;
  return stats;
}

}  // namespace engram::server

#include "server/storage/table_writer.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace engram::server {

absl::Status TableWriter::Append(absl::string_view bytes) {
  if (IsSparse(info_)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "table '", info_.name(), "' is sparse: send rows with their ids"));
  }
  if (bytes.size() > bytes_expected() - bytes_received_) {
    return absl::InvalidArgumentError(absl::StrCat(
        "import of '", info_.name(), "' sent more than the ", info_.rows(),
        " rows x ", info_.row_bytes(), " B its header announced"));
  }
  digest_.AddRows(bytes);
  bytes_received_ += bytes.size();
  const uint32_t row_bytes = info_.row_bytes();
  if (!partial_row_.empty()) {
    const size_t take =
        std::min<size_t>(row_bytes - partial_row_.size(), bytes.size());
    partial_row_.append(bytes.data(), take);
    bytes.remove_prefix(take);
    if (partial_row_.size() < row_bytes) return absl::OkStatus();
    ENGRAM_RETURN_IF_ERROR(WriteRows(rows_written_, partial_row_.data(), 1));
    ++rows_written_;
    partial_row_.clear();
  }
  const uint64_t whole = bytes.size() / row_bytes;
  if (whole > 0) {
    ENGRAM_RETURN_IF_ERROR(WriteRows(rows_written_, bytes.data(), whole));
    rows_written_ += whole;
  }
  partial_row_.assign(bytes.data() + whole * row_bytes,
                      bytes.size() - whole * row_bytes);
  return absl::OkStatus();
}

absl::Status TableWriter::AppendSparse(const PackedRowIds& ids,
                                       absl::string_view rows) {
  if (!IsSparse(info_)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "table '", info_.name(), "' is dense: send its rows without ids"));
  }
  const uint32_t row_bytes = info_.row_bytes();
  if (rows.size() != ids.size() * row_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(ids.size(), " row ids came with ", rows.size(),
                     " bytes of rows; expected ", ids.size() * row_bytes));
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < next_sparse_id_ || ids[i] >= info_.rows()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "row id ", ids[i], " of table '", info_.name(),
          "' is out of order (ids must increase strictly; the previous was ",
          next_sparse_id_ == 0 ? "none" : absl::StrCat(next_sparse_id_ - 1),
          ") or not below its ", info_.rows(), " rows"));
    }
    next_sparse_id_ = ids[i] + 1;
  }
  // Runs of consecutive ids are stored with one call.
  for (size_t begin = 0; begin < ids.size();) {
    size_t end = begin + 1;
    while (end < ids.size() && ids[end] == ids[end - 1] + 1) ++end;
    ENGRAM_RETURN_IF_ERROR(
        WriteRows(ids[begin], rows.data() + begin * row_bytes, end - begin));
    begin = end;
  }
  digest_.AddSparseRows(ids, rows, row_bytes);
  rows_written_ += ids.size();
  bytes_received_ += rows.size();
  return absl::OkStatus();
}

absl::StatusOr<StoredTable> TableWriter::Commit(
    absl::string_view expected_digest) {
  if (committed_) return absl::FailedPreconditionError("writer committed");
  committed_ = true;
  if (!IsSparse(info_) && bytes_received_ != bytes_expected()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "import of '", info_.name(), "' ended after ", bytes_received_,
        " bytes; its header announced ", info_.rows(), " rows x ",
        info_.row_bytes(), " B = ", bytes_expected()));
  }
  const std::string digest = std::move(digest_).Finish();
  if (!expected_digest.empty() && digest != expected_digest) {
    return absl::InvalidArgumentError(
        absl::StrCat("rows of '", info_.name(), "' hash to ", digest,
                     ", not to the content_digest sent, ", expected_digest));
  }
  info_.set_content_digest(digest);
  info_.set_rows_written(rows_written_);
  return Finish(info_);
}

}  // namespace engram::server

// TableWriter: a new table written as its rows arrive, servable only once
// committed. Made by TableStorage::BeginTable for the table's placement.
//
//   ENGRAM_ASSIGN_OR_RETURN(std::unique_ptr<TableWriter> writer,
//                           storage->BeginTable(info, {}));
//   ENGRAM_RETURN_IF_ERROR(writer->Append(chunk));  // dense: rows in order
//   ENGRAM_RETURN_IF_ERROR(writer->AppendSparse(ids, rows));  // or sparse
//   ENGRAM_ASSIGN_OR_RETURN(StoredTable table, writer->Commit(digest));
//
// Rows go to disk as they come (a table need not fit in memory), and the
// content digest (common/content_digest.h) is computed on the way. A writer
// destroyed before Commit succeeds leaves nothing behind. Not thread-safe.
#ifndef ENGRAM_SERVER_STORAGE_TABLE_WRITER_H_
#define ENGRAM_SERVER_STORAGE_TABLE_WRITER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/addressing/compression_map.h"
#include "common/content_digest.h"
#include "common/packed_row_ids.h"
#include "engram/v1/engram_service.pb.h"
#include "server/storage/data_dir.h"

namespace engram::server {

// Whether `info` describes a sparse table (one with a missing-row policy).
inline bool IsSparse(const v1::TableInfo& info) {
  return info.missing_rows() != v1::MISSING_ROW_POLICY_UNSPECIFIED;
}

class TableWriter {
 public:
  virtual ~TableWriter() = default;
  TableWriter(const TableWriter&) = delete;
  TableWriter& operator=(const TableWriter&) = delete;

  const v1::TableInfo& info() const { return info_; }
  uint64_t rows_written() const { return rows_written_; }
  // Row bytes taken so far (including a partial row of a dense table).
  uint64_t bytes_received() const { return bytes_received_; }
  // Row bytes a dense table needs in all.
  uint64_t bytes_expected() const { return info_.rows() * info_.row_bytes(); }

  // Dense tables: the next `bytes` of the rows, row 0 first, in pieces of
  // any size. InvalidArgument past the table's end or for a sparse table;
  // I/O errors as they come.
  absl::Status Append(absl::string_view bytes);

  // Sparse tables: the rows of `ids` (ids.size() * row_bytes bytes). Ids
  // must increase strictly across calls and be < rows; InvalidArgument
  // otherwise or for a dense table.
  absl::Status AppendSparse(const PackedRowIds& ids, absl::string_view rows);

  // Checks that a dense table got all its rows and, when `expected_digest`
  // is not empty, that the content digest equals it (InvalidArgument
  // otherwise); then makes the table durable and returns it opened, its
  // info carrying content_digest and rows_written. Call once.
  absl::StatusOr<StoredTable> Commit(absl::string_view expected_digest);

  // Stores `map` with the table (the committed table carries it), so that
  // token lookups can compress raw ids. It must be the map info()'s hash
  // spec names, as TableCompressionMap (common/hash_spec_proto.h) checks.
  void KeepCompression(std::shared_ptr<const CompressionMap> map) {
    compression_ = std::move(map);
  }
  const std::shared_ptr<const CompressionMap>& compression() const {
    return compression_;
  }

 protected:
  explicit TableWriter(v1::TableInfo info) : info_(std::move(info)) {}

  // Stores `count` rows with consecutive ids from `first_row`.
  virtual absl::Status WriteRows(uint64_t first_row, const char* rows,
                                 uint64_t count) = 0;
  // Makes the written table durable and visible and opens it.
  virtual absl::StatusOr<StoredTable> Finish(const v1::TableInfo& info) = 0;

 private:
  v1::TableInfo info_;
  std::shared_ptr<const CompressionMap> compression_;
  ContentDigest digest_;
  // The head of a dense row split across Append calls.
  std::string partial_row_;
  uint64_t bytes_received_ = 0;
  uint64_t rows_written_ = 0;
  // Sparse tables: the smallest id AppendSparse still accepts.
  uint64_t next_sparse_id_ = 0;
  bool committed_ = false;
};

}  // namespace engram::server

#endif  // ENGRAM_SERVER_STORAGE_TABLE_WRITER_H_

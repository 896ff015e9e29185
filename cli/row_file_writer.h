// RowFileWriter: rows streamed to a file whose row count is settled only at
// the end (an export of a sparse table writes the rows it finds): either
// the rows alone, or a .npy array whose header is written last, into room
// kept for the most rows there can be.
//
//   ENGRAM_ASSIGN_OR_RETURN(std::unique_ptr<RowFileWriter> out,
//       RowFileWriter::CreateNpy(path, "<f4", {64}, max_rows));
//   ENGRAM_RETURN_IF_ERROR(out->Append(rows));   // whole rows, any number
//   ENGRAM_RETURN_IF_ERROR(out->Finish(rows_appended));
//
// A writer can go on with a file an earlier one left unfinished (an
// interrupted export), from the bytes it had synced.
//
// Not thread-safe.
#ifndef ENGRAM_CLI_ROW_FILE_WRITER_H_
#define ENGRAM_CLI_ROW_FILE_WRITER_H_

#include <cstdint>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace engram::cli {

class RowFileWriter {
 public:
  // A .npy array [rows, row_shape...] of numpy dtype `descr`, rows at most
  // `max_rows`. The file system's errors, naming `path`.
  //
  // With `resume_after_bytes`, instead of a new file: the unfinished one at
  // `path` gone on with after its first `resume_after_bytes` bytes of rows
  // (bytes after them are cut off); DataLoss naming the path when it holds
  // fewer.
  static absl::StatusOr<std::unique_ptr<RowFileWriter>> CreateNpy(
      const std::string& path, std::string descr,
      std::vector<uint64_t> row_shape, uint64_t max_rows,
      std::optional<uint64_t> resume_after_bytes = std::nullopt);
  // The rows' bytes alone (`resume_after_bytes` as for CreateNpy).
  static absl::StatusOr<std::unique_ptr<RowFileWriter>> CreateRaw(
      const std::string& path,
      std::optional<uint64_t> resume_after_bytes = std::nullopt);

  // Writes `rows` after those appended before. DataLoss naming the path
  // when the write fails (disk full...).
  absl::Status Append(absl::string_view rows);
  // Writes what was appended through to the disk (fsync).
  absl::Status Sync();
  // Writes the .npy header for `rows` rows (InvalidArgument for more than
  // max_rows), closes the file and syncs it to disk (a file renamed into
  // place after this survives a crash whole). Call once.
  absl::Status Finish(uint64_t rows);

  // The file's size so far (a .npy header counted from the start).
  uint64_t bytes() const { return bytes_; }
  // Where the rows start: the room for the .npy header, 0 for raw rows.
  uint64_t header_bytes() const { return header_bytes_; }

 private:
  struct NpyArray {
    std::string descr;
    std::vector<uint64_t> row_shape;
    uint64_t max_rows = 0;
  };
  RowFileWriter(std::string path, std::optional<NpyArray> npy,
                uint64_t header_bytes);
  static absl::StatusOr<std::unique_ptr<RowFileWriter>> Open(
      const std::string& path, std::optional<NpyArray> npy,
      std::optional<uint64_t> resume_after_bytes);

  // The .npy header for `rows` rows, `header_bytes_` long.
  std::string Header(uint64_t rows) const;
  absl::Status WriteFailed() const;

  const std::string path_;
  const std::optional<NpyArray> npy_;
  const uint64_t header_bytes_;
  std::fstream out_;
  uint64_t bytes_;
};

}  // namespace engram::cli

#endif  // ENGRAM_CLI_ROW_FILE_WRITER_H_

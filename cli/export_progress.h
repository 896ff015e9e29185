// ExportProgress: how far an `engramctl export` got, saved beside its
// partial files at each checkpoint so that `export --resume` goes on from
// there instead of from row 0.
//
//   ENGRAM_RETURN_IF_ERROR(WriteExportProgress(path, progress));  // atomic
//   ENGRAM_ASSIGN_OR_RETURN(ExportProgress progress,
//                           ReadExportProgress(path));
//
// The file is text, one "key value" line each after a first line naming
// the format; it is written to PATH.tmp, synced and renamed over PATH, so
// a crash leaves the previous checkpoint or this one.
#ifndef ENGRAM_CLI_EXPORT_PROGRESS_H_
#define ENGRAM_CLI_EXPORT_PROGRESS_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace engram::cli {

struct ExportProgress {
  std::string table;
  // The version exported (pinned again by a resumed export).
  uint64_t version = 0;
  uint32_t row_bytes = 0;
  // ElementTypeName of the rows.
  std::string element_type;
  // The content digest the rows must hash to (the unpatched version's);
  // empty when not checked. A resumed export checks that the table still
  // has it, so that rows of a table imported again since are not mixed in.
  std::string expected_digest;
  // Ids scanned from the first (the lookup position to go on from).
  uint64_t rows_read = 0;
  // Rows in the partial files (fewer than rows_read for a sparse table).
  uint64_t rows_written = 0;

  bool operator==(const ExportProgress&) const = default;
};

// The file system's errors, naming `path`.
absl::Status WriteExportProgress(const std::string& path,
                                 const ExportProgress& progress);

// NotFound when there is no file; DataLoss naming `path` for one that is
// not an export progress file.
absl::StatusOr<ExportProgress> ReadExportProgress(const std::string& path);

}  // namespace engram::cli

#endif  // ENGRAM_CLI_EXPORT_PROGRESS_H_

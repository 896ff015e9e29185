// TableImporter and ImportSession: EngramAdmin.ImportTable without its
// transport. The gRPC reactor feeds an ImportSession the call's messages;
// the service fuzzer feeds it the same messages directly.
//
//   TableImporter importer(&storage, &tables, &versions, ImportLimits{});
//   ImportSession session(&importer);
//   for (v1::ImportTableRequest& message : stream) {
//     ENGRAM_RETURN_IF_ERROR(session.Accept(message));
//   }
//   v1::ImportTableResponse response;
//   ENGRAM_RETURN_IF_ERROR(session.Complete(&response));
//
// A session, per call:
//   1. The first message must be the header: it is validated (name free,
//      sizes, types; a source file within --import-dir) and a TableWriter
//      begun at the placement chosen (ram, or ssd when asked or when "auto"
//      finds the RAM budget full).
//   2. Each rows (dense) or sparse_rows message goes straight to the writer,
//      which hashes it and writes it to disk; rows beyond the header's
//      count, or ids out of order, fail at once.
//   3. An optional content_digest message must be the last.
//   4. Complete(), at the client's half-close: a source file is copied in;
//      the row count and digest are checked, the table committed (complete
//      before it becomes visible) and published.
//   A session destroyed before Complete() succeeded leaves nothing behind.
#ifndef ENGRAM_SERVER_SERVICE_TABLE_IMPORTER_H_
#define ENGRAM_SERVER_SERVICE_TABLE_IMPORTER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/table_file.h"
#include "engram/v1/admin_service.pb.h"
#include "server/storage/table_storage.h"
#include "server/tables/table_manager.h"
#include "server/versions/version_manager.h"

namespace engram::server {

struct ImportLimits {
  // Largest table ImportTable accepts, in row bytes.
  uint64_t max_table_bytes = 64ull << 30;
  // The directory server-side imports (ImportTableHeader.source_file) may
  // read; empty allows none.
  std::string import_dir;
};

// What every import checks and where it lands. Thread-safe.
class TableImporter {
 public:
  // `storage`, `tables` and `versions` must outlive the importer.
  TableImporter(TableStorage* storage, const TableManager* tables,
                VersionManager* versions, ImportLimits limits);

  // Opens a header's source file: FailedPrecondition without an import
  // directory, PermissionDenied outside it, TableFile's errors otherwise.
  absl::StatusOr<std::unique_ptr<TableFile>> OpenSourceFile(
      const v1::SourceFile& source) const;

  // Checks an import header (for a source file, whose shape it takes) and
  // starts writing the table: InvalidArgument for a bad header,
  // AlreadyExists for a name taken, ResourceExhausted over the limit.
  absl::StatusOr<std::unique_ptr<TableWriter>> BeginImport(
      const v1::ImportTableHeader& header, const TableFile* file) const;

  // ResourceExhausted when `bytes` of a sparse table's rows exceed the
  // import limit.
  absl::Status CheckSparseImportSize(uint64_t bytes) const;

  // Serves a committed table.
  absl::Status Publish(StoredTable stored) const;

 private:
  TableStorage* const storage_;
  const TableManager* const tables_;
  VersionManager* const versions_;
  const ImportLimits limits_;
};

// One ImportTable call's state. Not thread-safe: a call's messages come
// one at a time.
class ImportSession {
 public:
  // `importer` must outlive the session.
  explicit ImportSession(const TableImporter* importer);

  // Takes one message of the stream (steps 1-3); the rows it carries are
  // consumed. InvalidArgument for a message out of place, the writer's
  // and TableImporter's errors otherwise; the call then ends.
  absl::Status Accept(v1::ImportTableRequest& request);

  // Step 4; `response` gets the table's info.
  absl::Status Complete(v1::ImportTableResponse* response);

  // Names the import, for logs.
  std::string Describe() const;

 private:
  absl::Status AcceptHeader(const v1::ImportTableHeader& header);
  // InvalidArgument unless rows may be streamed now.
  absl::Status ExpectStreamedRows() const;
  void LogProgress() const;

  const TableImporter* const importer_;
  std::string name_;
  std::unique_ptr<TableFile> file_;
  std::unique_ptr<TableWriter> writer_;
  bool digest_seen_ = false;
  std::string expected_digest_;
};

}  // namespace engram::server

#endif  // ENGRAM_SERVER_SERVICE_TABLE_IMPORTER_H_

// AdminServiceImpl: engram.v1.EngramAdmin, the calls that change what is
// served, on gRPC's callback API.
//
//   AdminServiceImpl admin(&storage, &tables, ImportLimits{});
//   builder.RegisterService(&admin);
//
// ImportTable, per call (a read reactor):
//   1. The first message must be the header: it is validated (name free,
//      sizes, types; a source file within --import-dir) and a TableWriter
//      begun at the placement chosen (ram, or ssd when asked or when "auto"
//      finds the RAM budget full).
//   2. Each rows (dense) or sparse_rows message goes straight to the writer,
//      which hashes it and writes it to disk; rows beyond the header's
//      count, or ids out of order, fail the call at once.
//   3. An optional content_digest message must be the last.
//   4. When the client half-closes: a source file is copied in; the row
//      count and digest are checked, the table committed (complete before it
//      becomes visible) and published, and the call finishes with its
//      TableInfo.
//   Any error finishes the call; the writer, destroyed, leaves nothing
//   behind.
//
// UploadPatch, per call (a read reactor): the first message names the
// patch and begins a VersionManager::Upload; each message's rows are added
// (held in memory until the commit); at the client's half-close the
// stream's digest is checked and the upload finished. Any error finishes the call, and the
// upload, destroyed unfinished, takes the stream's rows back out.
//
// Every call first passes the admin TokenCheck.
#ifndef ENGRAM_SERVER_SERVICE_ADMIN_SERVICE_IMPL_H_
#define ENGRAM_SERVER_SERVICE_ADMIN_SERVICE_IMPL_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/table_file.h"
#include "engram/v1/admin_service.grpc.pb.h"
#include "server/service/token_check.h"
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

class AdminServiceImpl final : public v1::EngramAdmin::CallbackService {
 public:
  // `storage`, `tables`, `versions` and `auth` must outlive the service.
  AdminServiceImpl(TableStorage* storage, const TableManager* tables,
                   VersionManager* versions, const TokenCheck* auth,
                   ImportLimits limits);

  grpc::ServerReadReactor<v1::ImportTableRequest>* ImportTable(
      grpc::CallbackServerContext* context,
      v1::ImportTableResponse* response) override;
  grpc::ServerUnaryReactor* CreatePatch(grpc::CallbackServerContext* context,
                                        const v1::CreatePatchRequest* request,
                                        v1::PatchInfo* response) override;
  grpc::ServerReadReactor<v1::UploadPatchRequest>* UploadPatch(
      grpc::CallbackServerContext* context, v1::PatchInfo* response) override;
  grpc::ServerUnaryReactor* CommitPatch(grpc::CallbackServerContext* context,
                                        const v1::CommitPatchRequest* request,
                                        v1::VersionInfo* response) override;
  grpc::ServerUnaryReactor* AbortPatch(grpc::CallbackServerContext* context,
                                       const v1::AbortPatchRequest* request,
                                       v1::PatchInfo* response) override;
  grpc::ServerUnaryReactor* ActivateVersion(
      grpc::CallbackServerContext* context,
      const v1::ActivateVersionRequest* request,
      v1::VersionInfo* response) override;
  grpc::ServerUnaryReactor* Rollback(grpc::CallbackServerContext* context,
                                     const v1::RollbackRequest* request,
                                     v1::VersionInfo* response) override;
  grpc::ServerUnaryReactor* ListVersions(
      grpc::CallbackServerContext* context,
      const v1::ListVersionsRequest* request,
      v1::ListVersionsResponse* response) override;
  grpc::ServerUnaryReactor* ExplainRows(
      grpc::CallbackServerContext* context,
      const v1::ExplainRowsRequest* request,
      v1::ExplainRowsResponse* response) override;

  // Opens a header's source file: FailedPrecondition without an import
  // directory, PermissionDenied outside it, TableFile's errors otherwise.
  absl::StatusOr<std::unique_ptr<TableFile>> OpenSourceFile(
      const v1::SourceFile& source) const;

  // Checks an import header (for a source file, whose shape it takes) and
  // starts writing the table.
  absl::StatusOr<std::unique_ptr<TableWriter>> BeginImport(
      const v1::ImportTableHeader& header, const TableFile* file) const;

  // ResourceExhausted when `bytes` of a sparse table's rows exceed the
  // import limit.
  absl::Status CheckSparseImportSize(uint64_t bytes) const;

  // Serves a committed table. Thread-safe.
  absl::Status Publish(StoredTable stored) const;

 private:
  TableStorage* const storage_;
  const TableManager* const tables_;
  VersionManager* const versions_;
  const TokenCheck* const auth_;
  const ImportLimits limits_;
};

}  // namespace engram::server

#endif  // ENGRAM_SERVER_SERVICE_ADMIN_SERVICE_IMPL_H_

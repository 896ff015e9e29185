// AdminServiceImpl: engram.v1.EngramAdmin, the calls that change what is
// served, on gRPC's callback API.
//
//   AdminServiceImpl admin(&storage, &tables, &versions, &auth,
//                          ImportLimits{});
//   builder.RegisterService(&admin);
//
// ImportTable and UploadPatch are client streams: a read reactor hands each
// message to an ImportSession or PatchUploadSession (table_importer.h,
// patch_upload_session.h say what they check) and ends the call at the
// first error, after dropping the session so that nothing the stream did
// stays behind.
//
// Every call first passes the admin TokenCheck. The Do* methods and
// Start*() are the same calls without their transport and without that
// check (the service fuzzer's way in).
#ifndef ENGRAM_SERVER_SERVICE_ADMIN_SERVICE_IMPL_H_
#define ENGRAM_SERVER_SERVICE_ADMIN_SERVICE_IMPL_H_

#include "absl/status/status.h"
#include "engram/v1/admin_service.grpc.pb.h"
#include "server/service/patch_upload_session.h"
#include "server/service/table_importer.h"
#include "server/service/token_check.h"
#include "server/storage/table_storage.h"
#include "server/tables/table_manager.h"
#include "server/versions/version_manager.h"

namespace engram::server {

class AdminServiceImpl final : public v1::EngramAdmin::CallbackService {
 public:
  // `storage`, `tables`, `versions` and `auth` must outlive the service.
  AdminServiceImpl(TableStorage* storage, const TableManager* tables,
                   VersionManager* versions, const TokenCheck* auth,
                   ImportLimits limits);

  grpc::ServerReadReactor<v1::ImportTableRequest>* ImportTable(
      grpc::CallbackServerContext* context,
      v1::ImportTableResponse* response) override;
  grpc::ServerUnaryReactor* DropTable(grpc::CallbackServerContext* context,
                                      const v1::DropTableRequest* request,
                                      v1::DropTableResponse* response) override;
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

  // The calls above once the caller is let in. Thread-safe.
  absl::Status DoDropTable(const v1::DropTableRequest& request,
                           v1::DropTableResponse* response);
  absl::Status DoCreatePatch(const v1::CreatePatchRequest& request,
                             v1::PatchInfo* response);
  absl::Status DoCommitPatch(const v1::CommitPatchRequest& request,
                             v1::VersionInfo* response);
  absl::Status DoAbortPatch(const v1::AbortPatchRequest& request,
                            v1::PatchInfo* response);
  absl::Status DoActivateVersion(const v1::ActivateVersionRequest& request,
                                 v1::VersionInfo* response);
  absl::Status DoRollback(const v1::RollbackRequest& request,
                          v1::VersionInfo* response);
  absl::Status DoListVersions(const v1::ListVersionsRequest& request,
                              v1::ListVersionsResponse* response) const;
  absl::Status DoExplainRows(const v1::ExplainRowsRequest& request,
                             v1::ExplainRowsResponse* response) const;
  // A new ImportTable or UploadPatch call's state.
  ImportSession StartImport() const;
  PatchUploadSession StartUpload() const;

 private:
  TableStorage* const storage_;
  VersionManager* const versions_;
  const TokenCheck* const auth_;
  const TableImporter importer_;
};

}  // namespace engram::server

#endif  // ENGRAM_SERVER_SERVICE_ADMIN_SERVICE_IMPL_H_

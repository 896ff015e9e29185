#include "server/service/admin_service_impl.h"

#include <optional>
#include <string>
#include <utility>

#include "common/grpc_status.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "server/service/refused_reactor.h"
#include "server/service/request_id.h"
#include "server/service/unary_call.h"

namespace engram::server {
namespace {

// A client stream taken one message at a time by a `Session`
// (ImportSession, PatchUploadSession): Accept() each, Complete() at the
// client's half-close. The first error drops the session, which undoes
// what the stream did, and then ends the call.
template <typename Request, typename Response, typename Session>
class SessionReactor final : public grpc::ServerReadReactor<Request> {
 public:
  SessionReactor(Session session, Response* response, std::string request_id)
      : session_(std::move(session)),
        response_(response),
        request_id_(std::move(request_id)) {
    this->StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    const ScopedLogRequestId log(request_id_);
    const absl::Status status =
        ok ? session_->Accept(request_) : session_->Complete(response_);
    if (!status.ok()) {
      LOG(WARNING) << session_->Describe() << " failed: " << status;
      session_.reset();
      this->Finish(ToGrpcStatus(status));
      return;
    }
    if (ok) {
      this->StartRead(&request_);
    } else {
      this->Finish(grpc::Status::OK);
    }
  }

  void OnDone() override { delete this; }

 private:
  // Reactions of one call never overlap, so no lock is needed.
  std::optional<Session> session_;
  Response* const response_;
  const std::string request_id_;
  Request request_;
};

// The reactor of a client-streaming call: refused unless it passes `auth`.
template <typename Request, typename Response, typename Session>
grpc::ServerReadReactor<Request>* StartStream(
    grpc::CallbackServerContext* context, const TokenCheck& auth,
    Session session, Response* response) {
  std::string request_id = AssignRequestId(*context);
  if (absl::Status status = auth.Check(*context); !status.ok()) {
    const ScopedLogRequestId log(request_id);
    VLOG(1) << "admin call refused: " << status;
    return new RefusedReactor<grpc::ServerReadReactor<Request>>(status);
  }
  return new SessionReactor<Request, Response, Session>(
      std::move(session), response, std::move(request_id));
}

}  // namespace

AdminServiceImpl::AdminServiceImpl(TableStorage* storage,
                                   const TableManager* tables,
                                   VersionManager* versions,
                                   const TokenCheck* auth, ImportLimits limits)
    : storage_(storage),
      versions_(versions),
      auth_(auth),
      importer_(storage, tables, versions, std::move(limits)) {}

ImportSession AdminServiceImpl::StartImport() const {
  return ImportSession(&importer_);
}

PatchUploadSession AdminServiceImpl::StartUpload() const {
  return PatchUploadSession(versions_);
}

grpc::ServerReadReactor<v1::ImportTableRequest>* AdminServiceImpl::ImportTable(
    grpc::CallbackServerContext* context, v1::ImportTableResponse* response) {
  return StartStream<v1::ImportTableRequest>(context, *auth_, StartImport(),
                                             response);
}

grpc::ServerReadReactor<v1::UploadPatchRequest>* AdminServiceImpl::UploadPatch(
    grpc::CallbackServerContext* context, v1::PatchInfo* response) {
  return StartStream<v1::UploadPatchRequest>(context, *auth_, StartUpload(),
                                             response);
}

grpc::ServerUnaryReactor* AdminServiceImpl::DropTable(
    grpc::CallbackServerContext* context, const v1::DropTableRequest* request,
    v1::DropTableResponse* response) {
  return FinishUnaryCall(context, *auth_,
                         [&] { return DoDropTable(*request, response); });
}

absl::Status AdminServiceImpl::DoDropTable(const v1::DropTableRequest& request,
                                           v1::DropTableResponse* response) {
  ENGRAM_ASSIGN_OR_RETURN(
      const VersionManager::Dropped dropped,
      versions_->DropTable(request.table(), request.force(), [&] {
        const absl::Status removed = storage_->DropTable(request.table());
        // Tables built at start (--demo) have nothing on disk.
        return absl::IsNotFound(removed) ? absl::OkStatus() : removed;
      }));
  *response->mutable_table() = dropped.active->info();
  response->set_released_pins(dropped.released_pins);
  response->set_deleted_patches(dropped.deleted_patches);
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* AdminServiceImpl::CreatePatch(
    grpc::CallbackServerContext* context, const v1::CreatePatchRequest* request,
    v1::PatchInfo* response) {
  return FinishUnaryCall(context, *auth_,
                         [&] { return DoCreatePatch(*request, response); });
}

grpc::ServerUnaryReactor* AdminServiceImpl::CommitPatch(
    grpc::CallbackServerContext* context, const v1::CommitPatchRequest* request,
    v1::VersionInfo* response) {
  return FinishUnaryCall(context, *auth_,
                         [&] { return DoCommitPatch(*request, response); });
}

grpc::ServerUnaryReactor* AdminServiceImpl::AbortPatch(
    grpc::CallbackServerContext* context, const v1::AbortPatchRequest* request,
    v1::PatchInfo* response) {
  return FinishUnaryCall(context, *auth_,
                         [&] { return DoAbortPatch(*request, response); });
}

grpc::ServerUnaryReactor* AdminServiceImpl::ActivateVersion(
    grpc::CallbackServerContext* context,
    const v1::ActivateVersionRequest* request, v1::VersionInfo* response) {
  return FinishUnaryCall(context, *auth_,
                         [&] { return DoActivateVersion(*request, response); });
}

grpc::ServerUnaryReactor* AdminServiceImpl::Rollback(
    grpc::CallbackServerContext* context, const v1::RollbackRequest* request,
    v1::VersionInfo* response) {
  return FinishUnaryCall(context, *auth_,
                         [&] { return DoRollback(*request, response); });
}

grpc::ServerUnaryReactor* AdminServiceImpl::ListVersions(
    grpc::CallbackServerContext* context,
    const v1::ListVersionsRequest* request,
    v1::ListVersionsResponse* response) {
  return FinishUnaryCall(context, *auth_,
                         [&] { return DoListVersions(*request, response); });
}

grpc::ServerUnaryReactor* AdminServiceImpl::ExplainRows(
    grpc::CallbackServerContext* context, const v1::ExplainRowsRequest* request,
    v1::ExplainRowsResponse* response) {
  return FinishUnaryCall(context, *auth_,
                         [&] { return DoExplainRows(*request, response); });
}

absl::Status AdminServiceImpl::DoCreatePatch(
    const v1::CreatePatchRequest& request, v1::PatchInfo* response) {
  ENGRAM_ASSIGN_OR_RETURN(
      *response,
      versions_->CreatePatch(request.table(), request.description()));
  LOG(INFO) << "patch " << response->patch_id() << " of table '"
            << request.table() << "' created";
  return absl::OkStatus();
}

absl::Status AdminServiceImpl::DoCommitPatch(
    const v1::CommitPatchRequest& request, v1::VersionInfo* response) {
  ENGRAM_ASSIGN_OR_RETURN(
      *response,
      versions_->CommitPatch(request.patch_id(), request.content_digest()));
  return absl::OkStatus();
}

absl::Status AdminServiceImpl::DoAbortPatch(
    const v1::AbortPatchRequest& request, v1::PatchInfo* response) {
  ENGRAM_ASSIGN_OR_RETURN(*response, versions_->AbortPatch(request.patch_id()));
  return absl::OkStatus();
}

absl::Status AdminServiceImpl::DoActivateVersion(
    const v1::ActivateVersionRequest& request, v1::VersionInfo* response) {
  ENGRAM_ASSIGN_OR_RETURN(
      *response, versions_->Activate(request.table(), request.version()));
  return absl::OkStatus();
}

absl::Status AdminServiceImpl::DoRollback(const v1::RollbackRequest& request,
                                          v1::VersionInfo* response) {
  ENGRAM_ASSIGN_OR_RETURN(
      *response, versions_->Rollback(request.table(), request.to_version()));
  return absl::OkStatus();
}

absl::Status AdminServiceImpl::DoListVersions(
    const v1::ListVersionsRequest& request,
    v1::ListVersionsResponse* response) const {
  ENGRAM_ASSIGN_OR_RETURN(*response, versions_->ListVersions(request.table()));
  return absl::OkStatus();
}

absl::Status AdminServiceImpl::DoExplainRows(
    const v1::ExplainRowsRequest& request,
    v1::ExplainRowsResponse* response) const {
  ENGRAM_ASSIGN_OR_RETURN(
      *response,
      versions_->ExplainRows(request.table(), request.at(), request.row_ids()));
  return absl::OkStatus();
}

}  // namespace engram::server

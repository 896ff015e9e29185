#include "server/service/patch_upload_session.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/status_macros.h"

namespace engram::server {

PatchUploadSession::PatchUploadSession(VersionManager* versions)
    : versions_(versions) {}

std::string PatchUploadSession::Describe() const {
  return absl::StrCat("upload to patch ", patch_id_);
}

absl::Status PatchUploadSession::Accept(v1::UploadPatchRequest& request) {
  if (upload_ == nullptr) {
    patch_id_ = request.patch_id();
    ENGRAM_ASSIGN_OR_RETURN(upload_, versions_->BeginUpload(patch_id_));
  } else if (request.patch_id() != 0 && request.patch_id() != patch_id_) {
    return absl::InvalidArgumentError(
        absl::StrCat("an upload stream is for one patch: ", patch_id_, ", not ",
                     request.patch_id()));
  }
  if (!digest_.empty()) {
    return absl::InvalidArgumentError(
        "content_digest must be in the last message of an upload");
  }
  if (!request.row_ids().empty() || !request.rows().empty()) {
    bytes_ += request.rows().size();
    ENGRAM_RETURN_IF_ERROR(upload_->Add(std::move(*request.mutable_row_ids()),
                                        std::move(*request.mutable_rows())));
    LOG_EVERY_N_SEC(INFO, 5)
        << "uploading patch " << patch_id_ << ": " << bytes_ << " bytes";
  }
  digest_ = request.content_digest();
  return absl::OkStatus();
}

absl::Status PatchUploadSession::Complete(v1::PatchInfo* response) {
  if (upload_ == nullptr) {
    return absl::InvalidArgumentError(
        "an upload's first message names its patch");
  }
  ENGRAM_ASSIGN_OR_RETURN(*response, upload_->Finish(digest_));
  upload_.reset();
  LOG(INFO) << "patch " << patch_id_ << ": " << response->rows()
            << " rows uploaded, sha256 " << response->content_digest();
  return absl::OkStatus();
}

}  // namespace engram::server

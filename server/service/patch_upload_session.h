// PatchUploadSession: EngramAdmin.UploadPatch without its transport. The
// gRPC reactor feeds it the call's messages; the service fuzzer feeds it
// the same messages directly.
//
//   PatchUploadSession session(&versions);
//   for (v1::UploadPatchRequest& message : stream) {
//     ENGRAM_RETURN_IF_ERROR(session.Accept(message));
//   }
//   v1::PatchInfo uploaded;
//   ENGRAM_RETURN_IF_ERROR(session.Complete(&uploaded));
//
// The first message names the patch and begins a VersionManager::Upload;
// each message's rows are added (held in memory until the commit); at the
// client's half-close, Complete() checks the stream's digest and finishes
// the upload. A session destroyed before Complete() succeeded takes the
// stream's rows back out of the patch.
#ifndef ENGRAM_SERVER_SERVICE_PATCH_UPLOAD_SESSION_H_
#define ENGRAM_SERVER_SERVICE_PATCH_UPLOAD_SESSION_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "engram/v1/admin_service.pb.h"
#include "server/versions/version_manager.h"

namespace engram::server {

// One UploadPatch call's state. Not thread-safe: a call's messages come one
// at a time.
class PatchUploadSession {
 public:
  // `versions` must outlive the session.
  explicit PatchUploadSession(VersionManager* versions);

  // Takes one message; its rows become the patch's (moved out of
  // `request`, no copy). InvalidArgument for a message out of place,
  // VersionManager's errors (NotFound for an unknown patch) otherwise; the
  // call then ends.
  absl::Status Accept(v1::UploadPatchRequest& request);

  // Checks the stream's digest and finishes the upload into `response`.
  absl::Status Complete(v1::PatchInfo* response);

  // Names the upload, for logs.
  std::string Describe() const;

 private:
  VersionManager* const versions_;
  uint64_t patch_id_ = 0;
  uint64_t bytes_ = 0;
  std::string digest_;
  std::unique_ptr<VersionManager::Upload> upload_;
};

}  // namespace engram::server

#endif  // ENGRAM_SERVER_SERVICE_PATCH_UPLOAD_SESSION_H_

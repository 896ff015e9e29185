// VersionStore: the durable control plane of knowledge patches, a RocksDB
// instance of its own (DATA_DIR/control) with its write-ahead log on.
//
//   ENGRAM_ASSIGN_OR_RETURN(auto store, VersionStore::Open(dir + "/control"));
//   ENGRAM_ASSIGN_OR_RETURN(v1::PatchInfo patch, store->CreatePatch(info));
//   ENGRAM_RETURN_IF_ERROR(store->CommitPatch(patch, *rows, version));
//   ENGRAM_RETURN_IF_ERROR(store->SetActive(version));            // synced
//
// Keys
//   "n"                          the next patch id (8 bytes big-endian)
//   "p" id                       PatchInfo of a patch, committed or not
//   "c" id seq                   a committed patch's rows: chunk `seq` (the
//                                ids' byte count, 8 bytes little-endian, the
//                                ids, the rows)
//   "v" table \0 version         VersionInfo of a committed version
//   "a" table                    the active version (8 bytes big-endian)
// (ids, seqs and versions 8 bytes big-endian, so keys sort numerically.)
//
// Crash safety comes from write batches: a commit writes the patch's
// committed state and its version in one synced batch, an activation the
// active pointer and the version's activation time in another, so after a
// crash each happened entirely or not at all. An upload is not resumable,
// so its rows stay with the caller until the commit, which writes them as
// one table file (SstFileWriter), ingests it, and only then writes its
// batch: the rows are written once, with no WAL and no memtable. A patch
// created but not committed is discarded at Open and reported by
// discarded().
#ifndef ENGRAM_SERVER_VERSIONS_VERSION_STORE_H_
#define ENGRAM_SERVER_VERSIONS_VERSION_STORE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "engram/v1/admin_service.pb.h"
#include "rocksdb/db.h"
#include "server/tables/patch_overlay.h"

namespace engram::server {

class VersionStore {
 public:
  // Opens (creating) the store at `path` and discards unfinished uploads.
  static absl::StatusOr<std::unique_ptr<VersionStore>> Open(
      const std::string& path);
  ~VersionStore();

  // Uploads found unfinished at Open, and deleted.
  const std::vector<v1::PatchInfo>& discarded() const { return discarded_; }

  // Records a new patch `info` under the next patch id (never reused, even
  // across restarts) and returns it with the id set. Synced.
  absl::StatusOr<v1::PatchInfo> CreatePatch(v1::PatchInfo info);
  // Rewrites a patch's record (rows and digest after an upload). Unsynced.
  absl::Status UpdatePatch(const v1::PatchInfo& info);
  // Stores the patch's rows, then marks `patch` committed and records
  // `version`, atomically. Synced.
  absl::Status CommitPatch(const v1::PatchInfo& patch, const PatchRows& rows,
                           const v1::VersionInfo& version);
  // Makes `version` (with its activation time) its table's active one,
  // atomically. Synced.
  absl::Status SetActive(const v1::VersionInfo& version);
  // Deletes a patch's record and rows, and frees their disk space.
  absl::Status DeletePatch(uint64_t patch_id);
  // Deletes a version's record.
  absl::Status DeleteVersion(absl::string_view table, uint64_t version);
  // Deletes every record of `table`: its versions, its active version and
  // the patches `patch_ids` (its patches, committed or not), atomically,
  // then frees the patches' disk space. Synced.
  absl::Status DeleteTable(absl::string_view table,
                           absl::Span<const uint64_t> patch_ids);

  // Every committed patch and every version, for startup.
  absl::StatusOr<std::vector<v1::PatchInfo>> Patches() const;
  absl::StatusOr<std::vector<v1::VersionInfo>> Versions() const;
  // The active version of `table`, if one was ever set.
  absl::StatusOr<std::optional<uint64_t>> Active(absl::string_view table) const;
  // A committed patch's rows, read back from its chunks.
  absl::StatusOr<std::shared_ptr<const PatchRows>> LoadRows(
      const v1::PatchInfo& patch) const;

 private:
  VersionStore(std::string path, std::unique_ptr<rocksdb::DB> db)
      : path_(std::move(path)), db_(std::move(db)) {}

  absl::Status DiscardUnfinished();
  // Frees the disk space of a patch whose records a write deleted.
  absl::Status ReclaimPatchSpace(uint64_t patch_id);
  // Writes a patch's chunks into one table file and ingests it.
  absl::Status WriteRows(const PatchRows& rows);
  absl::Status Write(rocksdb::WriteBatch& batch, bool sync,
                     absl::string_view what);

  // Patch deletions per memtable flush (see DeletePatch).
  static constexpr uint32_t kDeletesPerFlush = 64;

  const std::string path_;
  const std::unique_ptr<rocksdb::DB> db_;
  std::vector<v1::PatchInfo> discarded_;
  std::atomic<uint64_t> patches_deleted_ = 0;
};

}  // namespace engram::server

#endif  // ENGRAM_SERVER_VERSIONS_VERSION_STORE_H_

// VersionManager: knowledge patches and table versions. It owns the durable
// control store (VersionStore), builds each retained version as a Table
// (the base under a PatchOverlay), publishes the active and retained ones
// to the TableManager, and hands out pins and change notifications.
//
//   ENGRAM_ASSIGN_OR_RETURN(auto versions, VersionManager::Open(options,
//                                                               &tables));
//   versions->AddTable(base_table);            // at start and after imports
//   ENGRAM_ASSIGN_OR_RETURN(v1::PatchInfo patch,
//                           versions->CreatePatch("layer_1", "fix"));
//   ENGRAM_ASSIGN_OR_RETURN(auto upload, versions->BeginUpload(id));
//   ENGRAM_RETURN_IF_ERROR(upload->Add(ids, rows));
//   ENGRAM_RETURN_IF_ERROR(upload->Finish("").status());
//   ENGRAM_ASSIGN_OR_RETURN(v1::VersionInfo v, versions->CommitPatch(id, ""));
//   ENGRAM_RETURN_IF_ERROR(versions->Activate("layer_1",
//   v.version()).status());
//
// Versions of a table are numbered from its base's (1) up and never reused.
// A version is committed on top of the version active at the time and is
// built (its overlay indexed) at commit, so activation is a pointer swap.
// Retention: the base, the active version, the newest `retain_versions`
// and every pinned version are kept; older ones, and patches no kept
// version uses, are deleted after each commit and activation.
//
// Control calls are serialised by one mutex; lookups never take it.
#ifndef ENGRAM_SERVER_VERSIONS_VERSION_MANAGER_H_
#define ENGRAM_SERVER_VERSIONS_VERSION_MANAGER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "common/content_digest.h"
#include "engram/v1/admin_service.pb.h"
#include "engram/v1/engram_service.pb.h"
#include "server/tables/table_manager.h"
#include "server/versions/pin_registry.h"
#include "server/versions/version_store.h"

namespace engram::server {

// One change of a table's active version, for watchers, or the end of the
// watch: then `end` says why (Unavailable: the server is stopping;
// NotFound: the table was dropped) and the other fields are unset.
struct VersionChange {
  absl::Status end;
  v1::VersionEvent::Kind kind = v1::VersionEvent::KIND_UNSPECIFIED;
  std::string table;
  uint64_t version = 0;
  uint64_t previous_version = 0;
  // Rows that may differ, increasing; shared by every watcher.
  std::shared_ptr<const std::vector<uint64_t>> changed_ids;
};

class VersionManager {
 public:
  struct Options {
    // Directory of the control store (created if missing). Required.
    std::string control_dir;
    // Versions kept besides the base, the active one and pinned ones.
    int retain_versions = 8;
    // Largest patch, in row bytes (patches are held in memory).
    uint64_t max_patch_bytes = 4ull << 30;
    PinRegistry::Limits pins;
  };

  // Opens the control store; uploads left unfinished by a previous run are
  // discarded (and logged). The manager publishes to `tables`, which must
  // outlive it.
  static absl::StatusOr<std::unique_ptr<VersionManager>> Open(
      const Options& options, TableManager* tables);
  ~VersionManager();

  // Serves `base` (a table as stored, at its base version) with the
  // versions the control store holds for it, the recorded one active.
  // A version whose patches cannot be read is logged and left out.
  absl::Status AddTable(std::shared_ptr<const Table> base)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Serves a table just imported. Records a previous table of that name
  // left behind (a drop interrupted by a crash after its rows were gone)
  // are deleted first: a new table starts with no versions.
  absl::Status AddNewTable(std::shared_ptr<const Table> base)
      ABSL_LOCKS_EXCLUDED(mu_);

  // What DropTable took away.
  struct Dropped {
    // The active version as it was served.
    std::shared_ptr<const Table> active;
    size_t released_pins = 0;
    size_t deleted_patches = 0;
  };
  // Stops serving `table` and deletes its versions and patches, committed
  // or not, once `remove_rows` (which deletes the table's rows from disk)
  // succeeds; until then the table is served as before. Pins of the table
  // are released and its watches end with NotFound. NotFound for an unknown
  // table; FailedPrecondition while a patch of it is being uploaded or,
  // unless `force`, while a pin holds one of its versions; remove_rows's
  // error (nothing changed).
  absl::StatusOr<Dropped> DropTable(
      absl::string_view table, bool force,
      absl::FunctionRef<absl::Status()> remove_rows) ABSL_LOCKS_EXCLUDED(mu_);

  // Starts a patch of `table`. NotFound for an unknown table.
  absl::StatusOr<v1::PatchInfo> CreatePatch(absl::string_view table,
                                            absl::string_view description)
      ABSL_LOCKS_EXCLUDED(mu_);

  // One upload stream into an uncommitted patch. Rows are held in memory
  // until the commit stores them; a stream destroyed before Finish takes
  // its rows back out.
  class Upload {
   public:
    ~Upload();
    // Appends `ids` (packed) and their rows, keeping the buffers.
    // InvalidArgument for a bad shape or an id out of the table's range,
    // ResourceExhausted over the patch size limit; the stream is then spent
    // (destroy it).
    absl::Status Add(std::string ids, std::string rows);
    // Ends the stream. InvalidArgument (and the stream's rows dropped) when
    // `digest` is set and differs from this stream's rows.
    absl::StatusOr<v1::PatchInfo> Finish(absl::string_view digest);

   private:
    friend class VersionManager;
    struct Staged;
    Upload(VersionManager* manager, Staged* staged);

    VersionManager* const manager_;
    Staged* const staged_;
    // Where this stream's rows begin, to take them back out.
    const size_t first_chunk_;
    const uint64_t first_rows_;
    ContentDigest digest_;
    bool finished_ = false;
  };

  // NotFound (unknown patch), FailedPrecondition (committed already, or
  // another stream is uploading to it).
  absl::StatusOr<std::unique_ptr<Upload>> BeginUpload(uint64_t patch_id)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Checks the patch (non-empty, no duplicate ids, `digest` if set) and
  // commits it as a new version over the active one. A patch that fails the
  // checks is discarded (the error says so).
  absl::StatusOr<v1::VersionInfo> CommitPatch(uint64_t patch_id,
                                              absl::string_view digest)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Discards an uncommitted patch; returns it as it was. NotFound (unknown
  // patch), FailedPrecondition (committed, or being uploaded).
  absl::StatusOr<v1::PatchInfo> AbortPatch(uint64_t patch_id)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Makes retained `version` active. NotFound for an unknown table or
  // version.
  absl::StatusOr<v1::VersionInfo> Activate(absl::string_view table,
                                           uint64_t version)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Activates retained `to_version` (< the active one), or with 0 the newest
  // retained version older than the active one. FailedPrecondition when
  // there is none or to_version is not older.
  absl::StatusOr<v1::VersionInfo> Rollback(absl::string_view table,
                                           uint64_t to_version)
      ABSL_LOCKS_EXCLUDED(mu_);

  absl::StatusOr<v1::ListVersionsResponse> ListVersions(absl::string_view table)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Pins `version` of `table` (0: the active one). NotFound for an unknown
  // table or a version not retained; PinRegistry's errors.
  absl::StatusOr<PinRegistry::Pin> Pin(absl::string_view table,
                                       uint64_t version, absl::Duration ttl)
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status ReleasePin(uint64_t pin_id);

  // The version of `table` that serves a lookup with selector `at`.
  // NotFound (table, version, pin), InvalidArgument (a pin of another
  // table), FailedPrecondition (a version that is not the pinned one).
  absl::StatusOr<std::shared_ptr<const Table>> Resolve(
      absl::string_view table, const v1::VersionSelector& at);

  // Most ids ExplainRows takes in one call.
  static constexpr size_t kMaxExplainRows = 65536;

  // Where each of `row_ids` (packed, as LookupRequest.row_ids) comes from
  // in the version of `table` that `at` selects (EngramAdmin.ExplainRows):
  // the base or the topmost patch that has it, with a fingerprint of the
  // row as lookups of that version get it. Errors: Resolve's;
  // InvalidArgument for ids not packed right, no ids, or an id beyond the
  // table; OutOfRange for another shard's; ResourceExhausted beyond
  // kMaxExplainRows; the tier's read errors. Takes mu_ only to copy the
  // patches' records, not while reading rows.
  absl::StatusOr<v1::ExplainRowsResponse> ExplainRows(
      absl::string_view table, const v1::VersionSelector& at,
      absl::string_view row_ids) ABSL_LOCKS_EXCLUDED(mu_);

  // Calls `listener` with a CURRENT change at once, then with every
  // activation of `table` until Unwatch(returned id). Listeners run on the
  // activating thread, in order, and must not block or call back into the
  // manager. NotFound for an unknown table.
  using Listener = std::function<void(const VersionChange&)>;
  absl::StatusOr<uint64_t> Watch(absl::string_view table, Listener listener)
      ABSL_LOCKS_EXCLUDED(mu_);
  // After it returns the listener is not running and never runs again.
  void Unwatch(uint64_t watch_id) ABSL_LOCKS_EXCLUDED(watch_mu_);
  // Tells every listener the watch is closed (a change with `end`
  // Unavailable) and forgets them, so that streams of watchers end before a
  // shutdown.
  void CloseWatches() ABSL_LOCKS_EXCLUDED(watch_mu_);

 private:
  struct Version {
    v1::VersionInfo info;
    std::shared_ptr<const Table> table;
  };
  struct TableState {
    std::shared_ptr<const Table> base;
    // By version number; includes the base.
    std::map<uint64_t, Version> versions;
    uint64_t active = 0;
  };

  VersionManager(const Options& options, TableManager* tables,
                 std::unique_ptr<VersionStore> store);

  absl::StatusOr<TableState*> FindTableLocked(absl::string_view table)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Serves `base` with its versions among `records` (the control store's,
  // of any table), `recorded_active` active where it can be served.
  void ServeLocked(std::shared_ptr<const Table> base,
                   std::vector<v1::VersionInfo> records,
                   std::optional<uint64_t> recorded_active)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The patches of `patch_ids`, loading those not in memory yet.
  absl::StatusOr<std::vector<std::shared_ptr<const PatchRows>>> PatchesLocked(
      const google::protobuf::RepeatedField<uint64_t>& patch_ids)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<v1::VersionInfo> ActivateLocked(TableState& state,
                                                 uint64_t version)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The ids of every patch of `table`, committed or not.
  std::vector<uint64_t> PatchIdsLocked(absl::string_view table) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Drops patches `ids` (committed or not) from memory.
  void ForgetPatchesLocked(absl::Span<const uint64_t> ids)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Ends the watches of `table` (every watch when empty) with `why`.
  void EndWatches(absl::string_view table, const absl::Status& why)
      ABSL_LOCKS_EXCLUDED(watch_mu_);
  // Drops versions and patches retention no longer keeps.
  void CollectLocked(TableState& state) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Returns the memory collections freed to the system. Outside mu_: it
  // takes 10-20 ms, and PinVersion calls wait on mu_.
  void ReleaseCollectedMemory() ABSL_LOCKS_EXCLUDED(mu_);
  void PublishLocked(const TableState& state)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  v1::VersionInfo DescribeLocked(
      const TableState& state, const Version& version,
      const absl::flat_hash_map<uint64_t, uint32_t>& pins) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The uncommitted patch `patch_id` with no upload in progress: NotFound,
  // or FailedPrecondition when committed or being uploaded.
  absl::StatusOr<Upload::Staged*> IdleStagedLocked(uint64_t patch_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Removes an uncommitted patch, in memory and on disk.
  void DiscardLocked(uint64_t patch_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Notify(const VersionChange& change) ABSL_LOCKS_EXCLUDED(watch_mu_);
  void EndUpload(Upload& upload) ABSL_LOCKS_EXCLUDED(mu_);

  const Options options_;
  TableManager* const tables_;
  const std::unique_ptr<VersionStore> store_;
  PinRegistry pins_;

  absl::Mutex mu_;
  absl::flat_hash_map<std::string, TableState> states_ ABSL_GUARDED_BY(mu_);
  // Committed patches in memory, shared by the versions that stack them.
  absl::flat_hash_map<uint64_t, std::shared_ptr<const PatchRows>> patches_
      ABSL_GUARDED_BY(mu_);
  // Committed patches' records, from the control store.
  absl::flat_hash_map<uint64_t, v1::PatchInfo> patch_records_
      ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, std::unique_ptr<Upload::Staged>> staged_
      ABSL_GUARDED_BY(mu_);
  // Set by a collection, cleared by ReleaseCollectedMemory.
  std::atomic<bool> memory_to_release_{false};

  // Taken after mu_ when both are held.
  absl::Mutex watch_mu_;
  uint64_t next_watch_id_ ABSL_GUARDED_BY(watch_mu_) = 1;
  absl::flat_hash_map<uint64_t, std::pair<std::string, Listener>> watchers_
      ABSL_GUARDED_BY(watch_mu_);
};

}  // namespace engram::server

#endif  // ENGRAM_SERVER_VERSIONS_VERSION_MANAGER_H_

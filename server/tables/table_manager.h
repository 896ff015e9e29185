// TableManager: the set of served tables, by name, each with its active
// version and the other versions it retains.
//
//   TableManager manager;
//   manager.Publish(*Table::Create(info, store));
//   ENGRAM_ASSIGN_OR_RETURN(std::shared_ptr<const Table> table,
//                           manager.Get("layer_1"));          // active
//   manager.PublishVersions(v2, {v1, v2});                    // activate v2
//   ENGRAM_ASSIGN_OR_RETURN(table, manager.GetVersion("layer_1", 1));
//
// The name -> versions map is an immutable snapshot: a reader holds a
// reader lock only to copy its shared_ptr, writers build a new map and swap
// it in, so a reader sees the old map or the new one, never a mix, and
// activating a version is one pointer swap. A table a reader still holds
// stays alive after it is replaced. (Not std::atomic<std::shared_ptr>:
// libstdc++ 12 releases its internal lock with a relaxed store after a
// load, which ThreadSanitizer rightly reports as a race with the next
// store.)
#ifndef ENGRAM_SERVER_TABLES_TABLE_MANAGER_H_
#define ENGRAM_SERVER_TABLES_TABLE_MANAGER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "server/tables/table.h"

namespace engram::server {

class TableManager {
 public:
  TableManager();

  // Returns the table named `name`; NotFound otherwise. Thread-safe.
  absl::StatusOr<std::shared_ptr<const Table>> Get(
      absl::string_view name) const;

  // Version `version` of table `name`, if retained; NotFound otherwise.
  // Thread-safe.
  absl::StatusOr<std::shared_ptr<const Table>> GetVersion(
      absl::string_view name, uint64_t version) const;

  // Every table's active version, sorted by name. Thread-safe.
  std::vector<std::shared_ptr<const Table>> List() const;

  // Serves `table` under its name as its only version, replacing any table
  // of that name. Thread-safe; writers are serialised.
  void Publish(std::shared_ptr<const Table> table)
      ABSL_LOCKS_EXCLUDED(write_mu_);

  // Serves `active` under its name, with `retained` (which must include
  // `active`; all of that name) as the versions lookups may name.
  void PublishVersions(std::shared_ptr<const Table> active,
                       std::vector<std::shared_ptr<const Table>> retained)
      ABSL_LOCKS_EXCLUDED(write_mu_);

  // Stops serving table `name` (every version). Lookups holding one of its
  // versions finish with it. NotFound for an unknown table.
  absl::Status Remove(absl::string_view name) ABSL_LOCKS_EXCLUDED(write_mu_);

 private:
  struct Versions {
    std::shared_ptr<const Table> active;
    absl::flat_hash_map<uint64_t, std::shared_ptr<const Table>> retained;
  };
  using TableMap = absl::flat_hash_map<std::string, Versions>;

  // Makes `next` the current map. The replaced one is freed by the caller,
  // outside the locks.
  std::shared_ptr<const TableMap> SwapLocked(
      std::shared_ptr<const TableMap> next)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_)
          ABSL_LOCKS_EXCLUDED(snapshot_mu_);

  // The current map.
  std::shared_ptr<const TableMap> Snapshot() const
      ABSL_LOCKS_EXCLUDED(snapshot_mu_);

  // Serialises writers, so none loses another's change.
  absl::Mutex write_mu_ ABSL_ACQUIRED_BEFORE(snapshot_mu_);
  // Held only to copy or swap `snapshot_`.
  mutable absl::Mutex snapshot_mu_;
  std::shared_ptr<const TableMap> snapshot_ ABSL_GUARDED_BY(snapshot_mu_);
};

}  // namespace engram::server

#endif  // ENGRAM_SERVER_TABLES_TABLE_MANAGER_H_

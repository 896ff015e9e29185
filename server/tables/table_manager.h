// TableManager: the set of served tables, by name.
//
//   TableManager manager;
//   manager.Publish(*Table::Create(info, store));
//   ENGRAM_ASSIGN_OR_RETURN(std::shared_ptr<const Table> table,
//                           manager.Get("layer_1"));
//
// Readers take no lock: the name -> table map is an immutable snapshot
// behind an atomic shared_ptr; writers build a new map and swap it in, so a
// reader sees the old map or the new one, never a mix. A table a reader
// still holds stays alive after it is replaced.
#ifndef ENGRAM_SERVER_TABLES_TABLE_MANAGER_H_
#define ENGRAM_SERVER_TABLES_TABLE_MANAGER_H_

#include <atomic>
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

  // Returns the table named `name`; NotFound otherwise. Thread-safe, no lock.
  absl::StatusOr<std::shared_ptr<const Table>> Get(
      absl::string_view name) const;

  // Every table, sorted by name. Thread-safe.
  std::vector<std::shared_ptr<const Table>> List() const;

  // Serves `table` under its name, replacing any table of that name.
  // Thread-safe; writers are serialised.
  void Publish(std::shared_ptr<const Table> table)
      ABSL_LOCKS_EXCLUDED(write_mu_);

 private:
  using TableMap =
      absl::flat_hash_map<std::string, std::shared_ptr<const Table>>;

  // Serialises writers; readers go through `snapshot_` alone.
  absl::Mutex write_mu_;
  std::atomic<std::shared_ptr<const TableMap>> snapshot_;
};

}  // namespace engram::server

#endif  // ENGRAM_SERVER_TABLES_TABLE_MANAGER_H_

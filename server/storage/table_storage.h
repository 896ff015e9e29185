// TableStorage: where each table's rows live, by placement, and the RAM
// budget they share.
//
//   ram: a flat row file in the data directory, mapped into memory.
//   ssd: rows in the server's RocksDB (DATA_DIR/rocksdb, one column family
//        per table) behind a per-table hot-row cache; the manifest stays in
//        the data directory.
//   auto (when writing): ram while the RAM budget holds the table, else ssd.
//
//   ENGRAM_ASSIGN_OR_RETURN(auto storage, TableStorage::Create(options));
//   ENGRAM_ASSIGN_OR_RETURN(std::vector<StoredTable> tables,
//                           storage->LoadTables());
//   ENGRAM_ASSIGN_OR_RETURN(std::unique_ptr<TableWriter> writer,
//                           storage->BeginTable(info, {}));
//
// The RAM budget (Options::ram_budget_bytes) is charged with the RocksDB
// block cache, every RAM table's rows and every hot-row cache's capacity:
// RAM tables come first, and each ssd table's cache gets what is left, up
// to row_cache_bytes. A table becomes visible only once complete: an ssd
// table's manifest is written after its rows are ingested, and at load,
// RocksDB tables without a manifest (an interrupted write) are dropped.
#ifndef ENGRAM_SERVER_STORAGE_TABLE_STORAGE_H_
#define ENGRAM_SERVER_STORAGE_TABLE_STORAGE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "engram/v1/engram_service.pb.h"
#include "server/storage/data_dir.h"
#include "server/storage/rocksdb_row_store.h"
#include "server/storage/table_writer.h"

namespace engram::server {

// How much of the RAM budget is taken.
struct RamUse {
  // 0: no budget.
  uint64_t budget_bytes = 0;
  uint64_t charged_bytes = 0;
};

class TableStorage {
 public:
  struct Options {
    // The data directory (created if missing). Required.
    std::string data_dir;
    // Bytes of RAM for tables and caches (see the banner); 0 means no limit.
    uint64_t ram_budget_bytes = 0;
    // Largest hot-row cache of one ssd table; 0 reads RocksDB directly.
    uint64_t row_cache_bytes = 256ull << 20;
    // RocksDB block cache shared by the ssd tables.
    uint64_t block_cache_bytes = 256ull << 20;
    // Read RocksDB's files through mmap, and verify block checksums on
    // every read (see RowDatabase::Options).
    bool mmap_reads = true;
    bool verify_reads = false;
  };

  // Opens the data directory and the RocksDB instance. InvalidArgument for
  // bad options (a budget smaller than the block cache); the directory's
  // and RocksDB's errors otherwise.
  static absl::StatusOr<std::unique_ptr<TableStorage>> Create(
      const Options& options);
  ~TableStorage();

  const DataDir& data_dir() const { return data_dir_; }

  // Every complete table. Damaged ones are logged and skipped, and RocksDB
  // tables without a manifest are dropped.
  absl::StatusOr<std::vector<StoredTable>> LoadTables();

  // Starts writing table `info` (rows, row_bytes, types; missing_rows for a
  // sparse table) at info.placement(): "", "ram", "ssd" or "auto". The
  // writer's info() has the placement chosen. InvalidArgument for an
  // unknown placement, AlreadyExists for a name on disk or being written,
  // ResourceExhausted for a "ram" table over the RAM budget. Thread-safe;
  // the storage must outlive the writer.
  absl::StatusOr<std::unique_ptr<TableWriter>> BeginTable(
      v1::TableInfo info, const DataDir::WriteOptions& options);

  // BeginTable, then all of `rows` (rows x row_bytes bytes), then Commit.
  absl::StatusOr<StoredTable> StoreTable(const v1::TableInfo& info,
                                         const char* rows,
                                         const DataDir::WriteOptions& options);

  // Deletes table `name`'s rows from disk (its directory, then its RocksDB
  // column family) and gives back the RAM budget it was charged; stores
  // still in use keep working until released. NotFound if it is not on
  // disk (a built table's charge is given back all the same);
  // DataDir::RemoveTable's errors (nothing changed). Thread-safe.
  absl::Status DropTable(absl::string_view name) ABSL_LOCKS_EXCLUDED(mu_);

  // Charges the RAM that table `name`, built outside this storage (a demo
  // table), takes; DropTable gives it back.
  void ChargeBuiltTable(absl::string_view name, uint64_t bytes)
      ABSL_LOCKS_EXCLUDED(mu_);

  RamUse ram_use() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  class RamTableWriter;
  class SsdTableWriter;

  TableStorage(const Options& options, DataDir data_dir,
               std::unique_ptr<RowDatabase> database)
      : options_(options),
        data_dir_(std::move(data_dir)),
        database_(std::move(database)),
        ram_charged_(options.block_cache_bytes) {}

  // An ssd table's rows, straight from RocksDB.
  absl::StatusOr<std::shared_ptr<const RowStore>> OpenSsdTable(
      const v1::TableInfo& info) const;
  // `rows` behind a hot-row cache sized from the budget left (none when
  // too little is left).
  absl::StatusOr<std::shared_ptr<const RowStore>> AddCache(
      const v1::TableInfo& info, std::shared_ptr<const RowStore> rows)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Charges `bytes` of the RAM budget to table `name`.
  void ChargeTableLocked(absl::string_view name, uint64_t bytes)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Ends a BeginTable: frees the name and, unless `keep_ram`, the RAM it
  // charged.
  void EndWrite(const std::string& name, uint64_t ram_bytes, bool keep_ram)
      ABSL_LOCKS_EXCLUDED(mu_);

  const Options options_;
  const DataDir data_dir_;
  const std::unique_ptr<RowDatabase> database_;

  mutable absl::Mutex mu_;
  // The block cache's, from the start.
  uint64_t ram_charged_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<std::string> writing_ ABSL_GUARDED_BY(mu_);
  // The part of ram_charged_ each stored table (rows or hot-row cache)
  // takes, given back when it is dropped.
  absl::flat_hash_map<std::string, uint64_t> charged_by_table_
      ABSL_GUARDED_BY(mu_);
};

// Bytes of RAM `info`'s rows take when placed in RAM: the row array, plus
// the presence bitmap of a sparse table.
uint64_t RamTableBytes(const v1::TableInfo& info);

}  // namespace engram::server

#endif  // ENGRAM_SERVER_STORAGE_TABLE_STORAGE_H_

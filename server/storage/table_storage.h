// TableStorage: where each table's rows live, by placement.
//
//   ram: a flat row file in the data directory, mapped into memory.
//   ssd: rows in the server's RocksDB (DATA_DIR/rocksdb, one column family
//        per table) behind a per-table hot-row cache; the manifest stays in
//        the data directory.
//   auto (when storing): ram while the RAM budget holds the table, else ssd.
//
//   ENGRAM_ASSIGN_OR_RETURN(auto storage, TableStorage::Create(options));
//   ENGRAM_ASSIGN_OR_RETURN(std::vector<StoredTable> tables,
//                           storage->LoadTables());
//   ENGRAM_ASSIGN_OR_RETURN(StoredTable table,
//                           storage->StoreTable(info, "auto", rows, ram_used));
//
// A table becomes visible only once complete: an ssd table's manifest is
// written after its rows are ingested, and at load, RocksDB tables without a
// manifest (an interrupted store) are dropped.
#ifndef ENGRAM_SERVER_STORAGE_TABLE_STORAGE_H_
#define ENGRAM_SERVER_STORAGE_TABLE_STORAGE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engram/v1/engram_service.pb.h"
#include "server/storage/data_dir.h"
#include "server/storage/rocksdb_row_store.h"

namespace engram::server {

class TableStorage {
 public:
  struct Options {
    // The data directory (created if missing). Required.
    std::string data_dir;
    // Bytes of RAM-placed tables that "auto" placement may fill; 0 means
    // no limit (every "auto" table goes to RAM).
    uint64_t ram_budget_bytes = 0;
    // Hot-row cache of each ssd table; 0 reads RocksDB directly.
    uint64_t row_cache_bytes = 256ull << 20;
    // RocksDB block cache shared by the ssd tables.
    uint64_t block_cache_bytes = 256ull << 20;
  };

  // Opens the data directory and the RocksDB instance. InvalidArgument for
  // bad options; the directory's and RocksDB's errors otherwise.
  static absl::StatusOr<std::unique_ptr<TableStorage>> Create(
      const Options& options);

  const DataDir& data_dir() const { return data_dir_; }

  // Every complete table. Damaged ones are logged and skipped, and RocksDB
  // tables without a manifest are dropped.
  absl::StatusOr<std::vector<StoredTable>> LoadTables();

  // "ram" or "ssd" for a table of `table_bytes` asked to go to `requested`
  // ("", "ram", "ssd" or "auto") while RAM tables already take
  // `ram_bytes_in_use`. InvalidArgument for an unknown placement.
  absl::StatusOr<std::string> ChoosePlacement(absl::string_view requested,
                                              uint64_t table_bytes,
                                              uint64_t ram_bytes_in_use) const;

  // Stores `info` (whose placement() says where) with its `rows`
  // (rows x row_bytes bytes) and returns it opened for reading.
  // AlreadyExists for a taken name; storage errors otherwise, leaving
  // nothing visible. Thread-safe.
  absl::StatusOr<StoredTable> StoreTable(const v1::TableInfo& info,
                                         const char* rows,
                                         const DataDir::WriteOptions& options);

 private:
  TableStorage(const Options& options, DataDir data_dir,
               std::unique_ptr<RowDatabase> database)
      : options_(options),
        data_dir_(std::move(data_dir)),
        database_(std::move(database)) {}

  // An ssd table's rows, behind its cache.
  absl::StatusOr<std::shared_ptr<const RowStore>> OpenSsdTable(
      const v1::TableInfo& info) const;

  const Options options_;
  const DataDir data_dir_;
  const std::unique_ptr<RowDatabase> database_;
};

// Bytes of rows held in RAM by `info`'s table (0 for ssd tables).
uint64_t RamBytes(const v1::TableInfo& info);

}  // namespace engram::server

#endif  // ENGRAM_SERVER_STORAGE_TABLE_STORAGE_H_

// RowDatabase: the server's SSD tier. One RocksDB instance per server holds
// every SSD table, one column family per table; RocksDbRowStore reads one
// table through the RowStore interface.
//
//   ENGRAM_ASSIGN_OR_RETURN(std::unique_ptr<RowDatabase> db,
//                           RowDatabase::Create({.path = "/data/rocksdb"}));
//   // Bulk load once (rows arrive in order, in chunks).
//   ENGRAM_RETURN_IF_ERROR(db->BulkLoad("ngrams", rows, 128, source));
//   // Serve it.
//   ENGRAM_ASSIGN_OR_RETURN(std::shared_ptr<const RowStore> store,
//                           db->OpenTable("ngrams", rows, 128));
//   ENGRAM_RETURN_IF_ERROR(store->Gather(ids, out));
//
// Layout
//   column family "table:<name>"   key = row id as 8 bytes big-endian (so
//                                  byte order is numeric order and a table
//                                  is one sorted run), value = the row bytes.
//   column family "default"        key "table/<name>" -> the table's shape
//                                  (rows, row_bytes). Written last by a bulk
//                                  load and deleted first by a drop, so a
//                                  table is visible only when complete: at
//                                  Create, a column family without metadata
//                                  (a load cut short) is dropped.
//
// Tuning for point reads of dense ids in bulk-loaded, read-only data
//   * Bulk loads write sorted SST files with SstFileWriter and ingest them
//     (IngestExternalFile, files moved, not copied). Into an empty column
//     family the non-overlapping files land straight in the bottom level, so
//     there is no memtable, no WAL, no write amplification and no compaction
//     afterwards: every row lives in exactly one file, found by the files' key
//     ranges. Large files (sst_file_bytes, also target_file_size_base for any
//     future compaction) keep the number of table readers low.
//   * Block-based tables with 4 KiB blocks (block_size): a random row costs
//     one block read, and 4 KiB is the SSD page, so smaller blocks save no
//     I/O while larger ones read rows nobody asked for. With compression off,
//     data blocks are aligned to pages (align_blocks) so that a block is one
//     page read, not two (measured: every block then takes exactly 4096
//     bytes, ~28 rows of 128 bytes, for 2% padding). Within a block, a hash
//     index (kDataBlockBinaryAndHash) finds the key without a binary search.
//   * No bloom filter by default (bloom_bits_per_key = 0). Ids are dense and
//     the caller bounds-checks them, so every lookup is a hit in exactly one
//     file: a filter can only answer "maybe" and costs memory and a probe.
//     Whole-key filters help only misses (sparse tables, later); turn them on
//     then. optimize_filters_for_hits keeps the bottom level filter-free.
//   * Compression off by default: rows are quantised embeddings (FP8/bf16),
//     close to random bytes, so LZ4/ZSTD save little and would add a
//     decompression to every block read.
//   * One LRU block cache (block_cache_bytes) shared by all tables, so the
//     SST tier has one memory budget. (RocksDB 7.8 marks HyperClockCache
//     experimental; LRU it is.) Index blocks live outside it, pinned by the
//     table readers, which max_open_files = -1 keeps open: a lookup never
//     pays an index miss or a table-cache lookup. Cost: about 20 bytes per
//     4 KiB block, some 0.5% of the table (measured: 14 KiB of index for
//     2.9 MB of 128-byte rows). For tables far larger than RAM, partitioned
//     indexes would be the next step.
//   * Gather sorts its ids, drops duplicates and calls the batched MultiGet
//     with sorted_input = true: RocksDB then walks each file once per batch
//     and issues the block reads of one file together (MultiRead) instead of
//     one Get per row. Values come back pinned in the block cache
//     (PinnableSlice) and are copied once, straight to the caller's buffer.
//   * use_direct_reads (off by default) bypasses the page cache, so that the
//     block cache and the RowCache in front of it are the only caches and
//     memory is accounted; leave it off when spare RAM should act as cache.
//
// Lifetime: stores returned by OpenTable keep the RocksDB instance (and their
// column family, even after DropTable) alive; the database closes when the
// RowDatabase and every store are gone. Create on the same path fails while
// a previous instance is still open.
#ifndef ENGRAM_SERVER_STORAGE_ROCKSDB_ROW_STORE_H_
#define ENGRAM_SERVER_STORAGE_ROCKSDB_ROW_STORE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "server/storage/row_store.h"

namespace rocksdb {
class Cache;
class DB;
}  // namespace rocksdb

namespace engram::server {

namespace internal {
// A column family handle plus a reference to the database it belongs to
// (defined in the .cc file).
class ColumnFamily;
}  // namespace internal

// Reads one table of a RowDatabase. Created by RowDatabase::OpenTable.
class RocksDbRowStore final : public RowStore {
 public:
  ~RocksDbRowStore() override;
  RocksDbRowStore(const RocksDbRowStore&) = delete;
  RocksDbRowStore& operator=(const RocksDbRowStore&) = delete;

  const std::string& name() const { return name_; }
  uint64_t rows() const override { return rows_; }
  uint32_t row_bytes() const override { return row_bytes_; }

  // Copies the rows named by `ids` (any order, duplicates allowed) to `out`
  // in request order. NotFound naming the row when a row is not stored,
  // DataLoss when a stored value is not row_bytes() long, and the converted
  // RocksDB error on I/O failures; `out` is then partly written.
  // Thread-safe.
  absl::Status Gather(const PackedRowIds& ids, char* out) const override;
  RowStoreStats Stats() const override {
    return RowStoreStats{.bytes_on_ssd = rows_ * row_bytes_};
  }

 private:
  friend class RowDatabase;
  RocksDbRowStore(std::string name, uint64_t rows, uint32_t row_bytes,
                  std::shared_ptr<const internal::ColumnFamily> family);

  std::string name_;
  uint64_t rows_;
  uint32_t row_bytes_;
  std::shared_ptr<const internal::ColumnFamily> family_;
};

// How RowDatabase::BulkLoad runs. (Outside RowDatabase so that it can be a
// defaulted argument there.)
struct BulkLoadOptions {
  // Rows asked of the source per call; 0 = about 8 MiB worth.
  uint64_t chunk_rows = 0;
  // Called after each chunk with the rows written so far and the total, so
  // that a command line can draw a progress bar. Called on the loading
  // thread.
  std::function<void(uint64_t rows_done, uint64_t rows_total)> progress;
  // When set and it turns true, the load stops with Cancelled and leaves
  // nothing behind.
  const std::atomic<bool>* cancel = nullptr;
};

class RowDatabase {
 public:
  enum class Compression { kNone, kLz4, kZstd };

  struct Options {
    // Directory of the RocksDB instance. Required.
    std::string path;
    // Create the database when `path` holds none.
    bool create_if_missing = true;
    // Block cache shared by all tables. Must be > 0.
    uint64_t block_cache_bytes = 256ull << 20;
    // Data block size: one SSD page, see the banner. 512 B to 1 MiB.
    uint32_t block_size = 4096;
    // Pad data blocks so none straddles a page boundary (one page read per
    // block). Needs compression == kNone (RocksDB's rule: aligned blocks
    // must not be compressed).
    bool align_blocks = true;
    // Bits per key of a whole-key bloom filter; 0 = no filter (dense ids,
    // see the banner). At most 100.
    int bloom_bits_per_key = 0;
    // Compression of newly written files (existing files keep theirs).
    Compression compression = Compression::kNone;
    // Read table files with O_DIRECT (see the banner).
    bool use_direct_reads = false;
    // Target size of each SST file a bulk load writes. At least 1 MiB.
    uint64_t sst_file_bytes = 256ull << 20;
    // RocksDB background threads (flushes and compactions; read-only tables
    // need few).
    int max_background_jobs = 2;
  };

  // A table as stored.
  struct TableInfo {
    std::string name;
    uint64_t rows = 0;
    uint32_t row_bytes = 0;
  };

  // Returns rows [first_row, first_row + count) as count * row_bytes bytes,
  // valid until the next call. Called with increasing first_row, covering
  // every row once.
  using RowSource = absl::FunctionRef<absl::StatusOr<absl::string_view>(
      uint64_t first_row, uint64_t count)>;

  // Opens (or creates) the database at options.path with all its tables,
  // dropping column families left by an interrupted load. InvalidArgument
  // for bad options; the converted RocksDB error otherwise (e.g. Internal
  // when another process holds the database's lock).
  static absl::StatusOr<std::unique_ptr<RowDatabase>> Create(Options options);

  ~RowDatabase();
  RowDatabase(const RowDatabase&) = delete;
  RowDatabase& operator=(const RowDatabase&) = delete;

  const Options& options() const { return options_; }

  // Writes a new table `name` of `rows` rows of `row_bytes` bytes from
  // `source` and makes it visible once complete. InvalidArgument for a bad
  // name or row_bytes == 0, or when the source returns the wrong number of
  // bytes; AlreadyExists when the table exists or is being loaded; the
  // source's error; Cancelled; RocksDB errors. On any error nothing is left
  // behind. Thread-safe; loads of different tables may run concurrently.
  absl::Status BulkLoad(absl::string_view name, uint64_t rows,
                        uint32_t row_bytes, RowSource source,
                        const BulkLoadOptions& options = {});
  // The same from one flat buffer of rows * row_bytes bytes.
  absl::Status BulkLoad(absl::string_view name, uint64_t rows,
                        uint32_t row_bytes, const char* data,
                        const BulkLoadOptions& options = {});

  // A store reading table `name`. NotFound when there is no such table;
  // FailedPrecondition when its stored shape differs from rows x row_bytes
  // (the caller's manifest and the database disagree). Thread-safe.
  absl::StatusOr<std::shared_ptr<const RowStore>> OpenTable(
      absl::string_view name, uint64_t rows, uint32_t row_bytes) const;

  // Removes table `name`; its disk space is reclaimed once the last store
  // reading it is released. NotFound when there is no such table.
  // Thread-safe.
  absl::Status DropTable(absl::string_view name);

  // The complete tables, sorted by name. Thread-safe.
  std::vector<TableInfo> ListTables() const;

 private:
  struct Table {
    TableInfo info;
    std::shared_ptr<const internal::ColumnFamily> family;
  };

  RowDatabase(Options options, std::shared_ptr<rocksdb::Cache> block_cache,
              std::shared_ptr<rocksdb::DB> db,
              std::shared_ptr<const internal::ColumnFamily> default_family);

  // Writes SST files for the table under `dir`, returning their paths.
  absl::StatusOr<std::vector<std::string>> WriteSstFiles(
      const std::string& dir, uint64_t rows, uint32_t row_bytes,
      RowSource source, const BulkLoadOptions& options) const;
  // Creates, fills and publishes the column family of a table being loaded.
  absl::Status IngestTable(const TableInfo& info,
                           const std::vector<std::string>& files);

  const Options options_;
  const std::shared_ptr<rocksdb::Cache> block_cache_;
  const std::shared_ptr<rocksdb::DB> db_;
  const std::shared_ptr<const internal::ColumnFamily> default_family_;
  // A counter making bulk-load staging directories unique.
  std::atomic<uint64_t> next_load_id_{0};

  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Table> tables_ ABSL_GUARDED_BY(mu_);
  // Names being bulk loaded, reserved so a second load of the same name
  // fails fast with AlreadyExists.
  absl::flat_hash_set<std::string> loading_ ABSL_GUARDED_BY(mu_);
};

namespace internal {
// Row id -> RocksDB key: 8 bytes, big-endian, so that bytewise order is
// numeric order.
inline constexpr size_t kRowKeyBytes = 8;
void EncodeRowKey(uint64_t row, char* key);
}  // namespace internal

}  // namespace engram::server

#endif  // ENGRAM_SERVER_STORAGE_ROCKSDB_ROW_STORE_H_

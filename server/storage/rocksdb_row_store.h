// RowDatabase: the server's SSD tier. One RocksDB instance per server holds
// every SSD table, one column family per table; RocksDbRowStore reads one
// table through the RowStore interface.
//
//   ENGRAM_ASSIGN_OR_RETURN(std::unique_ptr<RowDatabase> db,
//                           RowDatabase::Create({.path = "/data/rocksdb"}));
//   // Bulk load once (rows arrive in increasing id order, in chunks; a
//   // sparse table simply skips ids).
//   ENGRAM_ASSIGN_OR_RETURN(auto loader, db->BeginLoad("ngrams", rows, 128));
//   ENGRAM_RETURN_IF_ERROR(loader->Add(first_row, data, count));
//   ENGRAM_RETURN_IF_ERROR(loader->Commit());
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
//                                  (rows, row_bytes, rows stored). Written
//                                  last by a bulk
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
//   * Block-based tables with 16 KiB blocks (block_size), aligned to pages
//     (align_blocks, compression off) so that a block never straddles more
//     pages than it must. With mmap reads from the page cache a lookup
//     touches only the block's index entry, hash bucket and row, not the
//     whole block, so 16 KiB blocks cost no more per read than 4 KiB ones
//     while the index shrinks fourfold (measured: +10% Zipf lookups). Where
//     reads go to the device, 4 KiB (the SSD page) reads fewer bytes per
//     row. Within a block, a hash index (kDataBlockBinaryAndHash, filled to
//     a quarter) finds the key without a binary search,
//     and with every key a restart point (block_restart_interval 1) it
//     lands on the key itself: +65% point reads over the default of 16,
//     where each lookup scanned a run of delta-encoded keys.
//   * mmap reads (Options::mmap_reads; the server's default): table files
//     are read through the page cache without a pread and a copy per block,
//     about 2x the point reads of pread when the files are cached. The block
//     cache still holds parsed blocks (turning it off measured 30% slower).
//   * No bloom filter by default (bloom_bits_per_key = 0). Ids are dense and
//     the caller bounds-checks them, so every lookup is a hit in exactly one
//     file: a filter can only answer "maybe" and costs memory and a probe.
//     Whole-key filters help only misses (lookups of rows a sparse table
//     lacks); bloom_bits_per_key turns them on. optimize_filters_for_hits
//     keeps the bottom level filter-free.
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
//   * Checksums are verified once per block when a table is ingested
//     (verify_checksums_before_ingest), not on every read (verify_reads off
//     by default): the files are immutable, and with the block cache
//     churning under random reads the per-read XXH3 took a fifth of the
//     read path's CPU (measured).
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
class SstFileWriter;
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
  // In a sparse table an absent row is zero-filled instead (and unreported).
  absl::Status Gather(const PackedRowIds& ids, char* out) const override;
  // Absent rows of a sparse table are zero-filled and set in `missing`.
  absl::Status GatherSparse(const PackedRowIds& ids, char* out,
                            MissingRows& missing) const override;
  RowStoreStats Stats() const override {
    return RowStoreStats{.bytes_on_ssd = rows_stored_ * row_bytes_,
                         .rows_on_ssd = rows_stored_};
  }

 private:
  friend class RowDatabase;
  RocksDbRowStore(std::string name, uint64_t rows, uint32_t row_bytes,
                  uint64_t rows_stored, bool sparse, bool verify_reads,
                  std::shared_ptr<const internal::ColumnFamily> family);
  // Both Gathers; `missing` may be null.
  absl::Status GatherRows(const PackedRowIds& ids, char* out,
                          MissingRows* missing) const;

  std::string name_;
  uint64_t rows_;
  uint32_t row_bytes_;
  uint64_t rows_stored_;
  bool sparse_;
  bool verify_reads_;
  std::shared_ptr<const internal::ColumnFamily> family_;
};

class RowDatabase;

// A table being bulk loaded row by row; made by RowDatabase::BeginLoad.
// Rows go to sorted SST files in a staging directory; Commit ingests them and
// publishes the table. Destroying an uncommitted loader abandons the load
// and leaves nothing behind. Not thread-safe; the database must outlive it.
class BulkLoader {
 public:
  ~BulkLoader();
  BulkLoader(const BulkLoader&) = delete;
  BulkLoader& operator=(const BulkLoader&) = delete;

  // Adds `count` rows with consecutive ids from `first_row` (count *
  // row_bytes bytes at `rows`). Ids must increase strictly across calls and
  // stay below the table's row count; InvalidArgument otherwise, or the
  // RocksDB error writing the file.
  absl::Status Add(uint64_t first_row, const char* rows, uint64_t count);
  // Ingests what was added and publishes the table. The loader is spent.
  absl::Status Commit();

  uint64_t rows_added() const { return rows_added_; }

 private:
  friend class RowDatabase;
  BulkLoader(RowDatabase* database, std::string name, uint64_t rows,
             uint32_t row_bytes, std::string staging_dir);
  absl::Status OpenNextFile();

  RowDatabase* const database_;
  const std::string name_;
  const uint64_t rows_;
  const uint32_t row_bytes_;
  const std::string staging_dir_;
  std::unique_ptr<rocksdb::SstFileWriter> writer_;
  bool file_open_ = false;
  bool committed_ = false;
  std::vector<std::string> files_;
  // The next id Add accepts.
  uint64_t next_row_ = 0;
  uint64_t rows_added_ = 0;
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
    // Data block size, see the banner. 512 B to 1 MiB.
    uint32_t block_size = 16384;
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
    // Read table files through mmap (see the banner). Excludes
    // use_direct_reads.
    bool mmap_reads = false;
    // Verify each block's checksum on every read, not only at ingestion
    // (see the banner).
    bool verify_reads = false;
    // Target size of each SST file a bulk load writes. At least 1 MiB.
    uint64_t sst_file_bytes = 256ull << 20;
    // RocksDB background threads (flushes and compactions; read-only tables
    // need few).
    int max_background_jobs = 2;
  };

  // A table as stored.
  struct TableInfo {
    std::string name;
    // Ids are [0, rows); rows_stored of them hold a row (all, when dense).
    uint64_t rows = 0;
    uint32_t row_bytes = 0;
    uint64_t rows_stored = 0;
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

  // Starts loading a new table `name` of `rows` rows (ids [0, rows)) of
  // `row_bytes` bytes, reserving the name until the loader is gone.
  // InvalidArgument for a bad name or row_bytes == 0; AlreadyExists when the
  // table exists or is being loaded. Thread-safe.
  absl::StatusOr<std::unique_ptr<BulkLoader>> BeginLoad(absl::string_view name,
                                                        uint64_t rows,
                                                        uint32_t row_bytes);

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
  // (the caller's manifest and the database disagree). In a `sparse` table
  // rows may be absent (read as missing); in a dense one an absent row is
  // an error. Thread-safe.
  absl::StatusOr<std::shared_ptr<const RowStore>> OpenTable(
      absl::string_view name, uint64_t rows, uint32_t row_bytes,
      bool sparse = false) const;

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

  friend class BulkLoader;

  // Creates, fills and publishes the column family of a table being loaded.
  absl::Status IngestTable(const TableInfo& info,
                           const std::vector<std::string>& files);
  // Ends the reservation BeginLoad made.
  void ReleaseLoadName(absl::string_view name);

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

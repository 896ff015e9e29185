// DataDir: the server's tables on disk.
//
// Layout (one directory per table, replaced as a whole by rename):
//   DATA_DIR/tables/<name>/manifest.textproto   engram.v1.TableManifest
//   DATA_DIR/tables/<name>/rows.bin             rows x row_bytes raw bytes
//   DATA_DIR/tables/<name>/present.bin          sparse tables: written rows
//   DATA_DIR/tables/<name>/compression.bin      tables hashing compressed
//                                               token ids: the compression
//                                               lookup, little-endian int64
// Tables placed on "ssd" have no rows.bin: their rows are in RocksDB (see
// table_storage.h), opened through the caller's SsdOpener.
//
//   ENGRAM_ASSIGN_OR_RETURN(DataDir dir, DataDir::Open("/var/lib/engram"));
//   ENGRAM_ASSIGN_OR_RETURN(std::vector<StoredTable> tables,
//                           dir.LoadTables(NoSsdTier));
//
// A table becomes visible only once its files are complete: it is written to
// a temporary directory and renamed into place, so a crash mid-write leaves
// no half table (the temporary is removed at the next Open).
#ifndef ENGRAM_SERVER_STORAGE_DATA_DIR_H_
#define ENGRAM_SERVER_STORAGE_DATA_DIR_H_

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/addressing/compression_map.h"
#include "engram/v1/engram_service.pb.h"
#include "engram/v1/table_manifest.pb.h"
#include "server/storage/row_store.h"

namespace engram::server {

// Files of a table directory besides its manifest.
inline constexpr char kRowsFileName[] = "rows.bin";
inline constexpr char kPresentFileName[] = "present.bin";
inline constexpr char kCompressionFileName[] = "compression.bin";

// A table read back from disk.
struct StoredTable {
  v1::TableInfo info;
  std::shared_ptr<const RowStore> store;
  // The map its hash spec compresses token ids with, when it was stored
  // with the table; else null.
  std::shared_ptr<const CompressionMap> compression;
};

// InvalidArgument unless `name` is 1-128 characters of [A-Za-z0-9_.-] not
// starting with '.', so that it is safe as a directory name.
absl::Status ValidateTableName(absl::string_view name);

// Opens the rows of a table placed on "ssd".
using SsdOpener =
    absl::FunctionRef<absl::StatusOr<std::shared_ptr<const RowStore>>(
        const v1::TableInfo& info)>;

// An SsdOpener for callers without a RocksDB tier: FailedPrecondition.
absl::StatusOr<std::shared_ptr<const RowStore>> NoSsdTier(
    const v1::TableInfo& info);

// A table directory being written, made by DataDir::Stage: the caller
// writes its files into path(), then Publish renames it into place. Destroyed
// unpublished, it removes itself, so a failed write leaves nothing.
class StagedTable {
 public:
  ~StagedTable();
  StagedTable(const StagedTable&) = delete;
  StagedTable& operator=(const StagedTable&) = delete;

  const std::string& path() const { return path_; }

  // Writes `data` as the staged file `file_name` (fsynced when staged with
  // sync). Internal on I/O errors.
  absl::Status WriteFile(absl::string_view file_name,
                         absl::string_view data) const;

  // Writes `map`'s lookup as the staged compression file and names it in
  // `manifest`; nothing for a null map. Internal on I/O errors.
  absl::Status WriteCompression(const CompressionMap* map,
                                v1::TableManifest& manifest) const;

  // Writes `manifest`, fsyncs (when staged with sync) and renames the
  // directory into place. AlreadyExists if a table of the name appeared
  // meanwhile; Internal on I/O errors. Call once.
  absl::Status Publish(const v1::TableManifest& manifest);

 private:
  friend class DataDir;
  StagedTable(std::string path, std::string final_path, std::string parent,
              bool sync)
      : path_(std::move(path)),
        final_path_(std::move(final_path)),
        parent_(std::move(parent)),
        sync_(sync) {}

  const std::string path_;
  const std::string final_path_;
  const std::string parent_;
  const bool sync_;
  bool published_ = false;
};

class DataDir {
 public:
  struct WriteOptions {
    // fsync files and directories before the table becomes visible. Off only
    // for data that can be regenerated (demo tables), where it would cost
    // seconds per GB.
    bool sync = true;
    // When set and it turns true, the write stops early with Cancelled,
    // leaving nothing visible (a shutdown need not wait for a large table).
    const std::atomic<bool>* cancel = nullptr;
  };

  // Creates `path` and its tables/ directory if missing and removes
  // temporaries left by an interrupted write.
  static absl::StatusOr<DataDir> Open(std::string path);

  const std::string& path() const { return path_; }

  // Whether a complete table named `name` is on disk.
  bool HasTable(absl::string_view name) const;

  // Maps every table on disk into memory. A table whose files are
  // inconsistent is logged and skipped; Internal if the directory cannot be
  // listed.
  absl::StatusOr<std::vector<StoredTable>> LoadTables(SsdOpener open_ssd) const;

  // Maps the RAM-placed table named `name` into memory. NotFound if it is
  // not on disk; DataLoss if its files are inconsistent;
  // FailedPrecondition for an ssd table.
  absl::StatusOr<StoredTable> LoadTable(absl::string_view name) const;

  // A new, empty staging directory for table `name`, fsynced at Publish
  // when `sync`. InvalidArgument for a bad name, AlreadyExists if the table
  // is on disk, Internal if the directory cannot be made.
  absl::StatusOr<std::unique_ptr<StagedTable>> Stage(absl::string_view name,
                                                     bool sync) const;

  // Deletes table `name` from disk: its directory is renamed away (from
  // then on, and after a crash, the table is gone), then removed. NotFound
  // if it is not on disk; Internal if the rename fails (nothing changed).
  absl::Status RemoveTable(absl::string_view name) const;

  // Writes `info` and its `rows` (info.rows() * info.row_bytes() bytes) as
  // table info.name(); for an ssd table only the manifest (`rows` unused).
  // AlreadyExists if it is on disk; Internal on I/O errors and Cancelled (see
  // WriteOptions), leaving nothing visible.
  absl::Status WriteTable(const v1::TableInfo& info, const char* rows,
                          const WriteOptions& options) const;

 private:
  explicit DataDir(std::string path) : path_(std::move(path)) {}
  std::string TablesPath() const;

  std::string path_;
};

}  // namespace engram::server

#endif  // ENGRAM_SERVER_STORAGE_DATA_DIR_H_

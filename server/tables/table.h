// Table: one served version of a named table, its metadata and its rows.
//
//   std::string rows;
//   ENGRAM_RETURN_IF_ERROR(table->Lookup(PackedRowIds(request.row_ids()),
//   &rows));
//
// A Table is immutable and shared by reference count: a lookup that holds a
// std::shared_ptr<const Table> reads one consistent version to the end even
// if the manager publishes another meanwhile. A version other than the base
// is the base's rows under a PatchOverlay (see WithPatches).
#ifndef ENGRAM_SERVER_TABLES_TABLE_H_
#define ENGRAM_SERVER_TABLES_TABLE_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/addressing/hash_spec.h"
#include "common/hash_spec_proto.h"
#include "common/packed_row_ids.h"
#include "engram/v1/engram_service.pb.h"
#include "server/storage/row_store.h"
#include "server/tables/patch_overlay.h"

namespace engram::server {

class Table {
 public:
  // Checks that `info` matches `store` (rows, row_bytes), its hash spec
  // (TableHashSpec) and `compression`, the map that spec compresses token
  // ids with when the server holds it (else null). InvalidArgument
  // otherwise.
  static absl::StatusOr<std::shared_ptr<const Table>> Create(
      v1::TableInfo info, std::shared_ptr<const RowStore> store,
      std::shared_ptr<const CompressionMap> compression = nullptr);

  // Version `version` of this table: its base rows under `overlay` (null:
  // the base itself). Shares the base's store. The content digest, which
  // describes the base's rows, is left out of the new version's info.
  std::shared_ptr<const Table> WithPatches(
      uint64_t version, std::shared_ptr<const PatchOverlay> overlay) const;

  const v1::TableInfo& info() const { return info_; }
  const std::string& name() const { return info_.name(); }
  // Rows this server holds: all of the table's, or one shard's.
  uint64_t rows() const { return info_.rows(); }
  // The table's row ids this server holds are [first_row(), first_row() +
  // rows()) of total_rows().
  uint64_t first_row() const { return info_.first_row(); }
  uint64_t total_rows() const {
    return info_.total_rows() != 0 ? info_.total_rows() : info_.rows();
  }
  uint32_t row_bytes() const { return info_.row_bytes(); }
  uint64_t version() const { return info_.version(); }
  const RowStore& store() const { return *store_; }
  // The patches laid over the base; null for the base version.
  const PatchOverlay* overlay() const { return overlay_.get(); }
  // The addressing of this table's layer; null if it has no hash spec.
  const HashSpec* hash_spec() const {
    return hash_spec_ ? &*hash_spec_ : nullptr;
  }
  // The map raw token ids are compressed with before hash_spec() addresses
  // them; null if the spec hashes raw ids or the server lacks the map.
  const CompressionMap* compression() const { return compression_.get(); }

  // Whether lookups report the rows this (sparse) table lacks.
  bool reports_missing() const {
    return info_.missing_rows() == v1::MISSING_ROW_POLICY_REPORT;
  }

  // Checks that every id is held (< rows(), or in a shard's range) and
  // gathers the rows into `out`, which
  // must hold ids.size() * row_bytes() bytes, each from the topmost patch
  // that has it, else from the base. Rows neither has (sparse tables) are
  // zeros; when reports_missing() and `missing` is not null (sized for
  // ids.size()), their positions are set in it. InvalidArgument naming the
  // first id beyond the table, OutOfRange the first of another shard; the
  // tier's errors otherwise. Thread-safe.
  absl::Status Lookup(const PackedRowIds& ids, char* out,
                      MissingRows* missing) const;

 private:
  Table(v1::TableInfo info, std::shared_ptr<const RowStore> store,
        std::optional<HashSpec> hash_spec,
        std::shared_ptr<const CompressionMap> compression,
        std::shared_ptr<const PatchOverlay> overlay);

  // The store's part of Lookup: `local_ids` count from the shard's first.
  absl::Status GatherRows(const PackedRowIds& local_ids, char* out,
                          MissingRows* missing) const;

  const v1::TableInfo info_;
  const std::shared_ptr<const RowStore> store_;
  const std::optional<HashSpec> hash_spec_;
  const std::shared_ptr<const CompressionMap> compression_;
  const std::shared_ptr<const PatchOverlay> overlay_;
};

}  // namespace engram::server

#endif  // ENGRAM_SERVER_TABLES_TABLE_H_

// Table: one served version of a named table, its metadata and its rows.
//
//   std::string rows;
//   ENGRAM_RETURN_IF_ERROR(table->Lookup(PackedRowIds(request.row_ids()), &rows));
//
// A Table is immutable and shared by reference count: a lookup that holds a
// std::shared_ptr<const Table> reads one consistent version to the end even
// if the manager publishes another meanwhile.
#ifndef ENGRAM_SERVER_TABLES_TABLE_H_
#define ENGRAM_SERVER_TABLES_TABLE_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "common/packed_row_ids.h"
#include "engram/v1/engram_service.pb.h"
#include "server/storage/row_store.h"

namespace engram::server {

class Table {
 public:
  // REQUIRES: info.rows() and info.row_bytes() match the store's.
  Table(v1::TableInfo info, std::shared_ptr<const RowStore> store);

  const v1::TableInfo& info() const { return info_; }
  const std::string& name() const { return info_.name(); }
  uint64_t rows() const { return info_.rows(); }
  uint32_t row_bytes() const { return info_.row_bytes(); }
  const RowStore& store() const { return *store_; }

  // Checks that every id is < rows() and gathers the rows into `out`, which
  // must hold ids.size() * row_bytes() bytes. InvalidArgument naming the
  // first bad position and value; the tier's errors otherwise. Thread-safe.
  absl::Status Lookup(const PackedRowIds& ids, char* out) const;

 private:
  const v1::TableInfo info_;
  const std::shared_ptr<const RowStore> store_;
};

}  // namespace engram::server

#endif  // ENGRAM_SERVER_TABLES_TABLE_H_

// The one place a rocksdb::Status becomes an absl::Status.
//
//   rocksdb::Status s = db->Put(write_options, key, value);
//   ENGRAM_RETURN_IF_ERROR(FromRocksDbStatus(s, "writing table metadata"));
//
// Codes map onto the canonical set by meaning (NotFound -> NotFound,
// Corruption -> DataLoss, out of space -> ResourceExhausted, busy or shutting
// down -> Unavailable, other I/O errors -> Internal, as DataDir reports
// them), so callers and the gRPC edge see one vocabulary.
#ifndef ENGRAM_SERVER_STORAGE_ROCKSDB_STATUS_H_
#define ENGRAM_SERVER_STORAGE_ROCKSDB_STATUS_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "rocksdb/status.h"

namespace engram::server {

// Returns OkStatus() for an OK `status`; otherwise an error whose message is
// "<context>: <rocksdb message>" (just the RocksDB message when `context` is
// empty).
absl::Status FromRocksDbStatus(const rocksdb::Status& status,
                               absl::string_view context = {});

}  // namespace engram::server

#endif  // ENGRAM_SERVER_STORAGE_ROCKSDB_STATUS_H_

// AdminServiceImpl: engram.v1.EngramAdmin, the calls that change what is
// served, on gRPC's callback API.
//
//   AdminServiceImpl admin(&data_dir, &tables, ImportLimits{});
//   builder.RegisterService(&admin);
//
// ImportTable, per call (a read reactor):
//   1. The first message must be the header: it is validated (name free,
//      sizes, types) and memory for the rows is reserved.
//   2. Each rows message is appended and hashed; more bytes than the header
//      announced fail the call at once.
//   3. An optional content_digest message must be the last.
//   4. When the client half-closes: the row count and digest are checked,
//      the table is written to the data directory (complete, then renamed
//      into place), published, and the call finishes with its TableInfo.
//   Any error finishes the call; nothing of the table stays behind.
#ifndef ENGRAM_SERVER_SERVICE_ADMIN_SERVICE_IMPL_H_
#define ENGRAM_SERVER_SERVICE_ADMIN_SERVICE_IMPL_H_

#include <cstdint>

#include "absl/status/status.h"
#include "engram/v1/admin_service.grpc.pb.h"
#include "server/storage/data_dir.h"
#include "server/tables/table_manager.h"

namespace engram::server {

struct ImportLimits {
  // Largest table ImportTable accepts, in row bytes.
  uint64_t max_table_bytes = 64ull << 30;
};

class AdminServiceImpl final : public v1::EngramAdmin::CallbackService {
 public:
  // `data_dir` and `tables` must outlive the service.
  AdminServiceImpl(const DataDir* data_dir, TableManager* tables,
                   ImportLimits limits);

  grpc::ServerReadReactor<v1::ImportTableRequest>* ImportTable(
      grpc::CallbackServerContext* context,
      v1::ImportTableResponse* response) override;

  // Checks an import header; the table's name must be free.
  absl::Status ValidateImport(const v1::ImportTableHeader& header) const;
  // Writes and publishes a complete imported table. Thread-safe.
  absl::Status CommitImport(const v1::TableInfo& info, const char* rows) const;

 private:
  const DataDir* const data_dir_;
  TableManager* const tables_;
  const ImportLimits limits_;
};

}  // namespace engram::server

#endif  // ENGRAM_SERVER_SERVICE_ADMIN_SERVICE_IMPL_H_

// AdminServiceImpl: engram.v1.EngramAdmin, the calls that change what is
// served, on gRPC's callback API.
//
//   AdminServiceImpl admin(&storage, &tables, ImportLimits{});
//   builder.RegisterService(&admin);
//
// ImportTable, per call (a read reactor):
//   1. The first message must be the header: it is validated (name free,
//      sizes, types), its placement chosen (ram, or ssd when asked or when
//      "auto" finds the RAM budget full) and memory for the rows reserved.
//   2. Each rows message is appended and hashed; more bytes than the header
//      announced fail the call at once.
//   3. An optional content_digest message must be the last.
//   4. When the client half-closes: the row count and digest are checked,
//      the table is stored (complete before it becomes visible), published,
//      and the call finishes with its TableInfo.
//   Any error finishes the call; nothing of the table stays behind.
#ifndef ENGRAM_SERVER_SERVICE_ADMIN_SERVICE_IMPL_H_
#define ENGRAM_SERVER_SERVICE_ADMIN_SERVICE_IMPL_H_

#include <cstdint>

#include "absl/status/status.h"
#include "engram/v1/admin_service.grpc.pb.h"
#include "server/storage/table_storage.h"
#include "server/tables/table_manager.h"

namespace engram::server {

struct ImportLimits {
  // Largest table ImportTable accepts, in row bytes.
  uint64_t max_table_bytes = 64ull << 30;
};

class AdminServiceImpl final : public v1::EngramAdmin::CallbackService {
 public:
  // `storage` and `tables` must outlive the service.
  AdminServiceImpl(TableStorage* storage, TableManager* tables,
                   ImportLimits limits);

  grpc::ServerReadReactor<v1::ImportTableRequest>* ImportTable(
      grpc::CallbackServerContext* context,
      v1::ImportTableResponse* response) override;

  // Checks an import header (the table's name must be free) and returns
  // its TableInfo with the placement chosen.
  absl::StatusOr<v1::TableInfo> ValidateImport(
      const v1::ImportTableHeader& header) const;
  // Stores and publishes a complete imported table. Thread-safe.
  absl::Status CommitImport(const v1::TableInfo& info, const char* rows) const;

 private:
  TableStorage* const storage_;
  TableManager* const tables_;
  const ImportLimits limits_;
};

}  // namespace engram::server

#endif  // ENGRAM_SERVER_SERVICE_ADMIN_SERVICE_IMPL_H_

// EngramServiceImpl: the engram.v1.EngramService data plane over a
// TableManager, on gRPC's callback API (no thread per call).
//
//   TableManager tables;
//   EngramServiceImpl service(&tables, LookupLimits{});
//   builder.RegisterService(&service);
//
// StreamLookup, per stream (a reactor):
//   1. StartRead for the first request.
//   2. OnReadDone(ok): answer the request (errors go into the response, the
//      stream lives on), queue the response and write it when no write is in
//      flight; read the next request unless kMaxQueuedResponses are waiting.
//   3. OnWriteDone(ok): write the next queued response; resume reading if it
//      was paused for back-pressure.
//   4. When the client has half-closed and the queue is empty, Finish(OK). A
//      failed read or write (client gone) finishes with CANCELLED.
//   5. OnDone: the reactor deletes itself.
#ifndef ENGRAM_SERVER_SERVICE_ENGRAM_SERVICE_IMPL_H_
#define ENGRAM_SERVER_SERVICE_ENGRAM_SERVICE_IMPL_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/metrics.h"
#include "common/packed_row_ids.h"
#include "engram/v1/engram_service.grpc.pb.h"
#include "server/service/token_check.h"
#include "server/storage/table_storage.h"
#include "server/tables/table_manager.h"
#include "server/versions/version_manager.h"

namespace engram::server {

// Per-request bounds; a request over either gets RESOURCE_EXHAUSTED.
struct LookupLimits {
  // Most row ids in one lookup.
  uint64_t max_batch_rows = 1 << 20;
  // Most bytes of rows in one response.
  uint64_t max_response_bytes = 256ull << 20;
};

// Lookup is served raw (ByteBuffer in and out) so that its rows are gathered
// into the buffer gRPC sends, with no copy through a protobuf string; the
// bytes on the wire are the same as protobuf's.
class EngramServiceImpl final
    : public v1::EngramService::WithRawCallbackMethod_Lookup<
          v1::EngramService::CallbackService> {
 public:
  // `tables`, `storage` (which reports the RAM budget), `versions` (pins,
  // version selectors, watches) and `auth` (the data-plane token) must
  // outlive the service.
  EngramServiceImpl(const TableManager* tables, const TableStorage* storage,
                    VersionManager* versions, const TokenCheck* auth,
                    LookupLimits limits, MetricsRegistry* metrics);

  grpc::ServerUnaryReactor* Lookup(grpc::CallbackServerContext* context,
                                   const grpc::ByteBuffer* request,
                                   grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* LookupTokens(grpc::CallbackServerContext* context,
                                         const v1::LookupTokensRequest* request,
                                         v1::LookupResponse* response) override;
  grpc::ServerBidiReactor<v1::StreamLookupRequest, v1::StreamLookupResponse>*
  StreamLookup(grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* ListTables(
      grpc::CallbackServerContext* context,
      const v1::ListTablesRequest* request,
      v1::ListTablesResponse* response) override;
  grpc::ServerUnaryReactor* DescribeTable(
      grpc::CallbackServerContext* context,
      const v1::DescribeTableRequest* request,
      v1::TableInfo* response) override;
  grpc::ServerUnaryReactor* GetCompressionMap(
      grpc::CallbackServerContext* context,
      const v1::GetCompressionMapRequest* request,
      v1::CompressionLookup* response) override;
  grpc::ServerUnaryReactor* PinVersion(
      grpc::CallbackServerContext* context,
      const v1::PinVersionRequest* request,
      v1::PinVersionResponse* response) override;
  grpc::ServerUnaryReactor* ReleasePin(
      grpc::CallbackServerContext* context,
      const v1::ReleasePinRequest* request,
      v1::ReleasePinResponse* response) override;
  grpc::ServerWriteReactor<v1::VersionEvent>* WatchTable(
      grpc::CallbackServerContext* context,
      const v1::WatchTableRequest* request) override;

  // Answers one lookup as a message (StreamLookup). Thread-safe.
  absl::Status DoLookup(const v1::LookupRequest& request,
                        v1::LookupResponse* response) const;
  // Answers one lookup as LookupResponse wire bytes (Lookup). Thread-safe.
  absl::StatusOr<grpc::ByteBuffer> DoLookupToWire(
      const v1::LookupRequest& request) const;

  // Answers one token lookup. Thread-safe.
  absl::Status DoLookupTokens(const v1::LookupTokensRequest& request,
                              v1::LookupResponse* response) const;

  // ListTables, DescribeTable, GetCompressionMap, PinVersion and ReleasePin
  // once the caller is let in (the gRPC methods check the data-plane token
  // first).
  // Thread-safe.
  absl::Status DoListTables(v1::ListTablesResponse* response) const;
  absl::Status DoDescribeTable(const v1::DescribeTableRequest& request,
                               v1::TableInfo* response) const;
  absl::Status DoGetCompressionMap(const v1::GetCompressionMapRequest& request,
                                   v1::CompressionLookup* response) const;
  absl::Status DoPinVersion(const v1::PinVersionRequest& request,
                            v1::PinVersionResponse* response) const;
  absl::Status DoReleasePin(const v1::ReleasePinRequest& request) const;

 private:
  // Adds a lookup's rows to the served counters of `table`.
  void CountServed(const Table& table, uint64_t rows, uint32_t row_bytes) const;
  // The version of table `name` that `at` selects; FAILED_PRECONDITION if
  // `expected_digest` is set and differs from its hash spec's.
  absl::StatusOr<std::shared_ptr<const Table>> GetTable(
      const std::string& name, const std::string& expected_digest,
      const v1::VersionSelector& at) const;
  // RESOURCE_EXHAUSTED if `rows` rows of `row_bytes` exceed the limits.
  absl::Status CheckLimits(uint64_t rows, uint32_t row_bytes) const;
  // Checks the limits and gathers `ids` of `table` into `response`, in
  // `output_type` (UNSPECIFIED: as stored).
  absl::Status GatherRows(const Table& table, const PackedRowIds& ids,
                          v1::ElementType output_type,
                          v1::LookupResponse* response) const;

  const TableManager* const tables_;
  const TableStorage* const storage_;
  VersionManager* const versions_;
  const TokenCheck* const auth_;
  const LookupLimits limits_;
  // Rows and bytes served per table.
  MetricsRegistry* const metrics_;
};

}  // namespace engram::server

#endif  // ENGRAM_SERVER_SERVICE_ENGRAM_SERVICE_IMPL_H_

#include "server/service/engram_service_impl.h"

#include <cstring>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/addressing/addresser.h"
#include "common/element_type.h"
#include "common/grpc_status.h"
#include "common/logging.h"
#include "common/lookup_wire.h"
#include "common/packed_row_ids.h"
#include "common/status_macros.h"
#include "server/service/refused_reactor.h"
#include "server/service/request_id.h"
#include "server/service/unary_call.h"
#include "server/service/watch_reactor.h"

namespace engram::server {
namespace {

using StreamReactor =
    grpc::ServerBidiReactor<v1::StreamLookupRequest, v1::StreamLookupResponse>;

// How a lookup's rows leave the server.
struct OutputFormat {
  // Whether f32 rows are converted (to `type`); otherwise sent as stored.
  bool convert = false;
  // The type of the rows sent (LookupResponse.element_type).
  ElementType type = ElementType::kOpaque;
  uint32_t row_bytes = 0;
};

// The format `requested` (UNSPECIFIED: as stored) asks of `table`.
// INVALID_ARGUMENT for conversions other than f32 -> bf16/f16.
absl::StatusOr<OutputFormat> ResolveOutput(const Table& table,
                                           v1::ElementType requested) {
  ENGRAM_ASSIGN_OR_RETURN(const ElementType stored_type,
                          FromProto(table.info().element_type()));
  const OutputFormat stored{false, stored_type, table.row_bytes()};
  if (requested == v1::ELEMENT_TYPE_UNSPECIFIED ||
      requested == table.info().element_type()) {
    return stored;
  }
  absl::StatusOr<ElementType> to = FromProto(requested);
  if (table.info().element_type() != v1::ELEMENT_TYPE_F32 || !to.ok() ||
      (*to != ElementType::kBf16 && *to != ElementType::kF16)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "table '", table.name(), "' holds ",
        v1::ElementType_Name(table.info().element_type()),
        " rows, which cannot be sent as ", v1::ElementType_Name(requested),
        "; only f32 tables convert, to bf16 or f16"));
  }
  return OutputFormat{true, *to, table.row_bytes() / 2};
}

// Gathers `ids` of `table` into `out` in `format` (out holds ids.size() *
// format.row_bytes bytes) and returns LookupResponse.missing: empty unless
// the table reports missing rows and some are.
absl::StatusOr<std::string> GatherInFormat(const Table& table,
                                           const PackedRowIds& ids,
                                           const OutputFormat& format,
                                           char* out) {
  std::optional<MissingRows> missing;
  if (table.reports_missing()) missing.emplace(ids.size());
  MissingRows* const missing_out = missing ? &*missing : nullptr;
  if (!format.convert) {
    ENGRAM_RETURN_IF_ERROR(table.Lookup(ids, out, missing_out));
  } else {
    auto stored =
        std::make_unique_for_overwrite<char[]>(ids.size() * table.row_bytes());
    ENGRAM_RETURN_IF_ERROR(table.Lookup(ids, stored.get(), missing_out));
    ConvertF32Elements(stored.get(), ids.size() * table.row_bytes() / 4,
                       format.type, out);
  }
  return missing && missing->any() ? missing->bits() : std::string();
}

class StreamLookupReactor final : public StreamReactor {
 public:
  StreamLookupReactor(const EngramServiceImpl* service, std::string request_id)
      : service_(service), request_id_(std::move(request_id)) {
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    const ScopedLogRequestId log(request_id_);
    absl::MutexLock lock(&mu_);
    if (!ok || write_failed_) {
      // The client half-closed or went away: nothing more to answer.
      reads_done_ = true;
      MaybeFinishLocked();
      return;
    }
    auto response = std::make_unique<v1::StreamLookupResponse>();
    response->set_request_id(request_.request_id());
    const absl::Status status =
        service_->DoLookup(request_.lookup(), response->mutable_lookup());
    if (!status.ok()) {
      VLOG(1) << "stream lookup " << request_.request_id() << ": " << status;
      response->clear_lookup();
      response->set_status_code(static_cast<int>(status.code()));
      response->set_status_message(std::string(status.message()));
    }
    queue_.push_back(std::move(response));
    if (queue_.size() == 1) StartWrite(queue_.front().get());
    if (queue_.size() < kMaxQueuedResponses) {
      StartRead(&request_);
    } else {
      read_paused_ = true;
    }
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    queue_.pop_front();
    if (!ok) {
      // The client is gone: stop writing and wait for the read to fail.
      write_failed_ = true;
      queue_.clear();
      if (read_paused_) reads_done_ = true;
      MaybeFinishLocked();
      return;
    }
    if (!queue_.empty()) StartWrite(queue_.front().get());
    if (read_paused_ && !reads_done_) {
      read_paused_ = false;
      StartRead(&request_);
    }
    MaybeFinishLocked();
  }

  void OnDone() override { delete this; }

 private:
  // Responses a stream may have waiting for the client before it stops
  // reading requests, so a slow reader bounds the server's memory.
  static constexpr size_t kMaxQueuedResponses = 16;

  void MaybeFinishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_ || !reads_done_ || !queue_.empty()) return;
    finished_ = true;
    Finish(write_failed_ ? grpc::Status::CANCELLED : grpc::Status::OK);
  }

  const EngramServiceImpl* const service_;
  const std::string request_id_;
  absl::Mutex mu_;
  // Only one read is in flight at a time, so request_ needs no lock.
  v1::StreamLookupRequest request_;
  std::deque<std::unique_ptr<v1::StreamLookupResponse>> queue_
      ABSL_GUARDED_BY(mu_);
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;
  bool read_paused_ ABSL_GUARDED_BY(mu_) = false;
  bool write_failed_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

// The map `table`'s token ids are compressed with before its spec hashes
// them; null when the spec hashes raw ids. FAILED_PRECONDITION when the
// server does not hold it (the table was imported without it).
absl::StatusOr<const CompressionMap*> HeldCompression(const Table& table) {
  const std::string& digest = table.info().hash_spec().compression_digest();
  if (digest.empty()) return nullptr;
  if (table.compression() == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "table '", table.name(), "' hashes token ids compressed by map ",
        digest,
        ", which the server does not hold (the table was imported without "
        "it); import it again with engramctl import --compression, or "
        "address the tokens on the client (a Prefetcher given the map) and "
        "look the rows up by id"));
  }
  return table.compression();
}

// `table`'s info as DescribeTable and ListTables give it.
v1::TableInfo ServedInfo(const Table& table) {
  v1::TableInfo info = table.info();
  info.set_compression_map_held(table.compression() != nullptr);
  return info;
}

}  // namespace

EngramServiceImpl::EngramServiceImpl(const TableManager* tables,
                                     const TableStorage* storage,
                                     VersionManager* versions,
                                     const TokenCheck* auth,
                                     LookupLimits limits,
                                     MetricsRegistry* metrics)
    : tables_(tables),
      storage_(storage),
      versions_(versions),
      auth_(auth),
      limits_(limits),
      metrics_(metrics) {}

void EngramServiceImpl::CountServed(const Table& table, uint64_t rows,
                                    uint32_t row_bytes) const {
  const MetricLabels labels = {{"table", table.name()}};
  metrics_
      ->GetCounter("engram_rows_served_total", "Rows returned by lookups.",
                   labels)
      ->Increment(rows);
  metrics_
      ->GetCounter("engram_row_bytes_served_total",
                   "Bytes of rows returned by lookups.", labels)
      ->Increment(rows * row_bytes);
}

absl::StatusOr<std::shared_ptr<const Table>> EngramServiceImpl::GetTable(
    const std::string& name, const std::string& expected_digest,
    const v1::VersionSelector& at) const {
  ENGRAM_ASSIGN_OR_RETURN(std::shared_ptr<const Table> table,
                          versions_->Resolve(name, at));
  const std::string& digest = table->info().hash_spec().digest();
  if (!expected_digest.empty() && expected_digest != digest) {
    return absl::FailedPreconditionError(
        absl::StrCat("row ids were computed under hash spec ", expected_digest,
                     " but table '", table->name(),
                     "' is addressed by hash spec '", digest, "'"));
  }
  return table;
}

absl::Status EngramServiceImpl::CheckLimits(uint64_t rows,
                                            uint32_t row_bytes) const {
  if (rows > limits_.max_batch_rows) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "batch of ", rows, " rows exceeds the server limit of ",
        limits_.max_batch_rows, " rows per lookup (--max-batch-rows)"));
  }
  if (rows * row_bytes > limits_.max_response_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "batch of ", rows, " rows x ", row_bytes, " B = ", rows * row_bytes,
        " B exceeds the server limit of ", limits_.max_response_bytes,
        " B per response (--max-response-bytes)"));
  }
  return absl::OkStatus();
}

absl::Status EngramServiceImpl::GatherRows(const Table& table,
                                           const PackedRowIds& ids,
                                           v1::ElementType output_type,
                                           v1::LookupResponse* response) const {
  ENGRAM_RETURN_IF_ERROR(CheckLimits(ids.size(), table.row_bytes()));
  ENGRAM_ASSIGN_OR_RETURN(const OutputFormat format,
                          ResolveOutput(table, output_type));
  std::string* rows = response->mutable_rows();
  rows->resize(ids.size() * format.row_bytes);
  ENGRAM_ASSIGN_OR_RETURN(*response->mutable_missing(),
                          GatherInFormat(table, ids, format, rows->data()));
  response->set_version(table.info().version());
  response->set_row_bytes(format.row_bytes);
  response->set_row_count(ids.size());
  response->set_element_type(ToProto(format.type));
  CountServed(table, ids.size(), format.row_bytes);
  return absl::OkStatus();
}

absl::Status EngramServiceImpl::DoLookup(const v1::LookupRequest& request,
                                         v1::LookupResponse* response) const {
  ENGRAM_ASSIGN_OR_RETURN(
      std::shared_ptr<const Table> table,
      GetTable(request.table(), request.hash_spec_digest(), request.at()));
  ENGRAM_RETURN_IF_ERROR(ValidatePackedRowIds(request.row_ids()));
  return GatherRows(*table, PackedRowIds(request.row_ids()),
                    request.output_type(), response);
}

absl::StatusOr<grpc::ByteBuffer> EngramServiceImpl::DoLookupToWire(
    const v1::LookupRequest& request) const {
  ENGRAM_ASSIGN_OR_RETURN(
      std::shared_ptr<const Table> table,
      GetTable(request.table(), request.hash_spec_digest(), request.at()));
  ENGRAM_RETURN_IF_ERROR(ValidatePackedRowIds(request.row_ids()));
  const PackedRowIds ids(request.row_ids());
  ENGRAM_RETURN_IF_ERROR(CheckLimits(ids.size(), table->row_bytes()));
  ENGRAM_ASSIGN_OR_RETURN(const OutputFormat format,
                          ResolveOutput(*table, request.output_type()));
  // Uninitialised: every byte is about to be gathered into.
  auto rows =
      std::make_unique_for_overwrite<char[]>(ids.size() * format.row_bytes);
  ENGRAM_ASSIGN_OR_RETURN(std::string missing,
                          GatherInFormat(*table, ids, format, rows.get()));
  CountServed(*table, ids.size(), format.row_bytes);
  return EncodeLookupResponse({table->info().version(), format.row_bytes,
                               ids.size(), std::move(missing), format.type},
                              std::move(rows));
}

absl::Status EngramServiceImpl::DoLookupTokens(
    const v1::LookupTokensRequest& request,
    v1::LookupResponse* response) const {
  ENGRAM_ASSIGN_OR_RETURN(
      std::shared_ptr<const Table> table,
      GetTable(request.table(), request.hash_spec_digest(), request.at()));
  const HashSpec* spec = table->hash_spec();
  if (spec == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("table '", table->name(),
                     "' has no hash spec; look it up by row id instead"));
  }
  ENGRAM_ASSIGN_OR_RETURN(const CompressionMap* const compression,
                          HeldCompression(*table));
  if (table->rows() != table->total_rows()) {
    // Its tokens address rows of every shard.
    return absl::FailedPreconditionError(absl::StrCat(
        "table '", table->name(), "' is a shard here (rows [",
        table->first_row(), ", ", table->first_row() + table->rows(), ") of ",
        table->total_rows(),
        "); compute the row ids and look them up through the shard map"));
  }
  const uint64_t tokens = request.tokens().size() / sizeof(int64_t);
  if (request.tokens().size() % sizeof(int64_t) != 0 ||
      tokens != uint64_t{request.batch()} * request.time()) {
    return absl::InvalidArgumentError(
        absl::StrCat("tokens holds ", request.tokens().size(), " bytes; batch ",
                     request.batch(), " x time ", request.time(),
                     " needs 8 bytes (one little-endian int64) per token"));
  }
  const uint64_t rows = tokens * spec->rows_per_token();
  ENGRAM_RETURN_IF_ERROR(CheckLimits(rows, table->row_bytes()));
  std::vector<int64_t> token_ids(tokens);
  // Not for batch or time 0: memcpy to the null data() of an empty vector
  // is undefined even for 0 bytes.
  if (tokens > 0) {
    std::memcpy(token_ids.data(), request.tokens().data(),
                request.tokens().size());
  }
  if (compression != nullptr) {
    ENGRAM_RETURN_IF_ERROR(
        compression->CompressInPlace(absl::MakeSpan(token_ids)));
  }
  std::vector<int64_t> row_ids(rows);
  ENGRAM_RETURN_IF_ERROR(ComputeRowIds(
      *spec, /*layer_index=*/0, token_ids, request.batch(), request.time(),
      request.lengths(), absl::MakeSpan(row_ids)));
  // Row ids are non-negative, so their int64 bytes are their uint64 bytes.
  const absl::string_view packed(reinterpret_cast<const char*>(row_ids.data()),
                                 row_ids.size() * sizeof(int64_t));
  return GatherRows(*table, PackedRowIds(packed), v1::ELEMENT_TYPE_UNSPECIFIED,
                    response);
}

grpc::ServerUnaryReactor* EngramServiceImpl::Lookup(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request_bytes,
    grpc::ByteBuffer* response_bytes) {
  return FinishUnaryCall(context, *auth_, [&]() -> absl::Status {
    v1::LookupRequest request;
    // The request is small (8 bytes per id); only the response bypasses
    // protobuf.
    grpc::ByteBuffer request_copy(*request_bytes);
    if (!grpc::SerializationTraits<v1::LookupRequest>::Deserialize(
             &request_copy, &request)
             .ok()) {
      return absl::InvalidArgumentError("malformed LookupRequest");
    }
    ENGRAM_ASSIGN_OR_RETURN(grpc::ByteBuffer response, DoLookupToWire(request));
    response_bytes->Swap(&response);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* EngramServiceImpl::LookupTokens(
    grpc::CallbackServerContext* context,
    const v1::LookupTokensRequest* request, v1::LookupResponse* response) {
  return FinishUnaryCall(context, *auth_,
                         [&] { return DoLookupTokens(*request, response); });
}

StreamReactor* EngramServiceImpl::StreamLookup(
    grpc::CallbackServerContext* context) {
  std::string request_id = AssignRequestId(*context);
  if (absl::Status status = auth_->Check(*context); !status.ok()) {
    return new RefusedReactor<StreamReactor>(status);
  }
  return new StreamLookupReactor(this, std::move(request_id));
}

grpc::ServerUnaryReactor* EngramServiceImpl::PinVersion(
    grpc::CallbackServerContext* context, const v1::PinVersionRequest* request,
    v1::PinVersionResponse* response) {
  return FinishUnaryCall(context, *auth_,
                         [&] { return DoPinVersion(*request, response); });
}

absl::Status EngramServiceImpl::DoPinVersion(
    const v1::PinVersionRequest& request,
    v1::PinVersionResponse* response) const {
  ENGRAM_ASSIGN_OR_RETURN(const PinRegistry::Pin pin,
                          versions_->Pin(request.table(), request.version(),
                                         absl::Milliseconds(request.ttl_ms())));
  response->set_pin_id(pin.id);
  response->set_version(pin.version);
  response->set_ttl_ms(
      static_cast<uint32_t>(absl::ToInt64Milliseconds(pin.ttl)));
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* EngramServiceImpl::ReleasePin(
    grpc::CallbackServerContext* context, const v1::ReleasePinRequest* request,
    v1::ReleasePinResponse* response) {
  return FinishUnaryCall(context, *auth_,
                         [&] { return DoReleasePin(*request); });
}

absl::Status EngramServiceImpl::DoReleasePin(
    const v1::ReleasePinRequest& request) const {
  return versions_->ReleasePin(request.pin_id());
}

grpc::ServerWriteReactor<v1::VersionEvent>* EngramServiceImpl::WatchTable(
    grpc::CallbackServerContext* context,
    const v1::WatchTableRequest* request) {
  AssignRequestId(*context);
  if (absl::Status status = auth_->Check(*context); !status.ok()) {
    return new RefusedReactor<grpc::ServerWriteReactor<v1::VersionEvent>>(
        status);
  }
  return new WatchReactor(versions_, request->table());
}

grpc::ServerUnaryReactor* EngramServiceImpl::ListTables(
    grpc::CallbackServerContext* context, const v1::ListTablesRequest* request,
    v1::ListTablesResponse* response) {
  return FinishUnaryCall(context, *auth_,
                         [&] { return DoListTables(response); });
}

absl::Status EngramServiceImpl::DoListTables(
    v1::ListTablesResponse* response) const {
  for (const std::shared_ptr<const Table>& table : tables_->List()) {
    *response->add_tables() = ServedInfo(*table);
  }
  const RamUse ram = storage_->ram_use();
  response->mutable_memory()->set_ram_budget_bytes(ram.budget_bytes);
  response->mutable_memory()->set_ram_bytes_charged(ram.charged_bytes);
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* EngramServiceImpl::DescribeTable(
    grpc::CallbackServerContext* context,
    const v1::DescribeTableRequest* request, v1::TableInfo* response) {
  return FinishUnaryCall(context, *auth_,
                         [&] { return DoDescribeTable(*request, response); });
}

grpc::ServerUnaryReactor* EngramServiceImpl::GetCompressionMap(
    grpc::CallbackServerContext* context,
    const v1::GetCompressionMapRequest* request,
    v1::CompressionLookup* response) {
  return FinishUnaryCall(
      context, *auth_, [&] { return DoGetCompressionMap(*request, response); });
}

absl::Status EngramServiceImpl::DoGetCompressionMap(
    const v1::GetCompressionMapRequest& request,
    v1::CompressionLookup* response) const {
  ENGRAM_ASSIGN_OR_RETURN(const std::shared_ptr<const Table> table,
                          tables_->Get(request.table()));
  ENGRAM_ASSIGN_OR_RETURN(const CompressionMap* const compression,
                          HeldCompression(*table));
  if (compression == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("table '", table->name(),
                     "' hashes raw token ids: it has no compression map"));
  }
  response->set_digest(table->info().hash_spec().compression_digest());
  response->set_lookup(compression->LittleEndian());
  response->set_compressed_vocab(compression->compressed_vocab());
  return absl::OkStatus();
}

absl::Status EngramServiceImpl::DoDescribeTable(
    const v1::DescribeTableRequest& request, v1::TableInfo* response) const {
  ENGRAM_ASSIGN_OR_RETURN(const std::shared_ptr<const Table> table,
                          tables_->Get(request.table()));
  *response = ServedInfo(*table);
  const RowStoreStats stats = table->store().Stats();
  v1::TableStats* out = response->mutable_stats();
  out->set_bytes_in_ram(stats.bytes_in_ram);
  out->set_bytes_on_ssd(stats.bytes_on_ssd);
  out->set_cache_hits(stats.cache_hits);
  out->set_cache_misses(stats.cache_misses);
  out->set_cache_bytes_used(stats.cache_bytes_used);
  out->set_cache_capacity_bytes(stats.cache_capacity_bytes);
  const uint64_t lookups = stats.cache_hits + stats.cache_misses;
  out->set_cache_hit_rate(
      lookups == 0 ? 0.0 : static_cast<double>(stats.cache_hits) / lookups);
  out->set_rows_in_ram(stats.rows_in_ram);
  out->set_rows_on_ssd(stats.rows_on_ssd);
  out->set_cache_utilization(stats.cache_capacity_bytes == 0
                                 ? 0.0
                                 : static_cast<double>(stats.cache_bytes_used) /
                                       stats.cache_capacity_bytes);
  return absl::OkStatus();
}

}  // namespace engram::server

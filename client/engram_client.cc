#include "client/engram_client.h"

#include <atomic>
#include <cstring>
#include <limits>
#include <thread>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/function_ref.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/bearer_token.h"
#include "common/channel_arguments.h"
#include "common/grpc_status.h"
#include "common/hash_spec_proto.h"
#include "common/lookup_wire.h"
#include "common/packed_row_ids.h"
#include "common/request_id.h"
#include "common/status_macros.h"
#include "common/tls_credentials.h"
#include "engram/v1/engram_service.grpc.pb.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/impl/codegen/proto_utils.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

namespace engram::client {
namespace {

absl::StatusOr<TableDescription> ToDescription(const v1::TableInfo& info) {
  TableDescription description;
  description.name = info.name();
  description.rows = info.rows();
  description.first_row = info.first_row();
  description.total_rows =
      info.total_rows() != 0 ? info.total_rows() : info.rows();
  description.row_bytes = info.row_bytes();
  ENGRAM_ASSIGN_OR_RETURN(description.element_type,
                          FromProto(info.element_type()));
  description.dims.assign(info.dims().begin(), info.dims().end());
  description.version = info.version();
  description.hash_spec_digest = info.hash_spec().digest();
  description.compression_digest = info.hash_spec().compression_digest();
  description.compression_map_held = info.compression_map_held();
  if (info.has_hash_spec()) {
    ENGRAM_ASSIGN_OR_RETURN(HashSpec spec,
                            HashSpecLayerFromProto(info.hash_spec()));
    description.hash_spec = std::make_shared<const HashSpec>(std::move(spec));
  }
  description.placement = info.placement().empty() ? "ram" : info.placement();
  description.content_digest = info.content_digest();
  const v1::TableStats& stats = info.stats();
  description.rows_written = info.rows_written();
  switch (info.missing_rows()) {
    case v1::MISSING_ROW_POLICY_ZEROS:
      description.missing_rows = "zeros";
      break;
    case v1::MISSING_ROW_POLICY_REPORT:
      description.missing_rows = "report";
      break;
    default:
      break;
  }
  description.stats = {stats.bytes_in_ram(),     stats.bytes_on_ssd(),
                       stats.cache_hits(),       stats.cache_misses(),
                       stats.cache_bytes_used(), stats.cache_capacity_bytes(),
                       stats.cache_hit_rate(),   stats.rows_in_ram(),
                       stats.rows_on_ssd(),      stats.cache_utilization()};
  return description;
}

// Full names of the methods returning rows, for the generic (ByteBuffer)
// stub.
constexpr char kLookupMethod[] = "/engram.v1.EngramService/Lookup";
constexpr char kLookupTokensMethod[] = "/engram.v1.EngramService/LookupTokens";

// Copies the rows of a successful response into `out`.
absl::StatusOr<LookupResult> DeliverRows(grpc::ByteBuffer* response,
                                         absl::Span<char> out) {
  ENGRAM_ASSIGN_OR_RETURN(LookupResponseHeader header,
                          DecodeLookupResponse(response, out));
  return LookupResult{header.version, header.row_bytes, header.row_count,
                      std::move(header.missing), header.element_type};
}

// Adds what identifies every call of the client: the bearer token, and
// `request_id` (or, when empty, the client's) as x-request-id.
void AddCallMetadata(const ClientOptions& options, absl::string_view request_id,
                     grpc::ClientContext* context) {
  AddBearerToken(options.bearer_token, context);
  AddRequestId(request_id.empty() ? options.request_id : request_id, context);
}

// The control calls in flight (EngramClient::CancelControlCalls), by
// their contexts.
class ControlCalls {
 public:
  // Registers `context`, whose call is about to start, until Finish;
  // CANCELLED (and nothing registered) once CancelAll ran.
  absl::Status Start(grpc::ClientContext* context) {
    absl::MutexLock lock(&mu_);
    if (cancelled_) {
      return absl::CancelledError(
          "the client's control calls were cancelled: it is being closed");
    }
    in_flight_.insert(context);
    return absl::OkStatus();
  }
  // Before `context` is destroyed.
  void Finish(grpc::ClientContext* context) {
    absl::MutexLock lock(&mu_);
    in_flight_.erase(context);
  }
  void CancelAll() {
    absl::MutexLock lock(&mu_);
    cancelled_ = true;
    for (grpc::ClientContext* context : in_flight_) context->TryCancel();
  }

 private:
  absl::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_set<grpc::ClientContext*> in_flight_ ABSL_GUARDED_BY(mu_);
};

// A WatchTable stream read on a thread of its own.
class GrpcTableWatch final : public TableWatch {
 public:
  using Callback = EngramClient::WatchCallback;

  // Starts reading; returns once the first event (or the error) is in, or
  // DEADLINE_EXCEEDED after options.default_timeout without either. Until
  // then the call is one of `control_calls`.
  static absl::StatusOr<std::unique_ptr<TableWatch>> Start(
      v1::EngramService::Stub& stub, absl::string_view table,
      const ClientOptions& options, ControlCalls& control_calls,
      Callback on_change) {
    std::unique_ptr<GrpcTableWatch> watch(
        new GrpcTableWatch(std::move(on_change)));
    AddCallMetadata(options, /*request_id=*/"", &watch->context_);
    ENGRAM_RETURN_IF_ERROR(control_calls.Start(&watch->context_));
    // Runs before a watch that did not start is destroyed.
    absl::Cleanup unregister = [&control_calls, context = &watch->context_] {
      control_calls.Finish(context);
    };
    v1::WatchTableRequest request;
    request.set_table(std::string(table));
    watch->reader_ = stub.WatchTable(&watch->context_, request);
    watch->thread_ = std::thread([raw = watch.get()] { raw->Read(); });
    if (!watch->started_.WaitForNotificationWithTimeout(
            options.default_timeout)) {
      // Ends the read. Should the first event have come meanwhile, the
      // watch started, and its end follows it as any end does.
      watch->context_.TryCancel();
      watch->started_.WaitForNotification();
      if (watch->start_status_.ok()) {
        return std::unique_ptr<TableWatch>(std::move(watch));
      }
      return absl::DeadlineExceededError(absl::StrCat(
          "the watch of table '", table, "' had no first event from ",
          options.server_address, " within ",
          absl::FormatDuration(options.default_timeout)));
    }
    if (!watch->start_status_.ok()) return watch->start_status_;
    return std::unique_ptr<TableWatch>(std::move(watch));
  }

  ~GrpcTableWatch() override {
    stopping_ = true;
    context_.TryCancel();
    // Not started when its call was refused (control calls cancelled).
    if (thread_.joinable()) thread_.join();
  }

 private:
  explicit GrpcTableWatch(Callback on_change)
      : on_change_(std::move(on_change)) {}

  void Read() {
    v1::VersionEvent event;
    VersionChange change;
    bool first = true;
    while (reader_->Read(&event)) {
      change.kind = event.kind() == v1::VersionEvent::ACTIVATED
                        ? VersionChange::Kind::kActivated
                    : event.kind() == v1::VersionEvent::ROLLED_BACK
                        ? VersionChange::Kind::kRolledBack
                        : VersionChange::Kind::kCurrent;
      change.version = event.version();
      change.previous_version = event.previous_version();
      const PackedRowIds ids(event.changed_row_ids());
      for (size_t i = 0; i < ids.size(); ++i)
        change.changed_ids.push_back(ids[i]);
      if (!event.last_part()) continue;
      on_change_(std::move(change));
      change = VersionChange();
      if (first) {
        first = false;
        started_.Notify();
      }
    }
    const absl::Status ended = FromGrpcStatus(reader_->Finish());
    if (first) {
      start_status_ =
          ended.ok()
              ? absl::UnavailableError("the watch ended before its first event")
              : ended;
      started_.Notify();
      return;
    }
    if (!stopping_) {
      on_change_(ended.ok() ? absl::UnavailableError("the watch ended")
                            : ended);
    }
  }

  Callback on_change_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReader<v1::VersionEvent>> reader_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  absl::Notification started_;
  absl::Status start_status_;
};

// One connection: the typed stub, and a generic stub for the calls that
// return rows, which are decoded straight into the caller's buffer.
struct Connection {
  std::unique_ptr<v1::EngramService::Stub> stub;
  std::unique_ptr<grpc::GenericStub> generic;
};

class GrpcEngramClient final : public EngramClient {
 public:
  GrpcEngramClient(const ClientOptions& options,
                   std::vector<Connection> connections)
      : options_(options), connections_(std::move(connections)) {}

  absl::StatusOr<std::vector<TableDescription>> ListTables() override {
    v1::ListTablesResponse response;
    ENGRAM_RETURN_IF_ERROR(ControlCall([&](grpc::ClientContext* context) {
      return NextStub().ListTables(context, v1::ListTablesRequest(), &response);
    }));
    std::vector<TableDescription> tables;
    for (const v1::TableInfo& info : response.tables()) {
      ENGRAM_ASSIGN_OR_RETURN(TableDescription description,
                              ToDescription(info));
      tables.push_back(std::move(description));
    }
    return tables;
  }

  absl::StatusOr<TableDescription> DescribeTable(
      absl::string_view table) override {
    v1::DescribeTableRequest request;
    request.set_table(std::string(table));
    v1::TableInfo info;
    ENGRAM_RETURN_IF_ERROR(ControlCall([&](grpc::ClientContext* context) {
      return NextStub().DescribeTable(context, request, &info);
    }));
    return ToDescription(info);
  }

  absl::StatusOr<std::shared_ptr<const CompressionMap>> GetCompressionMap(
      absl::string_view table) override {
    v1::GetCompressionMapRequest request;
    request.set_table(std::string(table));
    v1::CompressionLookup response;
    ENGRAM_RETURN_IF_ERROR(ControlCall([&](grpc::ClientContext* context) {
      return NextStub().GetCompressionMap(context, request, &response);
    }));
    return CompressionMapFromReply(table, response);
  }

  absl::StatusOr<LookupResult> LookupTokens(
      absl::string_view table, absl::Span<const int64_t> tokens, int batch,
      int time, absl::Span<const int32_t> lengths, absl::Span<char> out,
      const LookupOptions& options) override {
    v1::LookupTokensRequest request;
    request.set_table(std::string(table));
    request.mutable_tokens()->assign(
        reinterpret_cast<const char*>(tokens.data()),
        tokens.size() * sizeof(int64_t));
    request.set_batch(batch);
    request.set_time(time);
    request.mutable_lengths()->Add(lengths.begin(), lengths.end());
    request.set_hash_spec_digest(options.hash_spec_digest);
    SetVersionSelector(options, request);
    return WaitForLookup([&](LookupCallback done) {
      CallForRows(kLookupTokensMethod, request, out, options, std::move(done));
    });
  }

  void LookupAsync(absl::string_view table, absl::Span<const uint64_t> ids,
                   absl::Span<char> out, const LookupOptions& options,
                   LookupCallback done) override {
    CallForRows(kLookupMethod, MakeRequest(table, ids, options), out, options,
                std::move(done));
  }

  absl::StatusOr<VersionPin> PinVersion(absl::string_view table,
                                        uint64_t version,
                                        absl::Duration ttl) override {
    const int64_t ttl_ms =
        absl::ToInt64Milliseconds(absl::Ceil(ttl, absl::Milliseconds(1)));
    if (ttl_ms < 0 || ttl_ms > std::numeric_limits<uint32_t>::max()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "pin ttl ", absl::FormatDuration(ttl), " is not in [0, 2^32) ms"));
    }
    v1::PinVersionRequest request;
    request.set_table(std::string(table));
    request.set_version(version);
    request.set_ttl_ms(static_cast<uint32_t>(ttl_ms));
    v1::PinVersionResponse response;
    ENGRAM_RETURN_IF_ERROR(ControlCall([&](grpc::ClientContext* context) {
      return NextStub().PinVersion(context, request, &response);
    }));
    return VersionPin{response.pin_id(), response.version(),
                      absl::Milliseconds(response.ttl_ms())};
  }

  absl::StatusOr<std::unique_ptr<TableWatch>> WatchTable(
      absl::string_view table, WatchCallback on_change) override {
    return GrpcTableWatch::Start(NextStub(), table, options_, control_calls_,
                                 std::move(on_change));
  }

  void CancelControlCalls() override { control_calls_.CancelAll(); }

  absl::Status ReleasePin(uint64_t pin_id) override {
    v1::ReleasePinRequest request;
    request.set_pin_id(pin_id);
    v1::ReleasePinResponse response;
    return ControlCall([&](grpc::ClientContext* context) {
      return NextStub().ReleasePin(context, request, &response);
    });
  }

 private:
  // Runs `call` with a context that carries the default deadline and the
  // call metadata, registered as a control call while it runs.
  absl::Status ControlCall(
      absl::FunctionRef<grpc::Status(grpc::ClientContext*)> call) {
    grpc::ClientContext context;
    PrepareContext(absl::ZeroDuration(), /*request_id=*/"", &context);
    ENGRAM_RETURN_IF_ERROR(control_calls_.Start(&context));
    const grpc::Status status = call(&context);
    control_calls_.Finish(&context);
    return FromGrpcStatus(status);
  }

  // Calls `method` with `request` through the generic stub and decodes the
  // LookupResponse it returns into `out`; `done` runs once, on a client
  // thread. `options` gives the deadline and request id.
  void CallForRows(const char* method, const google::protobuf::Message& request,
                   absl::Span<char> out, const LookupOptions& options,
                   LookupCallback done) {
    if (absl::Status usable = CheckOptionalRequestId(options.request_id);
        !usable.ok()) {
      std::move(done)(std::move(usable));
      return;
    }
    // Owns everything the call touches until its callback has run.
    struct Call {
      grpc::ClientContext context;
      grpc::ByteBuffer request;
      grpc::ByteBuffer response;
      absl::Span<char> out;
      LookupCallback done;
    };
    auto* call = new Call;
    PrepareContext(options.timeout, options.request_id, &call->context);
    bool own_buffer;
    const grpc::Status serialized =
        grpc::SerializationTraits<google::protobuf::Message>::Serialize(
            request, &call->request, &own_buffer);
    if (!serialized.ok()) {
      delete call;
      std::move(done)(FromGrpcStatus(serialized));
      return;
    }
    call->out = out;
    call->done = std::move(done);
    NextConnection().generic->UnaryCall(
        &call->context, method, grpc::StubOptions(), &call->request,
        &call->response, [call](grpc::Status status) {
          absl::StatusOr<LookupResult> result =
              status.ok()
                  ? DeliverRows(&call->response, call->out)
                  : absl::StatusOr<LookupResult>(FromGrpcStatus(status));
          LookupCallback done = std::move(call->done);
          delete call;
          std::move(done)(std::move(result));
        });
  }

  static v1::LookupRequest MakeRequest(absl::string_view table,
                                       absl::Span<const uint64_t> ids,
                                       const LookupOptions& options) {
    v1::LookupRequest request;
    request.set_table(std::string(table));
    AppendPackedRowIds(ids, request.mutable_row_ids());
    request.set_hash_spec_digest(options.hash_spec_digest);
    if (options.output_type.has_value()) {
      request.set_output_type(ToProto(*options.output_type));
    }
    SetVersionSelector(options, request);
    return request;
  }

  // Fills the request's `at`, only when a version or pin is named: an
  // absent selector (the active version) costs the hot path nothing.
  template <typename Request>
  static void SetVersionSelector(const LookupOptions& options,
                                 Request& request) {
    if (options.version == 0 && options.pin_id == 0) return;
    request.mutable_at()->set_version(options.version);
    request.mutable_at()->set_pin_id(options.pin_id);
  }

  // What every call carries: its deadline (`timeout`, or the default when
  // zero), the bearer token and request id, if any.
  void PrepareContext(absl::Duration timeout, absl::string_view request_id,
                      grpc::ClientContext* context) const {
    if (timeout == absl::ZeroDuration()) timeout = options_.default_timeout;
    context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
    AddCallMetadata(options_, request_id, context);
  }

  // Spreads calls over the connections, round robin.
  Connection& NextConnection() {
    const size_t index =
        next_connection_.fetch_add(1, std::memory_order_relaxed) %
        connections_.size();
    return connections_[index];
  }
  v1::EngramService::Stub& NextStub() { return *NextConnection().stub; }

  const ClientOptions options_;
  std::vector<Connection> connections_;
  std::atomic<size_t> next_connection_{0};
  ControlCalls control_calls_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<EngramClient>> EngramClient::Create(
    const ClientOptions& options) {
  if (options.server_address.empty()) {
    return absl::InvalidArgumentError("server_address is required");
  }
  if (options.connections < 1 || options.max_response_bytes < 1 ||
      options.default_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "connections, max_response_bytes and default_timeout must be > 0");
  }
  if (options.keepalive_time != absl::ZeroDuration() &&
      (options.keepalive_time < kMinClientKeepaliveTime ||
       options.keepalive_timeout <= absl::ZeroDuration())) {
    return absl::InvalidArgumentError(
        absl::StrCat("keepalive_time must be 0 (no pings) or at least ",
                     absl::FormatDuration(kMinClientKeepaliveTime),
                     " (servers close connections pinged more often), with a "
                     "keepalive_timeout > 0; not ",
                     absl::FormatDuration(options.keepalive_time), " and ",
                     absl::FormatDuration(options.keepalive_timeout)));
  }
  ENGRAM_RETURN_IF_ERROR(CheckOptionalRequestId(options.request_id));
  ENGRAM_ASSIGN_OR_RETURN(
      const std::shared_ptr<grpc::ChannelCredentials> credentials,
      ChannelCredentialsFor(options.tls));
  std::vector<Connection> connections;
  for (int i = 0; i < options.connections; ++i) {
    // Each channel has a connection of its own, so the client's load is
    // spread over `connections` of them.
    grpc::ChannelArguments args = KeepaliveChannelArguments(
        options.keepalive_time, options.keepalive_timeout);
    args.SetMaxReceiveMessageSize(options.max_response_bytes);
    std::shared_ptr<grpc::Channel> channel =
        grpc::CreateCustomChannel(options.server_address, credentials, args);
    connections.push_back({v1::EngramService::NewStub(channel),
                           std::make_unique<grpc::GenericStub>(channel)});
  }
  return std::make_unique<GrpcEngramClient>(options, std::move(connections));
}

absl::StatusOr<LookupResult> EngramClient::Lookup(
    absl::string_view table, absl::Span<const uint64_t> ids,
    absl::Span<char> out, const LookupOptions& options) {
  return WaitForLookup([&](LookupCallback done) {
    LookupAsync(table, ids, out, options, std::move(done));
  });
}

absl::StatusOr<LookupResult> WaitForLookup(
    absl::FunctionRef<void(EngramClient::LookupCallback)> start) {
  absl::Notification done;
  absl::StatusOr<LookupResult> result;
  start([&](absl::StatusOr<LookupResult> call_result) {
    result = std::move(call_result);
    done.Notify();
  });
  done.WaitForNotification();
  return result;
}

absl::Status CheckRowFormat(absl::string_view table, const LookupResult& result,
                            const RowFormat& expected) {
  if (result.row_bytes != expected.row_bytes) {
    return absl::FailedPreconditionError(
        absl::StrCat("table '", table, "' now serves rows of ",
                     result.row_bytes, " bytes, not the ", expected.row_bytes,
                     " it was described with: it was replaced since"));
  }
  if (result.element_type.has_value() &&
      *result.element_type != expected.element_type) {
    return absl::FailedPreconditionError(
        absl::StrCat("table '", table, "' now serves ",
                     ElementTypeName(*result.element_type), " rows, not the ",
                     ElementTypeName(expected.element_type),
                     " it was described with: it was replaced since"));
  }
  return absl::OkStatus();
}

}  // namespace engram::client

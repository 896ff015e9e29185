// EngramClient: the C++ client of engram-server, for inference workers and
// tools. Rows land in caller-provided memory; every call has a deadline.
//
//   ClientOptions options;
//   options.server_address = "127.0.0.1:50051";
//   ENGRAM_ASSIGN_OR_RETURN(auto client, EngramClient::Create(options));
//   std::vector<char> rows(ids.size() * 128);
//   ENGRAM_ASSIGN_OR_RETURN(LookupResult result,
//                           client->Lookup("layer_1", ids,
//                           absl::MakeSpan(rows)));
//
//   // Or without blocking: `done` runs on a client thread when rows are in.
//   client->LookupAsync("layer_1", ids, absl::MakeSpan(rows), {},
//                       [](absl::StatusOr<LookupResult> result) { ... });
//
//   // One version for every step of a sequence, whatever is activated
//   // meanwhile:
//   ENGRAM_ASSIGN_OR_RETURN(VersionPin pin, client->PinVersion("layer_1"));
//   client->Lookup("layer_1", ids, absl::MakeSpan(rows),
//                  {.pin_id = pin.pin_id});
//
// Errors are the server's gRPC status as an absl::Status with the same code
// and message (NOT_FOUND for an unknown table, INVALID_ARGUMENT for a bad id,
// DEADLINE_EXCEEDED, UNAVAILABLE when the server cannot be reached...).
// An EngramClient is thread-safe; share one per process and server.
// Processes that look up hundreds of rows per call should call
// engram::TuneMallocForLargeBuffers() (common/malloc_tuning.h) at the top
// of main(): untuned glibc malloc halves the throughput of receiving them.
#ifndef ENGRAM_CLIENT_ENGRAM_CLIENT_H_
#define ENGRAM_CLIENT_ENGRAM_CLIENT_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "common/addressing/compression_map.h"
#include "common/addressing/hash_spec.h"
#include "common/element_type.h"
#include "common/tls_files.h"

namespace engram::client {

struct ClientOptions {
  // host:port of an engram-server. Required.
  std::string server_address;
  // Deadline of calls whose options set none.
  absl::Duration default_timeout = absl::Seconds(10);
  // Largest response accepted (a lookup of N rows needs N * row_bytes).
  int max_response_bytes = 512 << 20;
  // While calls are in flight (a lookup, a WatchTable stream), each
  // connection is pinged this often and closed when a ping goes unanswered
  // for keepalive_timeout: its calls fail UNAVAILABLE and the next ones
  // reconnect. So a watch over a connection that went silent ends, and a
  // CachingClient stops trusting rows it can no longer hear patches of,
  // in keepalive_time + keepalive_timeout. Zero: no pings; otherwise at
  // least kMinClientKeepaliveTime (1s), as often as engram-server accepts.
  absl::Duration keepalive_time = absl::Minutes(1);
  absl::Duration keepalive_timeout = absl::Seconds(20);
  // HTTP/2 connections to spread calls over: each has its own transport
  // thread work, and two moved 22% more rows than one on loopback.
  int connections = 2;
  // When non-empty, every call carries `authorization: Bearer <token>`, as
  // a server started with --data-token-file requires. Empty: none.
  std::string bearer_token;
  // TLS: the CAs to verify the server with, and a client certificate for
  // servers requiring mTLS. All empty: plaintext.
  ClientTlsFiles tls;
  // When non-empty, every call carries it as `x-request-id` (unless a
  // lookup names its own), and the server's log lines for the call show
  // it. Must pass CheckRequestId (common/request_id.h).
  std::string request_id;
};

// Where a table's bytes are and how its hot-row cache does (DescribeTable
// only; zero from ListTables).
struct TableStats {
  uint64_t bytes_in_ram = 0;
  uint64_t bytes_on_ssd = 0;
  uint64_t cache_hits = 0;
  uint64_t cache_misses = 0;
  uint64_t cache_bytes_used = 0;
  uint64_t cache_capacity_bytes = 0;
  double cache_hit_rate = 0;
  uint64_t rows_in_ram = 0;
  uint64_t rows_on_ssd = 0;
  // cache_bytes_used / cache_capacity_bytes; 0 without a cache.
  double cache_utilization = 0;
};

// A served table's metadata.
struct TableDescription {
  std::string name;
  // Rows this server holds: the table's, or its shard's.
  uint64_t rows = 0;
  // A shard holds the table's rows [first_row, first_row + rows) of
  // total_rows; a whole table has first_row 0 and total_rows == rows.
  uint64_t first_row = 0;
  uint64_t total_rows = 0;
  uint32_t row_bytes = 0;
  ElementType element_type = ElementType::kOpaque;
  // Shape of one row in elements; empty for opaque rows.
  std::vector<uint32_t> dims;
  uint64_t version = 0;
  // Digest of the hash spec the table is addressed by; empty if none.
  std::string hash_spec_digest;
  // That spec, as a one-layer HashSpec (layer_index 0 addresses the
  // table); null if none.
  std::shared_ptr<const HashSpec> hash_spec;
  // Set when the spec hashes compressed token ids: the digest of the
  // compression map (v1::HashSpec.compression_digest) raw ids go through
  // before hash_spec addresses them.
  std::string compression_digest;
  // Whether the server holds that map (TableInfo.compression_map_held):
  // false for a table imported before servers kept maps.
  bool compression_map_held = false;
  // Where the server keeps the rows: "ram" or "ssd".
  std::string placement;
  // The content digest of imported tables (TableInfo.content_digest);
  // empty if not computed.
  std::string content_digest;
  // Rows written: `rows` for dense tables, fewer for sparse ones.
  uint64_t rows_written = 0;
  // Sparse tables: "zeros" or "report" (what lookups of unwritten rows get);
  // empty for dense tables.
  std::string missing_rows;
  TableStats stats;
};

struct LookupOptions {
  // Deadline of this call; ClientOptions::default_timeout when zero.
  absl::Duration timeout = absl::ZeroDuration();
  // When set, the server refuses (FAILED_PRECONDITION) to serve a table
  // addressed by another hash spec.
  std::string hash_spec_digest;
  // When set, rows arrive in this type: an f32 table may be read as kBf16
  // or kF16 (half the bytes per row; LookupResult::row_bytes says so).
  std::optional<ElementType> output_type;
  // Which version of the table serves the lookup: a retained version, or a
  // pin from PinVersion (renewed by the lookup; `version`, if also set,
  // must be the pinned one). Both 0: the active version. NOT_FOUND for a
  // version not retained or a pin unknown, released or expired.
  uint64_t version = 0;
  uint64_t pin_id = 0;
  // This call's `x-request-id` (see ClientOptions::request_id); a lookup
  // with an id CheckRequestId refuses fails with INVALID_ARGUMENT.
  std::string request_id;
};

struct LookupResult {
  // Version of the table that served every row.
  uint64_t version = 0;
  uint32_t row_bytes = 0;
  uint64_t row_count = 0;
  // Positions whose rows the (sparse) table lacks, when it reports them;
  // those rows are zeros. Bit i % 8 of byte i / 8; empty when none.
  std::string missing;
  // The rows' type (the table's, or output_type); empty from servers that
  // do not say.
  std::optional<ElementType> element_type;

  bool is_missing(size_t position) const {
    return position / 8 < missing.size() &&
           ((static_cast<uint8_t>(missing[position / 8]) >> (position % 8)) &
            1);
  }
};

// A version held for a caller by PinVersion.
struct VersionPin {
  // Names the pin in LookupOptions::pin_id; never 0.
  uint64_t pin_id = 0;
  uint64_t version = 0;
  // How long the pin lasts unused; each lookup through it renews it.
  absl::Duration ttl;
};

// One change of a table's active version, from WatchTable.
struct VersionChange {
  enum class Kind { kCurrent, kActivated, kRolledBack };
  // kCurrent: the version active when the watch began (no rows listed).
  Kind kind = Kind::kCurrent;
  uint64_t version = 0;
  uint64_t previous_version = 0;
  // Rows whose bytes may differ between the two versions, increasing.
  std::vector<uint64_t> changed_ids;
};

// A running WatchTable stream; destroying it ends the stream (its callback
// is not called after the destructor returns).
class TableWatch {
 public:
  virtual ~TableWatch() = default;
};

class EngramClient {
 public:
  using LookupCallback = absl::AnyInvocable<void(absl::StatusOr<LookupResult>)>;
  using WatchCallback = absl::AnyInvocable<void(absl::StatusOr<VersionChange>)>;

  // Connects lazily: a server that is down shows as UNAVAILABLE on the
  // first call. InvalidArgument for bad options.
  static absl::StatusOr<std::unique_ptr<EngramClient>> Create(
      const ClientOptions& options);
  virtual ~EngramClient() = default;

  virtual absl::StatusOr<std::vector<TableDescription>> ListTables() = 0;
  virtual absl::StatusOr<TableDescription> DescribeTable(
      absl::string_view table) = 0;

  // The map raw token ids of `table` are compressed with before its hash
  // spec hashes them (TableDescription::compression_digest), as the server
  // keeps it, checked against that digest. FAILED_PRECONDITION for a table
  // that hashes raw ids or was imported without its map.
  virtual absl::StatusOr<std::shared_ptr<const CompressionMap>>
  GetCompressionMap(absl::string_view table) = 0;

  // Fetches rows `ids` of `table` into `out`, back to back in id order.
  // InvalidArgument (nothing written) if `out` is smaller than
  // ids.size() * row_bytes; otherwise the server's errors.
  // (LookupAsync, waited for.)
  absl::StatusOr<LookupResult> Lookup(absl::string_view table,
                                      absl::Span<const uint64_t> ids,
                                      absl::Span<char> out,
                                      const LookupOptions& options = {});

  // Fetches the rows of raw token ids `tokens` ([batch][time], sequence b's
  // real tokens its last lengths[b] positions; `lengths` empty when all are
  // full), addressed by the server with the table's hash spec: per token
  // its (max_ngram - 1) * heads_per_ngram rows, so `out` receives
  // [batch][time][head] rows. FAILED_PRECONDITION for a table without a
  // hash spec; INVALID_ARGUMENT for bad shapes or token ids.
  virtual absl::StatusOr<LookupResult> LookupTokens(
      absl::string_view table, absl::Span<const int64_t> tokens, int batch,
      int time, absl::Span<const int32_t> lengths, absl::Span<char> out,
      const LookupOptions& options = {}) = 0;

  // Like Lookup but returns at once; `done` runs exactly once, on a client
  // thread, after `out` is written (or with the error). `ids` may be
  // released on return; `out` must stay valid until `done` runs.
  virtual void LookupAsync(absl::string_view table,
                           absl::Span<const uint64_t> ids, absl::Span<char> out,
                           const LookupOptions& options,
                           LookupCallback done) = 0;

  // Pins `version` of `table` (0: the version active now) so that lookups
  // naming the pin see that one version, e.g. across every step of one
  // generated sequence while others are activated. The pin ends at
  // ReleasePin or after `ttl` unused (zero: the server's default; rounded
  // up to whole milliseconds). InvalidArgument for a negative ttl or one
  // over the server's limit; NOT_FOUND (table, or version not retained);
  // RESOURCE_EXHAUSTED (the server's pin limit). Pins do not survive a
  // server restart: lookups through one then get NOT_FOUND.
  virtual absl::StatusOr<VersionPin> PinVersion(
      absl::string_view table, uint64_t version = 0,
      absl::Duration ttl = absl::ZeroDuration()) = 0;
  // Ends a pin; NOT_FOUND if unknown or already expired.
  virtual absl::Status ReleasePin(uint64_t pin_id) = 0;

  // Watches `table`'s version changes: `on_change` runs on a thread of the
  // watch's own, in order, first with the version active now (kCurrent,
  // before this returns), then with every activation and rollback; if the
  // stream ends (server stopping or gone) it runs once more with the error,
  // and the watch is over. The table's errors (NOT_FOUND) are returned;
  // DEADLINE_EXCEEDED when the first event takes longer than
  // ClientOptions::default_timeout.
  virtual absl::StatusOr<std::unique_ptr<TableWatch>> WatchTable(
      absl::string_view table, WatchCallback on_change) = 0;

  // Ends the calls that may wait on the server for
  // ClientOptions::default_timeout (ListTables, DescribeTable,
  // GetCompressionMap, PinVersion, ReleasePin, and WatchTable until its
  // first event), those in flight and those after, with CANCELLED; lookups
  // go on. For an owner about to destroy the client while other threads are
  // in such calls (CachingClient's background watch starts), which would
  // otherwise hold it up for as long against a server that went silent.
  // Clients that make no such calls (rows held in-process) do nothing.
  virtual void CancelControlCalls() {}
};

// Runs `start` with a callback and blocks until that callback has run: a
// synchronous Lookup made of an asynchronous one.
absl::StatusOr<LookupResult> WaitForLookup(
    absl::FunctionRef<void(EngramClient::LookupCallback)> start);

// What a caller learnt from DescribeTable and reads rows by: their size,
// by which it laid its buffers out, and their type, by which it decodes.
struct RowFormat {
  uint32_t row_bytes = 0;
  ElementType element_type = ElementType::kOpaque;
};

// OK when `result` holds rows of `expected`; FAILED_PRECONDITION otherwise:
// `table` was replaced since (dropped and imported again, or its server
// restarted with other tables), and its rows would land at the wrong
// offsets or be decoded as another type. A result that does not say its
// type (from an older server) is checked by size alone.
absl::Status CheckRowFormat(absl::string_view table, const LookupResult& result,
                            const RowFormat& expected);

}  // namespace engram::client

#endif  // ENGRAM_CLIENT_ENGRAM_CLIENT_H_

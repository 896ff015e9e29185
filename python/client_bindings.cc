#include "python/client_bindings.h"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/algorithm/container.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "client/shard_map.h"
#include "client/worker_client.h"
#include "common/addressing/compression_map.h"
#include "common/bearer_token.h"
#include "pybind11/numpy.h"
#include "pybind11/stl.h"
#include "python/addressing_bindings.h"
#include "python/numpy_arrays.h"
#include "python/row_buffer.h"
#include "python/status_error.h"

namespace engram::python {
namespace py = pybind11;
namespace {

// What a lookup returns besides the rows.
struct LookupInfo {
  uint64_t version = 0;
  uint32_t row_bytes = 0;
  // Positions of rows a sparse table lacks (zeros); None when none.
  py::object missing = py::none();
};

LookupInfo MakeInfo(const client::LookupResult& result) {
  LookupInfo info{result.version, result.row_bytes};
  if (!result.missing.empty()) {
    py::array_t<bool> missing(static_cast<py::ssize_t>(result.row_count));
    bool* flags = missing.mutable_data();
    for (uint64_t i = 0; i < result.row_count; ++i) {
      flags[i] = result.is_missing(i);
    }
    info.missing = std::move(missing);
  }
  return info;
}

// The connection options shared by single-server and sharded clients.
struct ConnectArgs {
  double timeout = 10;
  int connections = 2;
  int max_response_bytes = 512 << 20;
  std::string token;
  std::string token_file;
  std::string tls_ca_file;
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string request_id;
  double keepalive_time = 60;
  double keepalive_timeout = 20;
};

client::ClientOptions MakeClientOptions(const ConnectArgs& args) {
  client::ClientOptions options;
  options.default_timeout = absl::Seconds(args.timeout);
  options.connections = args.connections;
  options.max_response_bytes = args.max_response_bytes;
  if (!args.token.empty() && !args.token_file.empty()) {
    throw py::value_error("give token or token_file, not both");
  }
  options.bearer_token =
      args.token_file.empty()
          ? args.token
          : ValueOrThrow(ReadBearerTokenFile(args.token_file));
  options.tls = {args.tls_ca_file, args.tls_cert_file, args.tls_key_file};
  options.request_id = args.request_id;
  options.keepalive_time = absl::Seconds(args.keepalive_time);
  options.keepalive_timeout = absl::Seconds(args.keepalive_timeout);
  return options;
}

std::shared_ptr<PyClient> Connect(
    const std::string& server, const std::string& shard_map,
    const std::string& shard_map_text, const std::vector<std::string>& discover,
    double timeout, int connections, int max_response_bytes,
    const std::string& token, const std::string& token_file,
    const std::string& tls_ca_file, const std::string& tls_cert_file,
    const std::string& tls_key_file, const std::string& request_id,
    double attempt_timeout, double hedge_after, uint64_t cache_bytes,
    double keepalive_time, double keepalive_timeout) {
  const int sources = !server.empty() + !shard_map.empty() +
                      !shard_map_text.empty() + !discover.empty();
  if (sources != 1) {
    throw py::value_error(
        "give exactly one of server, shard_map, shard_map_text, discover");
  }
  const client::ClientOptions options =
      MakeClientOptions({timeout, connections, max_response_bytes, token,
                         token_file, tls_ca_file, tls_cert_file, tls_key_file,
                         request_id, keepalive_time, keepalive_timeout});
  py::gil_scoped_release release;  // Discovery and TLS setup do I/O.
  client::WorkerClientOptions worker;
  worker.client = options;
  worker.client.server_address = server;
  worker.cache_bytes = cache_bytes;
  if (!shard_map.empty()) {
    worker.shards = ValueOrThrow(client::ReadShardMapFile(shard_map));
  } else if (!shard_map_text.empty()) {
    worker.shards = ValueOrThrow(client::ParseShardMap(shard_map_text));
  } else if (!discover.empty()) {
    worker.shards = ValueOrThrow(client::DiscoverShardMap(discover, options));
  }
  worker.sharded.attempt_timeout = absl::Seconds(attempt_timeout);
  worker.sharded.hedge_after = Seconds(hedge_after);
  return std::make_shared<PyClient>(
      ValueOrThrow(client::ConnectWorkerClient(worker)));
}

client::LookupOptions MakeLookupOptions(double timeout, uint64_t version,
                                        uint64_t pin_id,
                                        const std::string& hash_spec_digest,
                                        const std::string& output_type,
                                        const std::string& request_id) {
  client::LookupOptions options;
  options.timeout = Seconds(timeout);
  options.version = version;
  options.pin_id = pin_id;
  options.hash_spec_digest = hash_spec_digest;
  options.request_id = request_id;
  if (!output_type.empty()) {
    options.output_type = ValueOrThrow(ParseElementType(output_type));
  }
  return options;
}

// A writable C-contiguous view of a caller's `out` buffer.
py::buffer_info WritableView(const py::buffer& out) {
  py::buffer_info view = out.request(/*writable=*/true);
  CheckCContiguous(view, "out");
  return view;
}

// Runs `lookup` (a client call writing rows into the span it is given) into
// `out`, or into a new RowBuffer of `table`'s format: `rows_shape(format)`
// (a StatusOr of the dimensions before the row's own shape) rows. Returns
// the rows (out itself, a RowBuffer) and the result.
template <typename RowsShapeFn, typename LookupFn>
std::pair<std::variant<py::buffer, std::shared_ptr<RowBuffer>>,
          client::LookupResult>
RunLookup(PyClient& py_client, const std::string& table, RowsShapeFn rows_shape,
          const std::optional<py::buffer>& out,
          const std::optional<ElementType>& output_type, LookupFn lookup) {
  if (out.has_value()) {
    py::buffer_info view = WritableView(*out);
    absl::StatusOr<client::LookupResult> result;
    {
      py::gil_scoped_release release;
      result = lookup(absl::MakeSpan(static_cast<char*>(view.ptr),
                                     view.size * view.itemsize));
    }
    return {*out, ValueOrThrow(std::move(result))};
  }
  // A table replaced by one with other rows is noticed by the size, type or
  // count of what comes back (a token lookup under another hash spec), or by a
  // failure after which the table describes itself otherwise; the lookup is
  // then made again with the new format.
  for (int attempt = 0;; ++attempt) {
    std::shared_ptr<RowBuffer> buffer;
    absl::StatusOr<client::LookupResult> result;
    {
      py::gil_scoped_release release;
      const PyClient::RowFormat format = ValueOrThrow(py_client.Format(table));
      ElementType type = format.type;
      uint32_t row_bytes = format.row_bytes;
      if (output_type.has_value() && *output_type != type) {
        // A conversion keeps the number of elements per row.
        row_bytes = row_bytes / ElementBytes(type) * ElementBytes(*output_type);
        type = *output_type;
      }
      std::vector<int64_t> shape = ValueOrThrow(rows_shape(format));
      const uint64_t rows =
          absl::c_accumulate(shape, uint64_t{1}, std::multiplies<uint64_t>());
      for (int64_t dim : RowShape(type, row_bytes, format.dims)) {
        shape.push_back(dim);
      }
      buffer = RowBuffer::Create(type, std::move(shape));
      result = lookup(buffer->span());
      if (absl::IsInvalidArgument(result.status()) ||
          absl::IsFailedPrecondition(result.status())) {
        // What rows too wide for the buffer, or (ShardedClient) of another
        // size than described, fail with.
        py_client.ForgetFormat(table);
        const absl::StatusOr<PyClient::RowFormat> now = py_client.Format(table);
        if (attempt == 0 && now.ok() && *now != format) continue;
      } else if (result.ok() && (result->row_count != rows ||
                                 (rows > 0 && result->row_bytes != row_bytes) ||
                                 result->element_type.value_or(type) != type)) {
        py_client.ForgetFormat(table);
        if (attempt == 0) continue;
        result = absl::InternalError(absl::StrCat(
            "table ", table,
            " changes its rows' size, type or count under lookups"));
      }
    }
    return {buffer, ValueOrThrow(std::move(result))};
  }
}

py::object AsNumpy(std::variant<py::buffer, std::shared_ptr<RowBuffer>> rows) {
  if (auto* buffer = std::get_if<std::shared_ptr<RowBuffer>>(&rows)) {
    return ToNumpy(*buffer);
  }
  return std::get<py::buffer>(rows);
}

py::object AsTensor(std::variant<py::buffer, std::shared_ptr<RowBuffer>> rows) {
  if (auto* buffer = std::get_if<std::shared_ptr<RowBuffer>>(&rows)) {
    return ToTorch(*buffer);
  }
  return py::module_::import("torch").attr("as_tensor")(
      std::get<py::buffer>(rows));
}

// Client.lookup and Client.lookup_tensor: ids -> rows [n, *row shape].
py::object Lookup(PyClient& py_client, const std::string& table,
                  const IdArray& ids, std::optional<py::buffer> out,
                  double timeout, uint64_t version, uint64_t pin_id,
                  const std::string& hash_spec_digest,
                  const std::string& output_type, const std::string& request_id,
                  bool return_info, bool tensor) {
  if (ids.ndim() != 1) throw py::value_error("row_ids must be 1-D");
  const client::LookupOptions options = MakeLookupOptions(
      timeout, version, pin_id, hash_spec_digest, output_type, request_id);
  const absl::Span<const uint64_t> id_span(ids.data(), ids.size());
  const auto rows_shape =
      [&](const PyClient::RowFormat&) -> absl::StatusOr<std::vector<int64_t>> {
    return std::vector<int64_t>{static_cast<int64_t>(ids.size())};
  };

  auto [rows, result] = RunLookup(
      py_client, table, rows_shape, out, options.output_type,
      [&](absl::Span<char> span) {
        return py_client.client().Lookup(table, id_span, span, options);
      });
  py::object array =
      tensor ? AsTensor(std::move(rows)) : AsNumpy(std::move(rows));
  if (!return_info) return array;
  return py::make_tuple(array, MakeInfo(result));
}

py::object LookupTokens(PyClient& py_client, const std::string& table,
                        const TokenArray& tokens,
                        std::optional<LengthArray> lengths,
                        std::optional<py::buffer> out, double timeout,
                        uint64_t version, uint64_t pin_id,
                        const std::string& hash_spec_digest,
                        const std::string& request_id, bool return_info,
                        bool tensor) {
  if (tokens.ndim() != 2) throw py::value_error("tokens must be [batch, time]");
  const int batch = static_cast<int>(tokens.shape(0));
  const int time = static_cast<int>(tokens.shape(1));
  const client::LookupOptions options = MakeLookupOptions(
      timeout, version, pin_id, hash_spec_digest, "", request_id);
  absl::Span<const int32_t> length_span;
  if (lengths.has_value()) {
    length_span = absl::MakeConstSpan(lengths->data(), lengths->size());
  }
  const absl::Span<const int64_t> token_span(tokens.data(), tokens.size());
  // Rows per token come from the table's hash spec.
  const auto rows_shape = [&](const PyClient::RowFormat& format)
      -> absl::StatusOr<std::vector<int64_t>> {
    if (format.rows_per_token == 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("table ", table, " has no hash spec"));
    }
    return std::vector<int64_t>{batch, time, format.rows_per_token};
  };
  auto [rows, result] = RunLookup(py_client, table, rows_shape, out,
                                  std::nullopt, [&](absl::Span<char> span) {
                                    return py_client.client().LookupTokens(
                                        table, token_span, batch, time,
                                        length_span, span, options);
                                  });
  py::object array =
      tensor ? AsTensor(std::move(rows)) : AsNumpy(std::move(rows));
  if (!return_info) return array;
  return py::make_tuple(array, MakeInfo(result));
}

void RegisterDescription(py::module_& module) {
  using client::TableDescription;
  py::class_<TableDescription>(module, "TableDescription",
                               "A served table's metadata (DescribeTable).")
      .def_readonly("name", &TableDescription::name)
      .def_readonly("rows", &TableDescription::rows,
                    "Rows this server holds (its shard's, for a shard).")
      .def_readonly("first_row", &TableDescription::first_row)
      .def_readonly("total_rows", &TableDescription::total_rows)
      .def_readonly("row_bytes", &TableDescription::row_bytes)
      .def_property_readonly(
          "element_type",
          [](const TableDescription& d) {
            return std::string(ElementTypeName(d.element_type));
          })
      .def_readonly("dims", &TableDescription::dims)
      .def_readonly("version", &TableDescription::version)
      .def_readonly("hash_spec_digest", &TableDescription::hash_spec_digest)
      .def_property_readonly(
          "hash_spec",
          [](const TableDescription& d) -> py::object {
            if (d.hash_spec == nullptr) return py::none();
            return py::cast(PyHashSpec{d.hash_spec});
          },
          "The one-layer HashSpec addressing the table, or None.")
      .def_readonly("compression_digest", &TableDescription::compression_digest,
                    "SHA-256 of the compression map raw token ids go "
                    "through before hash_spec addresses them; empty: none.")
      .def_readonly("compression_map_held",
                    &TableDescription::compression_map_held,
                    "Whether the server holds that map (lookup_tokens and "
                    "compression_map need it); False for a table imported "
                    "before servers kept maps.")
      .def_readonly("placement", &TableDescription::placement)
      .def_readonly("content_digest", &TableDescription::content_digest)
      .def_readonly("rows_written", &TableDescription::rows_written)
      .def_readonly("missing_rows", &TableDescription::missing_rows)
      .def("__repr__", [](const TableDescription& d) {
        return absl::StrCat("TableDescription(name='", d.name,
                            "', rows=", d.rows, ", row_bytes=", d.row_bytes,
                            ", element_type='", ElementTypeName(d.element_type),
                            "', version=", d.version, ")");
      });

  py::class_<client::VersionPin>(module, "VersionPin")
      .def_readonly("pin_id", &client::VersionPin::pin_id)
      .def_readonly("version", &client::VersionPin::version)
      .def_property_readonly("ttl", [](const client::VersionPin& pin) {
        return absl::ToDoubleSeconds(pin.ttl);
      });

  py::class_<LookupInfo>(module, "LookupInfo",
                         "What a lookup returns besides its rows.")
      .def_readonly("version", &LookupInfo::version)
      .def_readonly("row_bytes", &LookupInfo::row_bytes)
      .def_readonly("missing", &LookupInfo::missing,
                    "bool ndarray of the positions a sparse table lacks "
                    "(their rows are zeros), or None.");
}

}  // namespace

absl::Duration Seconds(double seconds) {
  return seconds > 0 ? absl::Seconds(seconds) : absl::ZeroDuration();
}

absl::StatusOr<PyClient::RowFormat> PyClient::Format(const std::string& table) {
  {
    absl::MutexLock lock(&mu_);
    if (auto it = formats_.find(table); it != formats_.end()) return it->second;
  }
  // Described outside the lock: it is a network call.
  absl::StatusOr<client::TableDescription> description =
      client_.client->DescribeTable(table);
  if (!description.ok()) return description.status();
  RowFormat format{description->element_type, description->row_bytes,
                   description->dims,
                   description->hash_spec == nullptr
                       ? 0
                       : description->hash_spec->rows_per_token()};
  absl::MutexLock lock(&mu_);
  formats_[table] = format;
  return format;
}

void PyClient::ForgetFormat(const std::string& table) {
  absl::MutexLock lock(&mu_);
  formats_.erase(table);
}

void RegisterClient(py::module_& module) {
  RegisterDescription(module);
  py::class_<PyClient, std::shared_ptr<PyClient>>(
      module, "Client",
      "A connection to engram-server (server='host:port'), or to tables "
      "sharded over several (shard_map=FILE, shard_map_text=TEXT or "
      "discover=[servers]; see client/shard_map.h). Thread-safe; calls "
      "release the GIL while they wait. Connects lazily: a server that is "
      "down shows as UNAVAILABLE on the first call.")
      .def(py::init(&Connect), py::arg("server") = "", py::kw_only(),
           py::arg("shard_map") = "", py::arg("shard_map_text") = "",
           py::arg("discover") = std::vector<std::string>{},
           py::arg("timeout") = 10.0, py::arg("connections") = 2,
           py::arg("max_response_bytes") = 512 << 20, py::arg("token") = "",
           py::arg("token_file") = "", py::arg("tls_ca_file") = "",
           py::arg("tls_cert_file") = "", py::arg("tls_key_file") = "",
           py::arg("request_id") = "", py::arg("attempt_timeout") = 2.0,
           py::arg("hedge_after") = 0.0, py::arg("cache_bytes") = 0,
           py::arg("keepalive_time") = 60.0,
           py::arg("keepalive_timeout") = 20.0,
           "timeout: default deadline of a call (s). token/token_file: the "
           "data-plane bearer token. tls_*: PEM files (any set: TLS). "
           "request_id: sent with every call (x-request-id; 1-64 of "
           "[A-Za-z0-9._:-]) so the server's log lines can be matched. "
           "attempt_timeout, hedge_after (s): sharded clients only. "
           "cache_bytes: a worker-side cache of hot rows, this many bytes "
           "per table (per replica of a sharded table), coherent with "
           "patches; 0: none. keepalive_time, keepalive_timeout (s): while "
           "calls are in flight each connection is pinged this often and "
           "closed when a ping goes unanswered that long, so that a silent "
           "connection fails its calls and a cache stops trusting rows it "
           "hears no patches for; keepalive_time 0: no pings, else >= 1.")
      .def(
          "cache_stats",
          [](const PyClient& c) {
            const client::CacheStats stats = c.cache_stats();
            py::dict out;
            out["hits"] = stats.hits;
            out["misses"] = stats.misses;
            out["invalidated"] = stats.invalidated;
            out["bypassed"] = stats.bypassed;
            out["bytes_used"] = stats.bytes_used;
            out["entries"] = stats.entries;
            return out;
          },
          "The worker-side cache's counters (summed over replicas): hits, "
          "misses, invalidated (rows a patch changed), bypassed (lookups "
          "sent uncached: pins, conversions...), bytes_used, entries; all 0 "
          "without cache_bytes.")
      .def(
          "start_caching",
          [](const PyClient& c, const std::vector<std::string>& tables,
             double timeout) {
            py::gil_scoped_release release;
            ThrowIfError(c.StartCaching(tables, absl::Seconds(timeout)));
          },
          py::arg("tables"), py::kw_only(), py::arg("timeout") = 10.0,
          "Describes the tables and starts their watches in the worker-side "
          "cache, as their first lookups would in the background, and waits "
          "(timeout s): the lookups that follow are cached. Servers that do "
          "not hold a table are skipped; does nothing without cache_bytes.")
      .def(
          "describe",
          [](PyClient& c, const std::string& table) {
            py::gil_scoped_release release;
            return ValueOrThrow(c.client().DescribeTable(table));
          },
          py::arg("table"), "The table's TableDescription; NOT_FOUND.")
      .def(
          "compression_map",
          [](PyClient& c, const std::string& table) {
            std::shared_ptr<const CompressionMap> map;
            {
              py::gil_scoped_release release;
              map = ValueOrThrow(c.client().GetCompressionMap(table));
            }
            return LookupArray(*map);
          },
          py::arg("table"),
          "The table's token compression lookup as the server keeps it "
          "(int64, raw id -> compressed id; its SHA-256 is "
          "describe(table).compression_digest), e.g. for "
          "prefetcher(tables, compression=...). FAILED_PRECONDITION for a "
          "table of raw ids or one imported without its map.")
      .def(
          "list_tables",
          [](PyClient& c) {
            py::gil_scoped_release release;
            return ValueOrThrow(c.client().ListTables());
          },
          "Every served table's TableDescription.")
      .def(
          "lookup",
          [](PyClient& c, const std::string& table, const IdArray& ids,
             std::optional<py::buffer> out, double timeout, uint64_t version,
             uint64_t pin_id, const std::string& hash_spec_digest,
             const std::string& output_type, const std::string& request_id,
             bool return_info) {
            return Lookup(c, table, ids, std::move(out), timeout, version,
                          pin_id, hash_spec_digest, output_type, request_id,
                          return_info, /*tensor=*/false);
          },
          py::arg("table"), py::arg("row_ids"), py::kw_only(),
          py::arg("out") = py::none(), py::arg("timeout") = 0.0,
          py::arg("version") = 0, py::arg("pin_id") = 0,
          py::arg("hash_spec_digest") = "", py::arg("output_type") = "",
          py::arg("request_id") = "", py::arg("return_info") = false,
          "Rows `row_ids` of `table`, in order: an ndarray [n, *row shape] "
          "(f32, f16; bf16 as uint16 and fp8 as uint8 bit patterns; opaque "
          "rows as uint8 bytes) over memory the client filled, no copy. "
          "With out (a writable C-contiguous buffer of at least n * "
          "row_bytes bytes) the rows go there and out is returned. "
          "request_id: this call's x-request-id instead of the client's. "
          "return_info: (rows, LookupInfo). Errors carry the server's "
          "status: NOT_FOUND (table, version, pin), INVALID_ARGUMENT, "
          "OUT_OF_RANGE, DEADLINE_EXCEEDED, UNAVAILABLE...")
      .def(
          "lookup_tensor",
          [](PyClient& c, const std::string& table, const IdArray& ids,
             double timeout, uint64_t version, uint64_t pin_id,
             const std::string& hash_spec_digest,
             const std::string& output_type, const std::string& request_id,
             bool return_info) {
            return Lookup(c, table, ids, std::nullopt, timeout, version, pin_id,
                          hash_spec_digest, output_type, request_id,
                          return_info, /*tensor=*/true);
          },
          py::arg("table"), py::arg("row_ids"), py::kw_only(),
          py::arg("timeout") = 0.0, py::arg("version") = 0,
          py::arg("pin_id") = 0, py::arg("hash_spec_digest") = "",
          py::arg("output_type") = "", py::arg("request_id") = "",
          py::arg("return_info") = false,
          "As lookup, as a torch tensor over the client's memory (DLPack): "
          "bf16 rows are torch.bfloat16.")
      .def(
          "lookup_tokens",
          [](PyClient& c, const std::string& table, const TokenArray& tokens,
             std::optional<LengthArray> lengths, std::optional<py::buffer> out,
             double timeout, uint64_t version, uint64_t pin_id,
             const std::string& hash_spec_digest, const std::string& request_id,
             bool return_info) {
            return LookupTokens(c, table, tokens, std::move(lengths),
                                std::move(out), timeout, version, pin_id,
                                hash_spec_digest, request_id, return_info,
                                /*tensor=*/false);
          },
          py::arg("table"), py::arg("tokens"), py::arg("lengths") = py::none(),
          py::kw_only(), py::arg("out") = py::none(), py::arg("timeout") = 0.0,
          py::arg("version") = 0, py::arg("pin_id") = 0,
          py::arg("hash_spec_digest") = "", py::arg("request_id") = "",
          py::arg("return_info") = false,
          "Rows of raw token ids [batch, time], addressed by the server "
          "with the table's hash spec: [batch, time, rows_per_token, *row "
          "shape]. FAILED_PRECONDITION for a table without a hash spec.")
      .def(
          "pin_version",
          [](PyClient& c, const std::string& table, uint64_t version,
             double ttl) {
            py::gil_scoped_release release;
            return ValueOrThrow(
                c.client().PinVersion(table, version, Seconds(ttl)));
          },
          py::arg("table"), py::arg("version") = 0, py::arg("ttl") = 0.0,
          "Pins a version (0: the active one) for lookups naming pin_id.")
      .def(
          "release_pin",
          [](PyClient& c, uint64_t pin_id) {
            py::gil_scoped_release release;
            ThrowIfError(c.client().ReleasePin(pin_id));
          },
          py::arg("pin_id"));
}

}  // namespace engram::python

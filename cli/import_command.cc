#include "cli/import_command.h"

#include <algorithm>
#include <iostream>
#include <memory>
#include <numeric>
#include <optional>
#include <thread>

#include "absl/algorithm/container.h"
#include "absl/functional/function_ref.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "cli/message_fan_out.h"
#include "cli/progress_bar.h"
#include "client/shard_map.h"
#include "common/content_digest.h"
#include "common/element_type.h"
#include "common/hash_spec_proto.h"
#include "common/json_writer.h"
#include "common/packed_row_ids.h"
#include "common/status_context.h"
#include "common/status_macros.h"
#include "common/table_file.h"
#include "engram/v1/admin_service.pb.h"
#include "engram/v1/engram_service.pb.h"
#include "server/storage/table_storage.h"

namespace engram::cli {
namespace {

// Bytes per rows message: large enough to amortise per-message costs, small
// enough to keep both ends' memory flat.
constexpr uint64_t kChunkBytes = 4 << 20;

using RowsMessageFn =
    absl::FunctionRef<absl::Status(const v1::ImportTableRequest&)>;

// Adds a rows or sparse_rows message to `digest`.
void AddToDigest(const v1::ImportTableRequest& request, uint32_t row_bytes,
                 ContentDigest& digest) {
  if (request.has_sparse_rows()) {
    digest.AddSparseRows(PackedRowIds(request.sparse_rows().row_ids()),
                         request.sparse_rows().rows(), row_bytes);
  } else {
    digest.AddRows(request.rows());
  }
}

// What gave the import's hash spec, for messages: "--hash-layer 15" or
// "--hash-spec FILE".
std::string HashSpecSource(const ImportOptions& options) {
  if (options.addressing.has_value()) {
    return absl::StrCat("--hash-spec ", options.addressing->spec_file);
  }
  return absl::StrCat("--hash-layer ", options.hash_layer_id);
}

// Sets info's hash spec to the exported one, or to options' hash layer, if
// any. InvalidArgument for a configuration that is not valid or lacks the
// layer.
absl::Status AttachHashSpec(const ImportOptions& options, v1::TableInfo& info) {
  if (options.addressing.has_value()) {
    *info.mutable_hash_spec() = options.addressing->spec;
    return absl::OkStatus();
  }
  if (!options.hash_config.has_value()) return absl::OkStatus();
  HashSpecConfig config = *options.hash_config;
  if (config.n_embed_per_ngram == 0) {
    if (info.element_type() == v1::ELEMENT_TYPE_OPAQUE || info.dims().empty()) {
      return absl::InvalidArgumentError(
          "--hash-layer needs --n-embed-per-ngram here: the rows' values "
          "cannot be counted (opaque rows, or a file the server reads)");
    }
    int64_t values = 1;
    for (const uint32_t dim : info.dims()) values *= dim;
    config.n_embed_per_ngram = values * config.heads_per_ngram;
  }
  const auto layer = absl::c_find(config.layer_ids, options.hash_layer_id);
  if (layer == config.layer_ids.end()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--hash-layer ", options.hash_layer_id,
        " is not one of the Engram layer ids ",
        absl::StrJoin(config.layer_ids, ","),
        " (--layer-ids or the --model-config's engram.layer_ids)"));
  }
  absl::StatusOr<HashSpec> spec = HashSpec::FromConfig(config);
  ENGRAM_RETURN_IF_ERROR(Annotate(spec.status(),
                                  "the Engram addressing (hash flags or "
                                  "--model-config): "));
  *info.mutable_hash_spec() =
      HashSpecLayerToProto(*spec, layer - config.layer_ids.begin());
  return absl::OkStatus();
}

// The map the table's hash spec compresses token ids with (--compression
// with --hash-layer or --hash-spec); null when it hashes raw ids. The
// server keeps it with the table, for token lookups.
std::shared_ptr<const CompressionMap> TableCompression(
    const ImportOptions& options) {
  if (options.addressing.has_value()) return options.addressing->compression;
  return options.hash_config.has_value() ? options.hash_config->compression
                                         : nullptr;
}

// An import header for `info` from options.
v1::ImportTableHeader ImportHeader(const ImportOptions& options,
                                   v1::TableInfo info) {
  v1::ImportTableHeader header;
  *header.mutable_info() = std::move(info);
  header.set_placement(options.placement);
  if (const std::shared_ptr<const CompressionMap> map =
          TableCompression(options)) {
    header.set_compression_lookup(map->LittleEndian());
  }
  return header;
}

// The rows of an import as the messages that carry them: a dense file in
// order, or a sparse file's rows sorted by id with their ids.
class RowFeed {
 public:
  static absl::StatusOr<RowFeed> Open(const ImportOptions& options) {
    TableFile::Options file_options;
    file_options.dtype = options.dtype;
    file_options.tensors = options.tensors;
    file_options.row_bytes = options.row_bytes;
    ENGRAM_ASSIGN_OR_RETURN(std::unique_ptr<TableFile> file,
                            TableFile::Open(options.file, file_options));
    RowFeed feed(std::move(file));
    if (!options.ids_file.empty()) {
      ENGRAM_RETURN_IF_ERROR(feed.SortSparseRows(options));
    }
    if (options.end_row != 0) ENGRAM_RETURN_IF_ERROR(feed.SetRange(options));
    return feed;
  }

  const TableFile& file() const { return *file_; }
  bool sparse() const { return sparse_; }
  bool shard() const { return end_row_ != 0; }
  uint64_t bytes() const {
    return shard() ? (end_row_ - first_row_) * file_->row_bytes()
                   : file_->size_bytes();
  }

  // The table the file makes, as an import header announces it.
  absl::StatusOr<v1::TableInfo> Info(const ImportOptions& options) const {
    v1::TableInfo info;
    info.set_name(options.table);
    info.set_rows(sparse()  ? options.id_space
                  : shard() ? end_row_ - first_row_
                            : file_->rows());
    if (shard()) {
      info.set_first_row(first_row_);
      info.set_total_rows(file_->rows());
    }
    info.set_row_bytes(file_->row_bytes());
    info.set_element_type(ToProto(file_->layout().element_type));
    for (uint32_t dim : file_->layout().dims) info.add_dims(dim);
    if (sparse()) {
      info.set_missing_rows(options.missing == "zeros"
                                ? v1::MISSING_ROW_POLICY_ZEROS
                                : v1::MISSING_ROW_POLICY_REPORT);
    }
    ENGRAM_RETURN_IF_ERROR(AttachHashSpec(options, info));
    // Checked here too, before any row is read: an offline import has no
    // server to refuse it.
    ENGRAM_RETURN_IF_ERROR(
        Annotate(TableHashSpec(info).status(),
                 absl::StrCat(HashSpecSource(options), ": ")));
    return info;
  }

  // Calls fn with each rows or sparse_rows message, in order; `done` is
  // told the row bytes sent so far.
  absl::Status ForEachMessage(RowsMessageFn fn,
                              absl::FunctionRef<void(uint64_t)> done) const {
    v1::ImportTableRequest request;
    uint64_t sent = 0;
    if (shard()) {
      const uint64_t chunk_rows =
          std::max<uint64_t>(1, kChunkBytes / file_->row_bytes());
      for (uint64_t first = first_row_; first < end_row_; first += chunk_rows) {
        std::string* rows = request.mutable_rows();
        rows->clear();
        for (uint64_t row = first; row < std::min(end_row_, first + chunk_rows);
             ++row) {
          const absl::string_view bytes = file_->Row(row);
          rows->append(bytes.data(), bytes.size());
        }
        ENGRAM_RETURN_IF_ERROR(fn(request));
        done(sent += rows->size());
      }
      return absl::OkStatus();
    }
    if (!sparse()) {
      return file_->ForEachChunk(kChunkBytes, [&](absl::string_view rows) {
        request.set_rows(rows.data(), rows.size());
        ENGRAM_RETURN_IF_ERROR(fn(request));
        done(sent += rows.size());
        return absl::OkStatus();
      });
    }
    const uint32_t row_bytes = file_->row_bytes();
    const uint64_t chunk_rows = std::max<uint64_t>(1, kChunkBytes / row_bytes);
    for (uint64_t first = 0; first < order_.size(); first += chunk_rows) {
      const uint64_t last =
          std::min<uint64_t>(order_.size(), first + chunk_rows);
      v1::SparseRows* sparse_rows = request.mutable_sparse_rows();
      std::string* ids = sparse_rows->mutable_row_ids();
      std::string* rows = sparse_rows->mutable_rows();
      ids->clear();
      rows->clear();
      for (uint64_t k = first; k < last; ++k) {
        const uint64_t id = ids_[order_[k]];
        ids->append(reinterpret_cast<const char*>(&id), sizeof(id));
        const absl::string_view row = file_->Row(order_[k]);
        rows->append(row.data(), row.size());
      }
      ENGRAM_RETURN_IF_ERROR(fn(request));
      done(sent += rows->size());
    }
    return absl::OkStatus();
  }

  // The content digest of what ForEachMessage sends.
  absl::StatusOr<std::string> Digest() const {
    ContentDigest digest;
    const uint32_t row_bytes = file_->row_bytes();
    ENGRAM_RETURN_IF_ERROR(ForEachMessage(
        [&](const v1::ImportTableRequest& request) {
          AddToDigest(request, row_bytes, digest);
          return absl::OkStatus();
        },
        [](uint64_t) {}));
    return std::move(digest).Finish();
  }

 private:
  explicit RowFeed(std::unique_ptr<TableFile> file) : file_(std::move(file)) {}

  absl::Status SetRange(const ImportOptions& options) {
    if (sparse()) {
      return absl::InvalidArgumentError(
          "--row-range makes a dense shard; it does not go with --ids");
    }
    if (options.first_row >= options.end_row ||
        options.end_row > file_->rows()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--row-range ", options.first_row, ":", options.end_row,
                       " is not a non-empty range within the file's ",
                       file_->rows(), " rows"));
    }
    first_row_ = options.first_row;
    end_row_ = options.end_row;
    return absl::OkStatus();
  }

  absl::Status SortSparseRows(const ImportOptions& options) {
    sparse_ = true;
    ENGRAM_ASSIGN_OR_RETURN(ids_, ReadRowIdsNpy(options.ids_file));
    if (ids_.size() != file_->rows()) {
      return absl::InvalidArgumentError(
          absl::StrCat(options.ids_file, " holds ", ids_.size(), " ids but ",
                       options.file, " holds ", file_->rows(), " rows"));
    }
    if (options.id_space == 0) {
      return absl::InvalidArgumentError(
          "a sparse import needs --id-space (the table's row count)");
    }
    if (options.missing != "zeros" && options.missing != "report") {
      return absl::InvalidArgumentError(absl::StrCat(
          "--missing '", options.missing, "': use zeros or report"));
    }
    order_.resize(ids_.size());
    std::iota(order_.begin(), order_.end(), 0);
    std::sort(order_.begin(), order_.end(),
              [&](uint64_t a, uint64_t b) { return ids_[a] < ids_[b]; });
    for (size_t k = 0; k < order_.size(); ++k) {
      const uint64_t id = ids_[order_[k]];
      if (id >= options.id_space) {
        return absl::InvalidArgumentError(absl::StrCat(
            "row id ", id, " at position ", order_[k], " of ", options.ids_file,
            " is not below --id-space ", options.id_space));
      }
      if (k > 0 && id == ids_[order_[k - 1]]) {
        return absl::InvalidArgumentError(
            absl::StrCat("row id ", id, " appears twice in ", options.ids_file,
                         " (positions ", std::min(order_[k - 1], order_[k]),
                         " and ", std::max(order_[k - 1], order_[k]), ")"));
      }
    }
    return absl::OkStatus();
  }

  std::unique_ptr<TableFile> file_;
  // A shard: rows [first_row_, end_row_) of the file; end_row_ 0 for all.
  uint64_t first_row_ = 0;
  uint64_t end_row_ = 0;
  bool sparse_ = false;
  std::vector<uint64_t> ids_;
  // Positions of ids_ in increasing id order.
  std::vector<uint64_t> order_;
};

// A table an import made, or found already there with the same rows.
struct Imported {
  v1::TableInfo table;
  bool verified = false;
};

std::string ImportedText(const Imported& imported) {
  const v1::TableInfo& table = imported.table;
  return absl::StrCat(
      imported.verified ? "verified " : "imported ", table.name(), ": ",
      table.rows_written(), " of ", table.rows(), " rows x ", table.row_bytes(),
      " B on ", table.placement(), ", sha256 ", table.content_digest(),
      table.has_hash_spec()
          ? absl::StrCat(", hash spec ", table.hash_spec().digest())
          : "");
}

// The fields of `imported`'s JSON object.
void WriteImportedFields(const Imported& imported, JsonWriter& json) {
  const v1::TableInfo& table = imported.table;
  absl::StatusOr<ElementType> type = FromProto(table.element_type());
  json.Key("table").String(table.name());
  json.Key("rows").Uint(table.rows());
  json.Key("rows_written").Uint(table.rows_written());
  json.Key("row_bytes").Uint(table.row_bytes());
  json.Key("dtype").String(type.ok() ? ElementTypeName(*type) : "unknown");
  json.Key("placement").String(table.placement());
  json.Key("version").Uint(table.version());
  json.Key("content_digest").String(table.content_digest());
  json.Key("hash_spec_digest").String(table.hash_spec().digest());
  json.Key("verified").Bool(imported.verified);
}

void PrintImported(const Imported& imported, bool as_json) {
  if (!as_json) {
    std::cout << ImportedText(imported) << "\n";
    return;
  }
  JsonWriter json;
  json.BeginObject();
  WriteImportedFields(imported, json);
  json.EndObject();
  std::cout << json.str() << "\n";
}

// What the progress bar of options' import to `addresses` says.
std::string ProgressLabel(const ImportOptions& options,
                          const std::vector<std::string>& addresses) {
  if (options.shard_map_file.empty()) {
    return absl::StrCat("import ", options.table);
  }
  return absl::StrCat(
      "import ", options.table,
      options.end_row == 0
          ? ""
          : absl::StrCat(" [", options.first_row, ", ", options.end_row, ")"),
      " to ", absl::StrJoin(addresses, ", "));
}

// The progress bar of options' import of `bytes` to `addresses`: lines
// when several imports run at once.
ProgressBar ImportProgress(const ImportOptions& options, uint64_t bytes,
                           const std::vector<std::string>& addresses = {}) {
  return ProgressBar(ProgressLabel(options, addresses), bytes,
                     /*lines=*/options.jobs > 1);
}

// Offline: writes the table into a data directory no server has open.
absl::StatusOr<Imported> ImportOffline(const ImportOptions& options,
                                       const RowFeed& feed) {
  ENGRAM_ASSIGN_OR_RETURN(
      std::unique_ptr<server::TableStorage> storage,
      server::TableStorage::Create({.data_dir = options.data_dir}));
  ENGRAM_ASSIGN_OR_RETURN(v1::TableInfo info, feed.Info(options));
  info.set_placement(options.placement);
  info.set_version(1);
  ENGRAM_ASSIGN_OR_RETURN(std::unique_ptr<server::TableWriter> writer,
                          storage->BeginTable(std::move(info), {}));
  writer->KeepCompression(TableCompression(options));
  ProgressBar progress = ImportProgress(options, feed.bytes());
  ENGRAM_RETURN_IF_ERROR(feed.ForEachMessage(
      [&](const v1::ImportTableRequest& request) {
        if (request.has_sparse_rows()) {
          return writer->AppendSparse(
              PackedRowIds(request.sparse_rows().row_ids()),
              request.sparse_rows().rows());
        }
        return writer->Append(request.rows());
      },
      [&](uint64_t done) { progress.Update(done); }));
  progress.Finish();
  ENGRAM_ASSIGN_OR_RETURN(server::StoredTable stored, writer->Commit(""));
  return Imported{std::move(stored.info)};
}

// The served table `name`, or nullopt when there is none.
absl::StatusOr<std::optional<v1::TableInfo>> DescribeIfServed(
    const AdminChannel& channel, const std::string& name) {
  v1::DescribeTableRequest request;
  request.set_table(name);
  absl::StatusOr<v1::TableInfo> info = channel.Call(
      channel.data(), &v1::EngramService::Stub::DescribeTable, request);
  if (absl::IsNotFound(info.status())) return std::nullopt;
  ENGRAM_RETURN_IF_ERROR(info.status());
  return *std::move(info);
}

// Streams the header, `send`'s messages and the digest; returns the table.
absl::StatusOr<v1::TableInfo> StreamImport(
    const AdminChannel& channel, const v1::ImportTableHeader& header,
    absl::FunctionRef<absl::Status(RowsMessageFn)> send) {
  ENGRAM_ASSIGN_OR_RETURN(
      v1::ImportTableResponse response,
      channel.Stream(&v1::EngramAdmin::Stub::ImportTable,
                     [&](RowsMessageFn write) {
                       v1::ImportTableRequest request;
                       *request.mutable_header() = header;
                       ENGRAM_RETURN_IF_ERROR(write(request));
                       return send(write);
                     }));
  return std::move(*response.mutable_table());
}

// The server reads options.file itself.
absl::StatusOr<Imported> ImportServerFile(const ImportOptions& options) {
  if (!options.ids_file.empty() || !options.data_dir.empty()) {
    return absl::InvalidArgumentError(
        "--server-file takes neither --ids nor --data-dir");
  }
  v1::TableInfo info;
  info.set_name(options.table);
  ENGRAM_RETURN_IF_ERROR(AttachHashSpec(options, info));
  v1::ImportTableHeader header = ImportHeader(options, std::move(info));
  v1::SourceFile* source = header.mutable_source_file();
  source->set_path(options.file);
  source->set_dtype(options.dtype);
  for (const std::string& tensor : options.tensors) {
    source->add_tensors(tensor);
  }
  source->set_row_bytes(options.row_bytes);
  std::cerr << "import " << options.table << ": the server reads "
            << options.file << "\n";
  ENGRAM_ASSIGN_OR_RETURN(
      v1::TableInfo table,
      StreamImport(AdminChannel(options.server), header,
                   [](RowsMessageFn) { return absl::OkStatus(); }));
  return Imported{std::move(table)};
}

// AlreadyExists when the table `served` by a server is addressed otherwise
// than the import's `info`.
absl::Status CheckServedSpec(const ImportOptions& options,
                             const v1::TableInfo& info,
                             const v1::TableInfo& served) {
  if (!info.has_hash_spec() ||
      served.hash_spec().digest() == info.hash_spec().digest()) {
    return absl::OkStatus();
  }
  return absl::AlreadyExistsError(absl::StrCat(
      "table '", options.table, "' already exists with ",
      served.has_hash_spec()
          ? absl::StrCat("hash spec ", served.hash_spec().digest())
          : "no hash spec",
      "; ", HashSpecSource(options), " makes ", info.hash_spec().digest()));
}

// The table `served` by a server, verified to hold the file's rows (their
// content `digest`); AlreadyExists otherwise.
absl::StatusOr<Imported> VerifyServed(const ImportOptions& options,
                                      v1::TableInfo served,
                                      const std::string& digest) {
  if (served.content_digest() != digest) {
    return absl::AlreadyExistsError(absl::StrCat(
        "table '", options.table, "' already exists with content digest ",
        served.content_digest().empty() ? "(none)" : served.content_digest(),
        "; ", options.file, " has ", digest));
  }
  return Imported{std::move(served), /*verified=*/true};
}

// Messages a server's import may lag behind the file's reader: a few
// chunks per server in memory.
constexpr size_t kFanOutDepth = 4;

// A server that an import streams rows to, and where its result goes.
struct StreamTarget {
  const AdminChannel* channel;
  std::string address;
  absl::StatusOr<Imported>* result;
};

// Streams `feed`'s rows, read once, to every one of `targets` at once, each
// at its own pace; each target's result gets its import's table or error.
// The rows' content digest, or the reading error.
absl::StatusOr<std::string> StreamToAll(
    const ImportOptions& options, const RowFeed& feed,
    const v1::ImportTableHeader& header,
    const std::vector<StreamTarget>& targets) {
  MessageFanOut<v1::ImportTableRequest> fan_out(
      static_cast<int>(targets.size()), kFanOutDepth);
  std::vector<std::thread> senders;
  std::vector<std::string> addresses;
  for (size_t i = 0; i < targets.size(); ++i) {
    addresses.push_back(targets[i].address);
    senders.emplace_back([&, i] {
      const int consumer = static_cast<int>(i);
      absl::StatusOr<v1::TableInfo> table = StreamImport(
          *targets[i].channel, header,
          [&](RowsMessageFn write) -> absl::Status {
            while (true) {
              ENGRAM_ASSIGN_OR_RETURN(
                  const std::shared_ptr<const v1::ImportTableRequest> next,
                  fan_out.Pop(consumer));
              if (next == nullptr) return absl::OkStatus();
              ENGRAM_RETURN_IF_ERROR(write(*next));
            }
          });
      if (!table.ok()) {
        fan_out.Leave(consumer);
        *targets[i].result = table.status();
        return;
      }
      *targets[i].result = Imported{*std::move(table)};
    });
  }
  ProgressBar progress = ImportProgress(options, feed.bytes(), addresses);
  ContentDigest digest;
  const uint32_t row_bytes = feed.file().row_bytes();
  const auto send = [&](const v1::ImportTableRequest& request) {
    if (!fan_out.Push(
            std::make_shared<const v1::ImportTableRequest>(request))) {
      return absl::CancelledError("every server's import failed");
    }
    return absl::OkStatus();
  };
  absl::Status read = feed.ForEachMessage(
      [&](const v1::ImportTableRequest& request) {
        AddToDigest(request, row_bytes, digest);
        return send(request);
      },
      [&](uint64_t done) { progress.Update(done); });
  std::string finished;
  if (read.ok()) {
    finished = std::move(digest).Finish();
    v1::ImportTableRequest last;
    last.set_content_digest(finished);
    read = send(last);
    progress.Finish();
  }
  fan_out.Close(read);
  for (std::thread& sender : senders) sender.join();
  ENGRAM_RETURN_IF_ERROR(read);
  return finished;
}

// Imports `feed` into the servers at `addresses` (one server, or a shard's
// replicas), reading it once: a server that has the table already has it
// verified against the rows' content digest; the others are sent the rows
// at once. Each server's result, in order.
std::vector<absl::StatusOr<Imported>> ImportToServers(
    const ImportOptions& options, const RowFeed& feed,
    const std::vector<std::string>& addresses) {
  const absl::StatusOr<v1::TableInfo> info = feed.Info(options);
  if (!info.ok()) {
    return std::vector<absl::StatusOr<Imported>>(addresses.size(),
                                                 info.status());
  }
  std::vector<absl::StatusOr<Imported>> results(
      addresses.size(), absl::UnknownError("not imported"));
  std::vector<std::unique_ptr<AdminChannel>> channels;
  std::vector<std::optional<v1::TableInfo>> served(addresses.size());
  std::vector<StreamTarget> streamed;
  for (size_t i = 0; i < addresses.size(); ++i) {
    AdminChannelOptions server = options.server;
    server.address = addresses[i];
    channels.push_back(std::make_unique<AdminChannel>(server));
    absl::StatusOr<std::optional<v1::TableInfo>> found =
        DescribeIfServed(*channels.back(), options.table);
    if (!found.ok()) {
      results[i] = found.status();
    } else if (!found->has_value()) {
      streamed.push_back({channels.back().get(), addresses[i], &results[i]});
    } else if (absl::Status spec = CheckServedSpec(options, *info, **found);
               !spec.ok()) {
      results[i] = spec;
    } else {
      served[i] = *std::move(*found);
    }
  }
  const bool verify = absl::c_any_of(
      served, [](const auto& table) { return table.has_value(); });
  absl::StatusOr<std::string> digest;
  if (!streamed.empty()) {
    digest = StreamToAll(options, feed, ImportHeader(options, *info), streamed);
  } else if (verify) {
    digest = feed.Digest();
  }
  for (size_t i = 0; i < addresses.size(); ++i) {
    if (!served[i].has_value()) continue;
    results[i] = digest.ok()
                     ? VerifyServed(options, *std::move(served[i]), *digest)
                     : digest.status();
  }
  return results;
}

// One import, to a server or a data directory.
absl::StatusOr<Imported> ImportOne(const ImportOptions& options) {
  if (options.server_file) return ImportServerFile(options);
  ENGRAM_ASSIGN_OR_RETURN(const RowFeed feed, RowFeed::Open(options));
  if (!options.data_dir.empty()) return ImportOffline(options, feed);
  return std::move(ImportToServers(options, feed, {options.server.address})[0]);
}

// One replica's import of a sharded one.
struct ReplicaImport {
  const client::Shard* shard;
  std::string address;
  Imported imported;
};

std::string ImportedSoFar(const std::vector<ReplicaImport>& done) {
  if (done.empty()) return "nothing was imported";
  std::vector<std::string> where;
  for (const ReplicaImport& replica : done) {
    where.push_back(absl::StrCat(client::ShardName(*replica.shard), " at ",
                                 replica.address));
  }
  return absl::StrCat("done before: ", absl::StrJoin(where, ", "),
                      " (the same command again verifies those and goes on)");
}

void PrintShardedImport(const std::string& table,
                        const std::vector<ReplicaImport>& done, bool as_json) {
  if (!as_json) {
    for (const ReplicaImport& replica : done) {
      std::cout << client::ShardName(*replica.shard) << " at "
                << replica.address << ": " << ImportedText(replica.imported)
                << "\n";
    }
    return;
  }
  JsonWriter json;
  json.BeginObject();
  json.Key("table").String(table);
  json.Key("replicas").BeginArray();
  for (const ReplicaImport& replica : done) {
    json.BeginObject();
    json.Key("address").String(replica.address);
    json.Key("first_row").Uint(replica.shard->first_row);
    json.Key("end_row").Uint(replica.shard->end_row);
    WriteImportedFields(replica.imported, json);
    json.EndObject();
  }
  json.EndArray();
  json.EndObject();
  std::cout << json.str() << "\n";
}

// Each shard's rows of the file, read once, to every replica of the shard
// at once; options.jobs shards at a time.
absl::Status ImportShards(const ImportOptions& options) {
  if (options.server_file || !options.data_dir.empty() ||
      !options.ids_file.empty() || options.end_row != 0) {
    return absl::InvalidArgumentError(
        "import --shard-map streams a dense file's rows to each shard's "
        "replicas; it takes no --server-file, --data-dir, --ids or "
        "--row-range");
  }
  if (options.jobs < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("--jobs ", options.jobs, " must be at least 1"));
  }
  ENGRAM_ASSIGN_OR_RETURN(
      const client::TableShards shards,
      client::ReadTableShards(options.shard_map_file, options.table));
  ENGRAM_ASSIGN_OR_RETURN(const RowFeed whole, RowFeed::Open(options));
  if (whole.file().rows() != shards.rows) {
    return absl::InvalidArgumentError(
        absl::StrCat(options.file, " holds ", whole.file().rows(), " rows but ",
                     options.shard_map_file, " gives table '", options.table,
                     "' ", shards.rows));
  }
  // Shards are handed out in order until a replica fails; those already
  // running then finish.
  absl::Mutex mu;
  size_t next = 0;
  absl::Status failure;
  std::vector<std::vector<absl::StatusOr<Imported>>> results(
      shards.shards.size());
  const auto import_shards = [&] {
    while (true) {
      size_t index;
      {
        absl::MutexLock lock(&mu);
        if (!failure.ok() || next == shards.shards.size()) return;
        index = next++;
      }
      const client::Shard& shard = shards.shards[index];
      ImportOptions part = options;
      // A table in one shard is imported whole.
      const bool whole_table =
          shard.first_row == 0 && shard.end_row == shards.rows;
      part.first_row = whole_table ? 0 : shard.first_row;
      part.end_row = whole_table ? 0 : shard.end_row;
      absl::StatusOr<RowFeed> feed = RowFeed::Open(part);
      std::vector<absl::StatusOr<Imported>> shard_results =
          feed.ok() ? ImportToServers(part, *feed, shard.replicas)
                    : std::vector<absl::StatusOr<Imported>>(
                          shard.replicas.size(), feed.status());
      absl::MutexLock lock(&mu);
      for (size_t r = 0; r < shard_results.size() && failure.ok(); ++r) {
        if (shard_results[r].ok()) continue;
        failure =
            Annotate(shard_results[r].status(),
                     absl::StrCat("importing ", client::ShardName(shard),
                                  " of table '", options.table, "' to replica ",
                                  shard.replicas[r], ": "));
      }
      results[index] = std::move(shard_results);
    }
  };
  std::vector<std::thread> helpers;
  for (size_t i = 1; i < std::min<size_t>(options.jobs, shards.shards.size());
       ++i) {
    helpers.emplace_back(import_shards);
  }
  import_shards();
  for (std::thread& helper : helpers) helper.join();
  std::vector<ReplicaImport> done;
  for (size_t i = 0; i < results.size(); ++i) {
    for (size_t r = 0; r < results[i].size(); ++r) {
      if (!results[i][r].ok()) continue;
      done.push_back({&shards.shards[i], shards.shards[i].replicas[r],
                      *std::move(results[i][r])});
    }
  }
  if (!failure.ok()) {
    return Annotate(failure, "", absl::StrCat("; ", ImportedSoFar(done)));
  }
  PrintShardedImport(options.table, done, options.json);
  return absl::OkStatus();
}

}  // namespace

absl::Status RunImportCommand(const ImportOptions& options) {
  if (!options.shard_map_file.empty()) return ImportShards(options);
  ENGRAM_ASSIGN_OR_RETURN(const Imported imported, ImportOne(options));
  PrintImported(imported, options.json);
  return absl::OkStatus();
}

}  // namespace engram::cli

#include "cli/explain_command.h"

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/token_batch.h"
#include "common/addressing/addresser.h"
#include "common/addressing/compression_map.h"
#include "common/addressing/hash_spec.h"
#include "common/hash_spec_proto.h"
#include "common/json_writer.h"
#include "common/packed_row_ids.h"
#include "common/status_context.h"
#include "common/status_macros.h"

namespace engram::cli {
namespace {

// Replaces the real tokens of `batch` by their compressed ids.
absl::Status CompressRealTokens(const CompressionMap& map, TokenBatch& batch) {
  for (int b = 0; b < batch.batch; ++b) {
    for (int t = batch.time - batch.lengths[b]; t < batch.time; ++t) {
      int64_t& token = batch.tokens[b * batch.time + t];
      if (token < 0 || token >= map.raw_vocab()) {
        return absl::InvalidArgumentError(
            absl::StrCat("token ", token, " (sequence ", b, ", position ",
                         t - (batch.time - batch.lengths[b]),
                         ") is outside the compression map's raw ids [0, ",
                         map.raw_vocab(), ")"));
      }
      token = map.Compress(token);
    }
  }
  return absl::OkStatus();
}

// The version each patch's commit made, by patch id; 0 where the server
// had no record of it.
class PatchVersions {
 public:
  explicit PatchVersions(const v1::ExplainRowsResponse& response) {
    for (const v1::PatchInfo& patch : response.patches()) {
      versions_[patch.patch_id()] = patch.version();
    }
  }
  uint64_t of(uint64_t patch_id) const {
    const auto it = versions_.find(patch_id);
    return it == versions_.end() ? 0 : it->second;
  }

 private:
  absl::flat_hash_map<uint64_t, uint64_t> versions_;
};

// One explained row: position p's head h is rows[p * rows_per_token + h].
struct Position {
  int sequence;
  int position;
  int64_t token;  // As given (raw with --compression).
};

void PrintText(const v1::ExplainRowsResponse& response, const HashSpec& spec,
               const std::vector<Position>& positions) {
  const PatchVersions patch_version(response);
  std::cout << "table " << response.table() << " version "
            << response.version();
  if (response.patches().empty()) std::cout << " (the base, no patches)";
  std::cout << "\n";
  for (const v1::PatchInfo& patch : response.patches()) {
    std::cout << "  patch " << patch.patch_id() << ": version "
              << patch.version() << ", " << patch.rows() << " rows"
              << (patch.description().empty()
                      ? ""
                      : absl::StrCat(", \"", patch.description(), "\""))
              << "\n";
  }
  const int heads = spec.rows_per_token();
  int patched = 0;
  for (size_t p = 0; p < positions.size(); ++p) {
    std::cout << "sequence " << positions[p].sequence << " position "
              << positions[p].position << " token " << positions[p].token
              << "\n";
    for (int h = 0; h < heads; ++h) {
      const v1::RowSource& row = response.rows(p * heads + h);
      std::string source = "base";
      if (row.patch_id() != 0) {
        ++patched;
        source = absl::StrCat("patch ", row.patch_id(), " (v",
                              patch_version.of(row.patch_id()), ")");
      }
      if (row.missing()) source = "missing (zeros)";
      std::cout << absl::StrFormat("  n=%d head %d  row %-12d %-18s %s\n",
                                   2 + h / spec.heads_per_ngram(),
                                   h % spec.heads_per_ngram(), row.row_id(),
                                   source, row.fingerprint());
    }
  }
  std::cout << patched << " of " << response.rows_size()
            << " rows from patches\n";
}

void PrintJson(const v1::ExplainRowsResponse& response, const HashSpec& spec,
               const std::vector<Position>& positions) {
  const PatchVersions patch_version(response);
  JsonWriter json;
  json.BeginObject();
  json.Key("table").String(response.table());
  json.Key("version").Uint(response.version());
  json.Key("patches").BeginArray();
  for (const v1::PatchInfo& patch : response.patches()) {
    json.BeginObject();
    json.Key("patch_id").Uint(patch.patch_id());
    json.Key("version").Uint(patch.version());
    json.Key("description").String(patch.description());
    json.Key("rows").Uint(patch.rows());
    json.EndObject();
  }
  json.EndArray();
  uint64_t patched = 0;
  for (const v1::RowSource& row : response.rows()) {
    patched += row.patch_id() != 0;
  }
  json.Key("rows").Uint(response.rows_size());
  json.Key("patched_rows").Uint(patched);
  const int heads = spec.rows_per_token();
  json.Key("positions").BeginArray();
  for (size_t p = 0; p < positions.size(); ++p) {
    json.BeginObject();
    json.Key("sequence").Int(positions[p].sequence);
    json.Key("position").Int(positions[p].position);
    json.Key("token").Int(positions[p].token);
    json.Key("heads").BeginArray();
    for (int h = 0; h < heads; ++h) {
      const v1::RowSource& row = response.rows(p * heads + h);
      json.BeginObject();
      json.Key("head").Int(h % spec.heads_per_ngram());
      json.Key("ngram").Int(2 + h / spec.heads_per_ngram());
      json.Key("row").Uint(row.row_id());
      json.Key("source").String(row.patch_id() != 0 ? "patch" : "base");
      json.Key("patch_id").Uint(row.patch_id());
      json.Key("patch_version")
          .Uint(row.patch_id() != 0 ? patch_version.of(row.patch_id()) : 0);
      json.Key("missing").Bool(row.missing());
      json.Key("fingerprint").String(row.fingerprint());
      json.EndObject();
    }
    json.EndArray().EndObject();
  }
  json.EndArray().EndObject();
  std::cout << json.str() << "\n";
}

// The compression map the server keeps with `table`. FailedPrecondition
// saying to give --compression for a table imported without one.
absl::StatusOr<std::shared_ptr<const CompressionMap>> ServerCompressionMap(
    const AdminChannel& channel, const std::string& table) {
  v1::GetCompressionMapRequest request;
  request.set_table(table);
  absl::StatusOr<v1::CompressionLookup> reply = channel.Call(
      channel.data(), &v1::EngramService::Stub::GetCompressionMap, request);
  if (absl::IsFailedPrecondition(reply.status())) {
    return Annotate(reply.status(), "", "; give the map as --compression");
  }
  ENGRAM_RETURN_IF_ERROR(reply.status());
  return CompressionMapFromReply(table, *reply);
}

// The map in file `path`, onto the spec's `tokenizer_vocab` ids.
absl::StatusOr<std::shared_ptr<const CompressionMap>> GivenCompressionMap(
    const std::string& path, int64_t tokenizer_vocab) {
  CompressionMap::Options options;
  options.compressed_vocab = tokenizer_vocab;
  return CompressionMap::Load(path, options);
}

}  // namespace

absl::Status RunExplainCommand(const ExplainOptions& options) {
  if (options.table.empty() || options.tokens.empty()) {
    return absl::InvalidArgumentError(
        "explain needs --table TABLE and --tokens \"1,2,3;4,5\"");
  }
  const AdminChannel channel(options.server);
  v1::DescribeTableRequest describe;
  describe.set_table(options.table);
  ENGRAM_ASSIGN_OR_RETURN(
      const v1::TableInfo info,
      channel.Call(channel.data(), &v1::EngramService::Stub::DescribeTable,
                   describe));
  if (!info.has_hash_spec()) {
    return absl::FailedPreconditionError(
        absl::StrCat("table '", options.table,
                     "' has no hash spec, so tokens do not address its rows"));
  }
  ENGRAM_ASSIGN_OR_RETURN(const HashSpec spec,
                          HashSpecLayerFromProto(info.hash_spec()));

  ENGRAM_ASSIGN_OR_RETURN(TokenBatch batch,
                          ParseTokenBatch(options.tokens, spec.pad_id()));
  const TokenBatch given = batch;
  const std::string& table_map = info.hash_spec().compression_digest();
  if (table_map.empty()) {
    if (!options.compression_file.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("table '", options.table,
                       "' hashes raw token ids; --compression does not "
                       "apply"));
    }
  } else {
    ENGRAM_ASSIGN_OR_RETURN(const std::shared_ptr<const CompressionMap> map,
                            options.compression_file.empty()
                                ? ServerCompressionMap(channel, options.table)
                                : GivenCompressionMap(options.compression_file,
                                                      spec.tokenizer_vocab()));
    if (const std::string map_digest = CompressionDigest(map.get());
        map_digest != table_map) {
      return absl::InvalidArgumentError(
          absl::StrCat(options.compression_file.empty()
                           ? "the server's map"
                           : "--compression " + options.compression_file,
                       " is map ", map_digest, "; table '", options.table,
                       "' hashes ids compressed by map ", table_map));
    }
    ENGRAM_RETURN_IF_ERROR(CompressRealTokens(*map, batch));
  }
  const int heads = spec.rows_per_token();
  std::vector<int64_t> row_ids(static_cast<size_t>(batch.batch) * batch.time *
                               heads);
  ENGRAM_RETURN_IF_ERROR(ComputeRowIds(spec, /*layer_index=*/0, batch.tokens,
                                       batch.batch, batch.time, batch.lengths,
                                       absl::MakeSpan(row_ids)));

  // Only the real positions; padding rows would say nothing of the text.
  v1::ExplainRowsRequest request;
  request.set_table(options.table);
  if (options.version != 0) request.mutable_at()->set_version(options.version);
  std::vector<Position> positions;
  for (int b = 0; b < batch.batch; ++b) {
    const int first = batch.time - batch.lengths[b];
    for (int t = first; t < batch.time; ++t) {
      positions.push_back({b, t - first, given.tokens[b * batch.time + t]});
      const size_t at = (static_cast<size_t>(b) * batch.time + t) * heads;
      for (int h = 0; h < heads; ++h) {
        // Row ids are non-negative, so their int64 bytes are their uint64's.
        const uint64_t id = static_cast<uint64_t>(row_ids[at + h]);
        AppendPackedRowIds(absl::MakeConstSpan(&id, 1),
                           request.mutable_row_ids());
      }
    }
  }
  ENGRAM_ASSIGN_OR_RETURN(
      const v1::ExplainRowsResponse response,
      channel.Call(channel.admin(), &v1::EngramAdmin::Stub::ExplainRows,
                   request));
  if (response.rows_size() != static_cast<int>(positions.size()) * heads) {
    return absl::InternalError(
        absl::StrCat("the server explained ", response.rows_size(), " rows of ",
                     positions.size() * heads, " asked"));
  }
  if (options.json) {
    PrintJson(response, spec, positions);
  } else {
    PrintText(response, spec, positions);
  }
  return absl::OkStatus();
}

}  // namespace engram::cli

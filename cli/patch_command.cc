#include "cli/patch_command.h"

#include <algorithm>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "cli/progress_bar.h"
#include "client/shard_map.h"
#include "common/content_digest.h"
#include "common/json_writer.h"
#include "common/packed_row_ids.h"
#include "common/status_context.h"
#include "common/status_macros.h"
#include "common/table_file.h"
#include "engram/v1/admin_service.pb.h"
#include "engram/v1/engram_service.pb.h"

namespace engram::cli {
namespace {

using Admin = v1::EngramAdmin::Stub;

// Bytes per upload message, ids included: large enough to amortise
// per-message costs, small enough to keep both ends' memory flat.
constexpr uint64_t kChunkBytes = 4 << 20;

// The tensors a .safetensors patch file holds.
constexpr char kIdsTensor[] = "ids";
constexpr char kRowsTensor[] = "rows";

absl::StatusOr<uint64_t> ParseNumber(absl::string_view what,
                                     const std::string& text) {
  uint64_t value = 0;
  if (!absl::SimpleAtoi(text, &value)) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " '", text, "' is not a non-negative integer"));
  }
  return value;
}

// A patch's rows and their ids: all rows of its files, or (one shard's
// part of a sharded patch) some of them.
struct PatchRows {
  std::shared_ptr<const TableFile> file;
  std::vector<uint64_t> ids;
  // The row of `file` holding ids[i]'s row; empty: row i (all of them).
  std::vector<uint64_t> file_rows;

  uint32_t row_bytes() const { return file->row_bytes(); }
  // What an upload sends: each row with its 8-byte id.
  uint64_t upload_bytes() const {
    return ids.size() * (row_bytes() + kPackedRowIdBytes);
  }

  // Calls fn with the rows in order, in whole-row pieces of at most
  // max_bytes (at least one row each); stops at fn's first error.
  absl::Status ForEachChunk(
      uint64_t max_bytes,
      absl::FunctionRef<absl::Status(absl::string_view)> fn) const {
    if (file_rows.empty()) return file->ForEachChunk(max_bytes, fn);
    const size_t per_chunk =
        std::max<uint64_t>(1, max_bytes / file->row_bytes());
    std::string chunk;
    for (size_t first = 0; first < file_rows.size(); first += per_chunk) {
      chunk.clear();
      for (size_t i = first; i < std::min(first + per_chunk, file_rows.size());
           ++i) {
        const absl::string_view row = file->Row(file_rows[i]);
        chunk.append(row.data(), row.size());
      }
      ENGRAM_RETURN_IF_ERROR(fn(chunk));
    }
    return absl::OkStatus();
  }
};

// The rows of `--ids IDS --rows ROWS`, or (`safetensors` non-empty) of the
// file's "ids" and "rows" tensors.
absl::StatusOr<PatchRows> ReadPatchRows(const PatchOptions& options,
                                        const std::string& safetensors) {
  // Rows are bytes to the server, whatever their dtype.
  TableFile::Options rows_options;
  rows_options.dtype = "opaque";
  PatchRows patch;
  std::string ids_source, rows_source;
  if (!safetensors.empty()) {
    if (!options.ids_file.empty() || !options.rows_file.empty()) {
      return absl::InvalidArgumentError(
          "give the patch as FILE.safetensors or as --ids and --rows, not "
          "both");
    }
    if (!absl::EndsWith(safetensors, ".safetensors")) {
      return absl::InvalidArgumentError(
          absl::StrCat(safetensors,
                       " is no .safetensors file; for .npy files use --ids "
                       "IDS.npy --rows ROWS.npy"));
    }
    rows_options.tensors = {kRowsTensor};
    ENGRAM_ASSIGN_OR_RETURN(patch.file,
                            TableFile::Open(safetensors, rows_options));
    ENGRAM_ASSIGN_OR_RETURN(patch.ids,
                            ReadRowIdsSafetensors(safetensors, kIdsTensor));
    ids_source = absl::StrCat("tensor '", kIdsTensor, "' of ", safetensors);
    rows_source = absl::StrCat("tensor '", kRowsTensor, "'");
  } else {
    if (options.ids_file.empty() || options.rows_file.empty()) {
      return absl::InvalidArgumentError(
          "a patch needs --ids IDS.npy and --rows ROWS.npy (or, for upload, "
          "FILE.safetensors)");
    }
    ENGRAM_ASSIGN_OR_RETURN(patch.file,
                            TableFile::Open(options.rows_file, rows_options));
    ENGRAM_ASSIGN_OR_RETURN(patch.ids, ReadRowIdsNpy(options.ids_file));
    ids_source = options.ids_file;
    rows_source = options.rows_file;
  }
  if (patch.ids.size() != patch.file->rows()) {
    return absl::InvalidArgumentError(absl::StrCat(
        ids_source, " holds ", patch.ids.size(), " ids but ", rows_source,
        " holds ", patch.file->rows(), " rows; a patch needs one id per row"));
  }
  if (patch.ids.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(rows_source, " holds no rows"));
  }
  return patch;
}

void WritePatchJson(const v1::PatchInfo& patch, JsonWriter& json) {
  json.BeginObject();
  json.Key("patch_id").Uint(patch.patch_id());
  json.Key("table").String(patch.table());
  json.Key("description").String(patch.description());
  json.Key("rows").Uint(patch.rows());
  json.Key("row_bytes").Uint(patch.row_bytes());
  json.Key("content_digest").String(patch.content_digest());
  json.Key("committed").Bool(patch.committed());
  json.Key("version").Uint(patch.version());
  json.Key("created_unix_ms").Uint(patch.created_unix_ms());
  json.EndObject();
}

void WriteVersionJson(const v1::VersionInfo& version, JsonWriter& json) {
  json.BeginObject();
  json.Key("version").Uint(version.version());
  json.Key("table").String(version.table());
  json.Key("parent_version").Uint(version.parent_version());
  json.Key("patch_ids").BeginArray();
  for (uint64_t id : version.patch_ids()) json.Uint(id);
  json.EndArray();
  json.Key("patch_rows").Uint(version.patch_rows());
  json.Key("active").Bool(version.active());
  json.Key("pins").Uint(version.pins());
  json.Key("created_unix_ms").Uint(version.created_unix_ms());
  json.Key("activated_unix_ms").Uint(version.activated_unix_ms());
  json.Key("description").String(version.description());
  json.EndObject();
}

absl::Status PrintPatch(const v1::PatchInfo& patch) {
  JsonWriter json;
  WritePatchJson(patch, json);
  std::cout << json.str() << "\n";
  return absl::OkStatus();
}

absl::Status PrintVersion(const v1::VersionInfo& version) {
  JsonWriter json;
  WriteVersionJson(version, json);
  std::cout << json.str() << "\n";
  return absl::OkStatus();
}

// A time for the text listing: UTC to the second, "-" for never.
std::string FormatUnixMs(uint64_t unix_ms) {
  if (unix_ms == 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S",
                          absl::FromUnixMillis(static_cast<int64_t>(unix_ms)),
                          absl::UTCTimeZone());
}

void PrintVersionsJson(const v1::ListVersionsResponse& list) {
  JsonWriter json;
  json.BeginObject();
  json.Key("table").String(list.table());
  json.Key("active_version").Uint(list.active_version());
  json.Key("versions").BeginArray();
  for (const v1::VersionInfo& version : list.versions()) {
    WriteVersionJson(version, json);
  }
  json.EndArray();
  json.Key("uploading").BeginArray();
  for (const v1::PatchInfo& patch : list.uploading()) {
    WritePatchJson(patch, json);
  }
  json.EndArray();
  json.EndObject();
  std::cout << json.str() << "\n";
}

// One line of the text listing, less the padding an empty last column
// leaves.
void PrintLine(absl::string_view line) {
  std::cout << absl::StripTrailingAsciiWhitespace(line) << "\n";
}

void PrintVersionsText(const v1::ListVersionsResponse& list) {
  PrintLine(
      absl::StrCat(list.table(), ": active version ", list.active_version()));
  PrintLine(absl::StrFormat("  %8s %8s %-6s %10s %5s  %-19s  %s", "VERSION",
                            "PARENT", "ACTIVE", "PATCH_ROWS", "PINS",
                            "CREATED (UTC)", "DESCRIPTION"));
  for (const v1::VersionInfo& version : list.versions()) {
    PrintLine(absl::StrFormat(
        "  %8d %8d %-6s %10d %5d  %-19s  %s", version.version(),
        version.parent_version(), version.active() ? "*" : "",
        version.patch_rows(), version.pins(),
        FormatUnixMs(version.created_unix_ms()), version.description()));
  }
  if (list.uploading().empty()) return;
  PrintLine("uploading (not committed):");
  PrintLine(absl::StrFormat("  %8s %10s  %-19s  %s", "PATCH", "ROWS",
                            "CREATED (UTC)", "DESCRIPTION"));
  for (const v1::PatchInfo& patch : list.uploading()) {
    PrintLine(absl::StrFormat(
        "  %8d %10d  %-19s  %s", patch.patch_id(), patch.rows(),
        FormatUnixMs(patch.created_unix_ms()), patch.description()));
  }
}

// Streams `patch` into patch `patch_id`, its digest in the last message
// (and in *sent_digest); returns the patch as the server then has it.
absl::StatusOr<v1::PatchInfo> Upload(const AdminChannel& channel,
                                     uint64_t patch_id, const PatchRows& patch,
                                     std::string* sent_digest) {
  const uint32_t row_bytes = patch.row_bytes();
  const absl::Span<const uint64_t> ids(patch.ids);
  ProgressBar progress(absl::StrCat("upload patch ", patch_id),
                       patch.upload_bytes());
  ContentDigest digest;
  ENGRAM_ASSIGN_OR_RETURN(
      v1::PatchInfo uploaded,
      channel.Stream(
          &Admin::UploadPatch,
          [&](AdminChannel::WriteFn<v1::UploadPatchRequest> write) {
            v1::UploadPatchRequest request;
            request.set_patch_id(patch_id);
            uint64_t sent = 0;
            return patch.ForEachChunk(
                kChunkBytes / (row_bytes + kPackedRowIdBytes) * row_bytes,
                [&](absl::string_view rows) {
                  const uint64_t count = rows.size() / row_bytes;
                  request.clear_row_ids();
                  AppendPackedRowIds(ids.subspan(sent, count),
                                     request.mutable_row_ids());
                  request.set_rows(rows.data(), rows.size());
                  digest.AddSparseRows(PackedRowIds(request.row_ids()), rows,
                                       row_bytes);
                  sent += count;
                  if (sent == ids.size()) {
                    *sent_digest = std::move(digest).Finish();
                    request.set_content_digest(*sent_digest);
                  }
                  ENGRAM_RETURN_IF_ERROR(write(request));
                  request.clear_patch_id();  // The first message names it.
                  progress.Update(sent * (row_bytes + kPackedRowIdBytes));
                  return absl::OkStatus();
                });
          }));
  progress.Finish();
  return uploaded;
}

absl::StatusOr<v1::PatchInfo> CreatePatch(const AdminChannel& channel,
                                          const std::string& table,
                                          const PatchOptions& options) {
  v1::CreatePatchRequest request;
  request.set_table(table);
  request.set_description(options.description);
  return channel.Call(channel.admin(), &Admin::CreatePatch, request);
}

absl::StatusOr<v1::VersionInfo> Commit(const AdminChannel& channel,
                                       uint64_t patch_id,
                                       const std::string& digest) {
  v1::CommitPatchRequest request;
  request.set_patch_id(patch_id);
  request.set_content_digest(digest);
  return channel.Call(channel.admin(), &Admin::CommitPatch, request);
}

absl::StatusOr<v1::PatchInfo> Abort(const AdminChannel& channel,
                                    uint64_t patch_id) {
  v1::AbortPatchRequest request;
  request.set_patch_id(patch_id);
  return channel.Call(channel.admin(), &Admin::AbortPatch, request);
}

absl::StatusOr<v1::VersionInfo> Activate(const AdminChannel& channel,
                                         const std::string& table,
                                         uint64_t version) {
  v1::ActivateVersionRequest request;
  request.set_table(table);
  request.set_version(version);
  return channel.Call(channel.admin(), &Admin::ActivateVersion, request);
}

// The table as the channel's server has it, checked to take `patch`'s
// rows: the first step of an apply, before anything is created.
absl::StatusOr<v1::TableInfo> CheckRowSize(const AdminChannel& channel,
                                           const std::string& table,
                                           const PatchRows& patch,
                                           const PatchOptions& options) {
  v1::DescribeTableRequest describe;
  describe.set_table(table);
  ENGRAM_ASSIGN_OR_RETURN(
      v1::TableInfo info,
      channel.Call(channel.data(), &v1::EngramService::Stub::DescribeTable,
                   describe));
  if (info.row_bytes() != patch.row_bytes()) {
    return absl::InvalidArgumentError(absl::StrCat(
        options.rows_file, " has rows of ", patch.row_bytes(),
        " bytes but table '", table, "' has rows of ", info.row_bytes()));
  }
  return info;
}

// create + upload + commit + activate, after CheckRowSize; the version
// made and activated. A failed upload aborts the patch, and a later
// failure names what was left behind (an inactive version).
absl::StatusOr<uint64_t> CreateAndActivate(const AdminChannel& channel,
                                           const std::string& table,
                                           const PatchRows& patch,
                                           const PatchOptions& options) {
  ENGRAM_ASSIGN_OR_RETURN(const v1::PatchInfo created,
                          CreatePatch(channel, table, options));
  const uint64_t patch_id = created.patch_id();
  // The patch is this one stream, so the stream's digest is the patch's.
  std::string digest;
  if (const absl::Status uploaded =
          Upload(channel, patch_id, patch, &digest).status();
      !uploaded.ok()) {
    const absl::Status aborted = Abort(channel, patch_id).status();
    return Annotate(
        uploaded,
        absl::StrCat("upload to patch ", patch_id, " failed (",
                     aborted.ok()
                         ? "the patch is aborted"
                         : absl::StrCat("the patch is left uncommitted: "
                                        "aborting it failed: ",
                                        aborted.message()),
                     "): "));
  }
  absl::StatusOr<v1::VersionInfo> committed = Commit(channel, patch_id, digest);
  ENGRAM_RETURN_IF_ERROR(Annotate(
      committed.status(), absl::StrCat("committing patch ", patch_id, ": ")));
  const uint64_t version = committed->version();
  ENGRAM_RETURN_IF_ERROR(Annotate(
      Activate(channel, table, version).status(),
      absl::StrCat("version ", version, " was committed but not activated ",
                   "(engramctl patch activate ", table, " ", version, "): ")));
  return version;
}

// `patch apply` against one server. The files and the table's row size are
// checked before anything is created.
absl::Status Apply(const AdminChannel& channel, const std::string& table,
                   const PatchOptions& options) {
  ENGRAM_ASSIGN_OR_RETURN(const PatchRows patch,
                          ReadPatchRows(options, /*safetensors=*/""));
  ENGRAM_RETURN_IF_ERROR(CheckRowSize(channel, table, patch, options).status());
  ENGRAM_ASSIGN_OR_RETURN(const uint64_t version,
                          CreateAndActivate(channel, table, patch, options));
  // Exactly this object: scripts read the new version from it.
  JsonWriter json;
  json.BeginObject().Key("version").Uint(version).EndObject();
  std::cout << json.str() << "\n";
  return absl::OkStatus();
}

// One shard's part of a sharded patch, and where it went.
struct ShardPart {
  const client::Shard* shard = nullptr;
  PatchRows rows;
  // By replica: the version made there; 0 while not applied.
  std::vector<uint64_t> versions;
};

// `patch`'s rows split by the shard each id falls in, in the patch's
// order; shards without ids are left out. InvalidArgument for an id beyond
// the table.
absl::StatusOr<std::vector<ShardPart>> SplitByShard(
    const PatchRows& patch, const std::string& table,
    const client::TableShards& shards) {
  std::vector<ShardPart> parts(shards.shards.size());
  for (size_t i = 0; i < patch.ids.size(); ++i) {
    const uint64_t id = patch.ids[i];
    if (id >= shards.rows) {
      return absl::InvalidArgumentError(
          absl::StrCat("row id ", id, " at position ", i, " is beyond table '",
                       table, "' of ", shards.rows, " rows in the shard map"));
    }
    const auto shard = std::upper_bound(
        shards.shards.begin(), shards.shards.end(), id,
        [](uint64_t row, const client::Shard& s) { return row < s.first_row; });
    ShardPart& part = parts[shard - shards.shards.begin() - 1];
    part.rows.ids.push_back(id);
    part.rows.file_rows.push_back(i);
  }
  std::vector<ShardPart> touched;
  for (size_t s = 0; s < parts.size(); ++s) {
    if (parts[s].rows.ids.empty()) continue;
    parts[s].shard = &shards.shards[s];
    parts[s].rows.file = patch.file;
    parts[s].versions.assign(parts[s].shard->replicas.size(), 0);
    touched.push_back(std::move(parts[s]));
  }
  return touched;
}

// What a failed sharded apply leaves: where each part is, and is not.
std::string AppliedSoFar(const std::vector<ShardPart>& parts) {
  std::string applied, not_applied;
  for (const ShardPart& part : parts) {
    for (size_t r = 0; r < part.versions.size(); ++r) {
      const std::string at = absl::StrCat(client::ShardName(*part.shard),
                                          " at ", part.shard->replicas[r]);
      if (part.versions[r] != 0) {
        absl::StrAppend(&applied, applied.empty() ? "" : ", ", at, " (version ",
                        part.versions[r], ")");
      } else {
        absl::StrAppend(&not_applied, not_applied.empty() ? "" : ", ", at);
      }
    }
  }
  return absl::StrCat(
      "applied and active: ", applied.empty() ? "nowhere" : applied,
      "; not applied: ", not_applied,
      " (servers are patched one by one, not atomically)");
}

void PrintShardedApply(const std::string& table,
                       const std::vector<ShardPart>& parts, bool as_json) {
  if (!as_json) {
    for (const ShardPart& part : parts) {
      std::string line =
          absl::StrCat(table, " ", client::ShardName(*part.shard), " ",
                       part.rows.ids.size(), " rows:");
      for (size_t r = 0; r < part.versions.size(); ++r) {
        absl::StrAppend(&line, r == 0 ? " " : ", ", part.shard->replicas[r],
                        " version ", part.versions[r]);
      }
      PrintLine(line);
    }
    return;
  }
  JsonWriter json;
  json.BeginObject();
  json.Key("table").String(table);
  json.Key("shards").BeginArray();
  for (const ShardPart& part : parts) {
    json.BeginObject();
    json.Key("first_row").Uint(part.shard->first_row);
    json.Key("end_row").Uint(part.shard->end_row);
    json.Key("rows").Uint(part.rows.ids.size());
    json.Key("replicas").BeginArray();
    for (size_t r = 0; r < part.versions.size(); ++r) {
      json.BeginObject();
      json.Key("address").String(part.shard->replicas[r]);
      json.Key("version").Uint(part.versions[r]);
      json.EndObject();
    }
    json.EndArray();
    json.EndObject();
  }
  json.EndArray();
  json.EndObject();
  std::cout << json.str() << "\n";
}

// `patch apply` over a shard map: each shard's part of the patch applied
// to each of its replicas in turn, as Apply does to one server. Every
// replica is checked first (reachable, the table's row size, the shard's
// row range), so that most mistakes stop it before anything changes.
absl::Status ApplySharded(const std::string& table,
                          const PatchOptions& options) {
  ENGRAM_ASSIGN_OR_RETURN(
      const client::TableShards shards,
      client::ReadTableShards(options.shard_map_file, table));
  ENGRAM_ASSIGN_OR_RETURN(const PatchRows patch,
                          ReadPatchRows(options, /*safetensors=*/""));
  ENGRAM_ASSIGN_OR_RETURN(std::vector<ShardPart> parts,
                          SplitByShard(patch, table, shards));
  // By part, then replica.
  std::vector<std::vector<std::unique_ptr<AdminChannel>>> channels;
  for (const ShardPart& part : parts) {
    channels.emplace_back();
    for (const std::string& address : part.shard->replicas) {
      AdminChannelOptions server = options.server;
      server.address = address;
      const AdminChannel& channel = *channels.back().emplace_back(
          std::make_unique<AdminChannel>(std::move(server)));
      const std::string where = absl::StrCat(
          "checking ", client::ShardName(*part.shard), " at replica ", address,
          " (nothing was applied anywhere): ");
      const absl::StatusOr<v1::TableInfo> info =
          CheckRowSize(channel, table, part.rows, options);
      if (!info.ok()) return Annotate(info.status(), where);
      if (info->first_row() != part.shard->first_row ||
          info->first_row() + info->rows() != part.shard->end_row) {
        return absl::FailedPreconditionError(
            absl::StrCat(where, "it holds rows [", info->first_row(), ", ",
                         info->first_row() + info->rows(), ") of table '",
                         table, "', not the shard's"));
      }
    }
  }
  for (size_t p = 0; p < parts.size(); ++p) {
    ShardPart& part = parts[p];
    for (size_t r = 0; r < part.versions.size(); ++r) {
      absl::StatusOr<uint64_t> version =
          CreateAndActivate(*channels[p][r], table, part.rows, options);
      if (!version.ok()) {
        return Annotate(
            version.status(),
            absl::StrCat("patching ", client::ShardName(*part.shard),
                         " at replica ", part.shard->replicas[r], ": "),
            absl::StrCat("; ", AppliedSoFar(parts)));
      }
      part.versions[r] = *version;
    }
  }
  PrintShardedApply(table, parts, options.json);
  // Sharded pins take the same version number on every replica of a shard.
  for (const ShardPart& part : parts) {
    if (std::adjacent_find(part.versions.begin(), part.versions.end(),
                           std::not_equal_to<>()) != part.versions.end()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the patch is applied everywhere, but the replicas of ",
          client::ShardName(*part.shard),
          " made different version numbers of it: their versions had "
          "diverged (e.g. after an apply that failed part way), and a "
          "sharded pin needs them alike"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status RunPatchCommand(const std::vector<std::string>& args,
                             const PatchOptions& options) {
  const std::string& command = args[0];
  if (command == "apply" && !options.shard_map_file.empty()) {
    return ApplySharded(args[1], options);
  }
  const AdminChannel channel(options.server);
  if (command == "apply") return Apply(channel, args[1], options);
  if (command == "create") {
    ENGRAM_ASSIGN_OR_RETURN(const v1::PatchInfo patch,
                            CreatePatch(channel, args[1], options));
    return PrintPatch(patch);
  }
  if (command == "upload") {
    ENGRAM_ASSIGN_OR_RETURN(const uint64_t patch_id,
                            ParseNumber("patch id", args[1]));
    ENGRAM_ASSIGN_OR_RETURN(
        const PatchRows patch,
        ReadPatchRows(options, args.size() > 2 ? args[2] : ""));
    std::string digest;
    ENGRAM_ASSIGN_OR_RETURN(const v1::PatchInfo uploaded,
                            Upload(channel, patch_id, patch, &digest));
    return PrintPatch(uploaded);
  }
  if (command == "commit") {
    ENGRAM_ASSIGN_OR_RETURN(const uint64_t patch_id,
                            ParseNumber("patch id", args[1]));
    ENGRAM_ASSIGN_OR_RETURN(const v1::VersionInfo version,
                            Commit(channel, patch_id, options.digest));
    return PrintVersion(version);
  }
  if (command == "abort") {
    ENGRAM_ASSIGN_OR_RETURN(const uint64_t patch_id,
                            ParseNumber("patch id", args[1]));
    ENGRAM_ASSIGN_OR_RETURN(const v1::PatchInfo patch,
                            Abort(channel, patch_id));
    return PrintPatch(patch);
  }
  if (command == "activate") {
    ENGRAM_ASSIGN_OR_RETURN(const uint64_t number,
                            ParseNumber("version", args[2]));
    ENGRAM_ASSIGN_OR_RETURN(const v1::VersionInfo version,
                            Activate(channel, args[1], number));
    return PrintVersion(version);
  }
  if (command == "rollback") {
    v1::RollbackRequest request;
    request.set_table(args[1]);
    request.set_to_version(options.to_version);
    ENGRAM_ASSIGN_OR_RETURN(
        const v1::VersionInfo version,
        channel.Call(channel.admin(), &Admin::Rollback, request));
    return PrintVersion(version);
  }
  // list
  v1::ListVersionsRequest request;
  request.set_table(args[1]);
  ENGRAM_ASSIGN_OR_RETURN(
      const v1::ListVersionsResponse list,
      channel.Call(channel.admin(), &Admin::ListVersions, request));
  if (options.json) {
    PrintVersionsJson(list);
  } else {
    PrintVersionsText(list);
  }
  return absl::OkStatus();
}

}  // namespace engram::cli

// engramctl: command-line client of engram-server.
//
//   engramctl --server 127.0.0.1:50051 tables [--json]
//   engramctl --server 127.0.0.1:50051 describe TABLE [--json]
//   engramctl --server 127.0.0.1:50051 lookup TABLE --rows 0,5,9 [--json]
//   engramctl addresses --seed 0 --layer-ids 1,15 --vocab-sizes 646400,646400
//       --max-ngram 3 --heads 8 --pad-id 2 --tokenizer-vocab 129280
//       [--compression FILE.npy] --tokens "1,2,3;4,5,6"
//   engramctl addresses --model-config model.json --tokens "1,2,3;4,5,6"
//   engramctl --server 127.0.0.1:50051 import TABLE FILE.npy [--dtype T]
//   engramctl --server 127.0.0.1:50051 --token-file F patch apply TABLE
//       --ids IDS.npy --rows ROWS.npy          (and patch create, upload,
//       commit, abort, activate, rollback, list: see cli/patch_command.h)
//   engramctl --server 127.0.0.1:50051 --token-file F rollback TABLE --to V
//   engramctl --server 127.0.0.1:50051 --token-file F drop TABLE [--force]
//   engramctl --server 127.0.0.1:50051 --token-file F versions TABLE [--json]
//   engramctl --shard-map shards.txt --token-file F patch apply TABLE
//       --ids IDS.npy --rows ROWS.npy [--json]
//   engramctl --shard-map shards.txt --token-file F drop TABLE [--force]
//   engramctl --shard-map shards.txt --token-file F import TABLE FILE.npy
//       [--jobs N] [--hash-layer L [--model-config model.json | ...]]
//   engramctl compression-map --tokenizer tokenizer.json --out map.npy
//   engramctl patch diff OLD.npy NEW.npy --out-ids ids.npy --out-rows rows.npy
//       [--tolerance T]
//   engramctl --server ADDR explain --table TABLE --tokens "..." [--version V]
//   engramctl --server ADDR export TABLE OUT.npy [--version V] [--ids IDS.npy]
//       [--max-rate-mb R] [--resume] [--hash-spec SPEC.json
//       [--compression MAP.npy]]
//   engramctl --server ADDR import TABLE OUT.npy --hash-spec SPEC.json
//       [--compression MAP.npy]   (the exported table back, addressed alike)
//
// --server defaults to 127.0.0.1:50051. --shard-map (client/shard_map.h)
// names the servers of a table split by row range instead: `tables`,
// `describe`, `lookup` and `export` then read the table through its shards
// (client/sharded_client.h), `import` sends each shard's rows of the file
// to every replica of the shard, `patch apply` patches every replica of
// each shard its ids fall in, and `drop` drops the table from every replica,
// one server after the other, with no atomicity across them (see
// cli/patch_command.h, cli/drop_command.h).
// --token-file names a file holding the server's admin token, sent on
// every call as `authorization: Bearer TOKEN` (admin calls need it when
// the server has --admin-token-file); with --shard-map it goes to every
// server.
//
// Errors print "CODE: message" (the gRPC status code name) on stderr and
// exit 1; usage errors exit 2.
//
// Abseil reserves --version (print build info and exit), so main() passes
// explain's `--version V` on as --at-version V; both spellings work.
#include <cstdio>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "absl/algorithm/container.h"
#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "cli/addresses_command.h"
#include "cli/admin_channel.h"
#include "cli/compression_map_command.h"
#include "cli/drop_command.h"
#include "cli/explain_command.h"
#include "cli/export_command.h"
#include "cli/hash_spec_flags.h"
#include "cli/import_command.h"
#include "cli/patch_command.h"
#include "cli/patch_diff_command.h"
#include "cli/row_id_list.h"
#include "client/engram_client.h"
#include "client/shard_map.h"
#include "client/sharded_client.h"
#include "common/cli_flags.h"
#include "common/client_security_flags.h"
#include "common/json_writer.h"
#include "common/malloc_tuning.h"
#include "common/request_id.h"
#include "common/status_macros.h"
#include "common/tls_credentials.h"

ABSL_FLAG(std::string, server, "",
          "engram-server address; default 127.0.0.1:50051. Not with "
          "--shard-map.");
ABSL_FLAG(std::string, shard_map, "",
          "a shard map file (`table NAME rows N` / `shard NAME FIRST END "
          "REPLICA...` lines) instead of one --server: tables, describe, "
          "lookup and export read through the shards; import sends each "
          "shard's rows to every replica of it; patch apply patches every "
          "replica of the shards the ids fall in; drop drops the table from "
          "every replica.");
ABSL_FLAG(bool, json, false, "Print JSON instead of text.");
ABSL_FLAG(std::string, rows, "",
          "lookup: row ids, e.g. 0,5,9 or 0-15. patch apply/upload: a 2-D "
          ".npy of the patch's rows (any dtype, the table's row_bytes per "
          "row), one per id of --ids.");
ABSL_FLAG(std::string, dtype, "",
          "import: element type overriding the file's (f32, f16, bf16, "
          "fp8_e4m3, fp8_e5m2, opaque).");
ABSL_FLAG(std::vector<std::string>, tensor, {},
          "import: the .safetensors tensor(s) to import, concatenated in the "
          "order given (per-head tables).");
ABSL_FLAG(std::string, placement, "ram",
          "import: where the table lives: ram, ssd (RocksDB behind a hot-row "
          "cache) or auto (ram while the server's --ram-budget lasts).");
ABSL_FLAG(uint32_t, row_bytes, 0,
          "import: bytes per row of a raw file (neither .npy nor "
          ".safetensors).");
ABSL_FLAG(std::string, ids, "",
          "import: a .npy of int64 row ids, one per row of FILE: makes a "
          "sparse table holding only those rows. patch apply/upload: a .npy "
          "of int64 row ids, one per row of --rows: the rows to replace. "
          "export: of a sparse table, the .npy to write the exported rows' "
          "ids to.");
ABSL_FLAG(uint64_t, id_space, 0,
          "import --ids: the sparse table's row count (ids are below it).");
ABSL_FLAG(std::string, missing, "report",
          "import --ids: what lookups of rows never written get: report "
          "(zeros, flagged in the response) or zeros.");
ABSL_FLAG(std::string, row_range, "",
          "import: A:B imports only rows [A, B) of FILE, as one shard of the "
          "table (served under the file's row ids; OUT_OF_RANGE for others).");
ABSL_FLAG(int64_t, hash_layer, -1,
          "import: the table is this Engram layer's (one of --layer-ids) and "
          "is addressed by the configuration of --seed, --layer-ids, "
          "--vocab-sizes, --max-ngram, --heads, --pad-id, --tokenizer-vocab, "
          "--n-embed-per-ngram and --compression, so token lookups and "
          "prefetchers can use it; -1: no addressing.");
ABSL_FLAG(int32_t, jobs, 1,
          "import --shard-map: how many shards to import at once (each "
          "reads its rows of FILE once and streams them to all its "
          "replicas).");
ABSL_FLAG(bool, server_file, false,
          "import: FILE is a path on the server, which reads it itself "
          "(it must lie within the server's --import-dir).");
ABSL_FLAG(std::string, data_dir, "",
          "import: write the table straight into this data directory "
          "(offline; no server may have it open) instead of to --server.");
ABSL_FLAG(std::string, description, "",
          "patch create/apply: free text kept with the patch and its version "
          "(who, why).");
ABSL_FLAG(std::string, digest, "",
          "patch commit: the patch's content digest (lowercase hex SHA-256, "
          "as patch upload prints it); the commit fails if the rows differ.");
ABSL_FLAG(uint64_t, to, 0,
          "rollback: the retained version to activate; default: the newest "
          "one older than the active version.");
ABSL_FLAG(bool, force, false,
          "drop: drop the table even while pins hold its versions (workers "
          "decoding with it then get NOT_FOUND).");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(10),
          "Deadline of each call (not of import and upload streams).");
ABSL_FLAG(absl::Duration, stall_timeout, absl::Minutes(1),
          "import, patch upload: cut the connection to a server that "
          "takes none of the data sent for this long (hung, or its network "
          "gone); 0: wait for ever. The server's commit after the last "
          "message is not bounded.");
ABSL_FLAG(std::string, request_id, "",
          "Sent as x-request-id on every call, so the server's log lines for "
          "them show it (request_id=ID): 1-64 characters of "
          "[A-Za-z0-9._:-]. Default: the server makes one per call.");
ABSL_FLAG(std::string, tokenizer, "",
          "compression-map: the model's Hugging Face tokenizer.json.");
ABSL_FLAG(std::string, out, "",
          "compression-map: the .npy to write (int64, raw id -> compressed "
          "id).");
ABSL_FLAG(std::string, out_ids, "",
          "patch diff: the .npy to write the changed row ids to (int64).");
ABSL_FLAG(std::string, out_rows, "",
          "patch diff: the .npy to write NEW's changed rows to.");
ABSL_FLAG(double, tolerance, 0,
          "patch diff: a row of floats changed only if some element moved by "
          "more than this; 0: any change of bytes.");
ABSL_FLAG(std::string, table, "", "explain: the table whose rows to explain.");
ABSL_FLAG(double, max_rate_mb, 0,
          "export: ask the server for rows at most this many MB/s, to spare "
          "its live traffic; 0: no limit.");
ABSL_FLAG(bool, resume, false,
          "export: go on with the files an interrupted export to the same "
          "output left, from its last checkpoint.");
ABSL_FLAG(uint64_t, at_version, 0,
          "explain, export: the version to explain or export (also spelt "
          "--version); 0: the active one.");
// Defined with the addresses command and the hash flags, which share them.
ABSL_DECLARE_FLAG(std::string, tokens);
ABSL_DECLARE_FLAG(std::string, hash_spec);
ABSL_DECLARE_FLAG(std::string, compression);

namespace engram::cli {
namespace {

using client::EngramClient;
using client::TableDescription;

// The server when neither --server nor --shard-map names one. (Not the
// flag's default, so that an explicit --server can be told apart.)
constexpr char kDefaultServer[] = "127.0.0.1:50051";

// Most rows `lookup` prints; it is a debugging tool, not a bulk exporter.
constexpr uint64_t kMaxLookupRows = 1 << 16;

constexpr char kUsage[] =
    "usage: engramctl [--server ADDR | --shard-map FILE] [--token-file FILE] "
    "[--request-id ID] COMMAND [ARGS] [--json]\n"
    "commands:\n"
    "  tables                 list the served tables\n"
    "  describe TABLE         show one table's metadata\n"
    "  lookup TABLE --rows 0,5,9   fetch rows (numbers, or hex if opaque)\n"
    "  addresses --tokens \"1,2,3;4,5,6\" [--seed --layer-ids --vocab-sizes\n"
    "      --max-ngram --heads --pad-id --tokenizer-vocab --compression\n"
    "      | --model-config MODEL.json]\n"
    "                         compute Engram row addresses (no server;\n"
    "                         --model-config: engram-worker's config)\n"
    "  import TABLE FILE.npy|FILE.safetensors|FILE [--tensor A,B] [--dtype T]\n"
    "      [--row-bytes N] [--placement ram|ssd|auto]\n"
    "      [--ids IDS.npy --id-space N --missing report|zeros]\n"
    "      [--server-file | --data-dir DIR] [--row-range A:B]\n"
    "      [--hash-layer L [--seed ... --n-embed-per-ngram N\n"
    "                       | --model-config MODEL.json]\n"
    "       | --hash-spec SPEC.json [--compression MAP.npy]]\n"
    "                         create a table from 2-D arrays or raw rows\n"
    "                         (--hash-layer: Engram layer L's, addressed by\n"
    "                         the hash flags, as for addresses; --hash-spec:\n"
    "                         as an exported table was)\n"
    "                         (--shard-map FILE: each shard's rows, read\n"
    "                         once, to all its replicas; --jobs N shards\n"
    "                         at a time)\n"
    "  drop TABLE [--force]   stop serving a table and delete it, its\n"
    "                         versions and patches (--force: even if pinned;\n"
    "                         --shard-map FILE: on every server of it, one\n"
    "                         after the other)\n"
    "  patch apply TABLE --ids IDS.npy --rows ROWS.npy [--description TEXT]\n"
    "                         replace rows: create, upload, commit, activate\n"
    "                         (--shard-map FILE: on each replica of every\n"
    "                         shard the ids fall in, one server after the\n"
    "                         other, not atomically: a failure says where\n"
    "                         the patch already is)\n"
    "  patch create TABLE [--description TEXT]\n"
    "  patch upload PATCH_ID --ids IDS.npy --rows ROWS.npy | FILE.safetensors\n"
    "  patch commit PATCH_ID [--digest HEX]\n"
    "  patch abort PATCH_ID            discard an uncommitted patch\n"
    "  patch activate TABLE VERSION\n"
    "  patch rollback TABLE [--to V]   (also: rollback TABLE [--to V])\n"
    "  patch list TABLE [--json]       (also: versions TABLE [--json])\n"
    "                         a patch's steps one by one; list versions\n"
    "  patch diff OLD.npy NEW.npy --out-ids ids.npy --out-rows rows.npy\n"
    "      [--tolerance T]    the rows that changed, for patch apply (no "
    "server)\n"
    "  compression-map --tokenizer tokenizer.json --out map.npy\n"
    "                         the token compression map (no server)\n"
    "  explain --table TABLE --tokens \"1,2,3;4,5\" [--version V]\n"
    "      [--compression MAP.npy | --model-config MODEL.json]\n"
    "                         each position's rows: base or patch\n"
    "  export TABLE OUT.npy [--version V] [--ids IDS.npy] [--max-rate-mb R]\n"
    "      [--resume] [--hash-spec SPEC.json [--compression MAP.npy]]\n"
    "                         write a version's rows to a file import takes\n"
    "                         (--ids: a sparse table's, with their ids;\n"
    "                         --hash-spec: its addressing too, and its map)\n"
    "                         (--shard-map FILE: read through the shards)\n"
    "admin calls need --token-file FILE when the server has an admin token";

// The server the flags name, with the token from --token-file (if any).
absl::StatusOr<AdminChannelOptions> ServerFromFlags() {
  AdminChannelOptions server;
  server.address = absl::GetFlag(FLAGS_server);
  if (server.address.empty()) server.address = kDefaultServer;
  server.timeout = absl::GetFlag(FLAGS_timeout);
  server.stall_timeout = absl::GetFlag(FLAGS_stall_timeout);
  if (server.stall_timeout < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--stall-timeout ", absl::FormatDuration(server.stall_timeout),
        " must not be negative"));
  }
  server.request_id = absl::GetFlag(FLAGS_request_id);
  if (const absl::Status usable = CheckOptionalRequestId(server.request_id);
      !usable.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--request-id: ", usable.message()));
  }
  ENGRAM_ASSIGN_OR_RETURN(server.bearer_token, BearerTokenFromFlags());
  server.tls = ClientTlsFilesFromFlags();
  ENGRAM_RETURN_IF_ERROR(ChannelCredentialsFor(server.tls).status());
  return server;
}

// A client of the server the flags name or, with --shard-map, of the
// servers of the map.
absl::StatusOr<std::unique_ptr<EngramClient>> Connect(
    const AdminChannelOptions& server) {
  client::ClientOptions options;
  options.server_address = server.address;
  options.default_timeout = server.timeout;
  options.bearer_token = server.bearer_token;
  options.tls = server.tls;
  options.request_id = server.request_id;
  const std::string map_file = absl::GetFlag(FLAGS_shard_map);
  if (map_file.empty()) return EngramClient::Create(options);
  ENGRAM_ASSIGN_OR_RETURN(client::ShardMap map,
                          client::ReadShardMapFile(map_file));
  client::ShardedClientOptions sharded;
  sharded.client = options;
  sharded.attempt_timeout = server.timeout;
  return client::ShardedClient::Create(std::move(map), sharded);
}

void WriteTableJson(const TableDescription& table, JsonWriter& json) {
  json.BeginObject();
  json.Key("name").String(table.name);
  json.Key("rows").Uint(table.rows);
  json.Key("row_bytes").Uint(table.row_bytes);
  json.Key("dtype").String(ElementTypeName(table.element_type));
  json.Key("version").Uint(table.version);
  json.Key("dims").BeginArray();
  for (uint32_t dim : table.dims) json.Uint(dim);
  json.EndArray();
  json.Key("hash_spec_digest").String(table.hash_spec_digest);
  json.Key("compression_digest").String(table.compression_digest);
  json.Key("compression_map_held").Bool(table.compression_map_held);
  json.Key("placement").String(table.placement);
  json.Key("content_digest").String(table.content_digest);
  json.Key("rows_written").Uint(table.rows_written);
  json.Key("missing_rows").String(table.missing_rows);
  json.Key("stats").BeginObject();
  json.Key("bytes_in_ram").Uint(table.stats.bytes_in_ram);
  json.Key("bytes_on_ssd").Uint(table.stats.bytes_on_ssd);
  json.Key("cache_hits").Uint(table.stats.cache_hits);
  json.Key("cache_misses").Uint(table.stats.cache_misses);
  json.Key("cache_bytes_used").Uint(table.stats.cache_bytes_used);
  json.Key("cache_capacity_bytes").Uint(table.stats.cache_capacity_bytes);
  json.Key("cache_hit_rate").Double(table.stats.cache_hit_rate);
  json.Key("rows_in_ram").Uint(table.stats.rows_in_ram);
  json.Key("rows_on_ssd").Uint(table.stats.rows_on_ssd);
  json.Key("cache_utilization").Double(table.stats.cache_utilization);
  json.EndObject();
  json.EndObject();
}

void PrintTableText(const TableDescription& table) {
  std::cout << absl::StrFormat(
      "%-24s rows=%d row_bytes=%d dtype=%s dims=[%s] version=%d%s%s\n",
      table.name, table.rows, table.row_bytes,
      ElementTypeName(table.element_type), absl::StrJoin(table.dims, ","),
      table.version,
      table.hash_spec_digest.empty()
          ? ""
          : absl::StrCat(" hash_spec=", table.hash_spec_digest),
      table.compression_digest.empty()
          ? ""
          : absl::StrCat(" compression=", table.compression_digest,
                         table.compression_map_held ? "" : " (map not held)"));
}

absl::Status ListTables(EngramClient& client) {
  ENGRAM_ASSIGN_OR_RETURN(std::vector<TableDescription> tables,
                          client.ListTables());
  if (!absl::GetFlag(FLAGS_json)) {
    for (const TableDescription& table : tables) PrintTableText(table);
    return absl::OkStatus();
  }
  JsonWriter json;
  json.BeginObject().Key("tables").BeginArray();
  for (const TableDescription& table : tables) WriteTableJson(table, json);
  json.EndArray().EndObject();
  std::cout << json.str() << "\n";
  return absl::OkStatus();
}

absl::Status DescribeTable(EngramClient& client, const std::string& name) {
  ENGRAM_ASSIGN_OR_RETURN(TableDescription table, client.DescribeTable(name));
  if (!absl::GetFlag(FLAGS_json)) {
    PrintTableText(table);
    return absl::OkStatus();
  }
  JsonWriter json;
  WriteTableJson(table, json);
  std::cout << json.str() << "\n";
  return absl::OkStatus();
}

// Elements per row of a typed table: its dims if given, else as many as fit.
size_t ElementsPerRow(const TableDescription& table) {
  if (!table.dims.empty()) {
    size_t elements = 1;
    for (uint32_t dim : table.dims) elements *= dim;
    return elements;
  }
  return table.row_bytes / ElementBytes(table.element_type);
}

void WriteRowJson(const TableDescription& table, const char* row,
                  JsonWriter& json) {
  if (table.element_type == ElementType::kOpaque) {
    std::string hex;
    for (uint32_t i = 0; i < table.row_bytes; ++i) {
      absl::StrAppendFormat(&hex, "%02x", static_cast<uint8_t>(row[i]));
    }
    json.String(hex);
    return;
  }
  const size_t element_bytes = ElementBytes(table.element_type);
  json.BeginArray();
  for (size_t i = 0; i < ElementsPerRow(table); ++i) {
    json.Double(DecodeElement(table.element_type, row + i * element_bytes));
  }
  json.EndArray();
}

absl::Status Lookup(EngramClient& client, const std::string& name) {
  ENGRAM_ASSIGN_OR_RETURN(
      std::vector<uint64_t> ids,
      ParseRowIdList(absl::GetFlag(FLAGS_rows), kMaxLookupRows));
  ENGRAM_ASSIGN_OR_RETURN(TableDescription table, client.DescribeTable(name));
  std::vector<char> rows(ids.size() * table.row_bytes);
  ENGRAM_ASSIGN_OR_RETURN(client::LookupResult result,
                          client.Lookup(name, ids, absl::MakeSpan(rows)));
  // The table may have changed since DescribeTable; trust the response.
  table.row_bytes = result.row_bytes;
  if (!absl::GetFlag(FLAGS_json)) {
    for (size_t i = 0; i < ids.size(); ++i) {
      JsonWriter row;
      WriteRowJson(table, rows.data() + i * result.row_bytes, row);
      std::cout << ids[i] << ": "
                << (result.is_missing(i) ? "missing" : row.str()) << "\n";
    }
    return absl::OkStatus();
  }
  JsonWriter json;
  json.BeginObject();
  json.Key("table").String(name);
  json.Key("version").Uint(result.version);
  json.Key("row_bytes").Uint(result.row_bytes);
  json.Key("dtype").String(ElementTypeName(table.element_type));
  json.Key("rows").BeginArray();
  for (size_t i = 0; i < ids.size(); ++i) {
    WriteRowJson(table, rows.data() + i * result.row_bytes, json);
  }
  json.EndArray();
  // Positions of rows the (sparse) table lacks; their rows above are zeros.
  json.Key("missing").BeginArray();
  for (size_t i = 0; i < ids.size(); ++i) {
    if (result.is_missing(i)) json.Uint(i);
  }
  json.EndArray().EndObject();
  std::cout << json.str() << "\n";
  return absl::OkStatus();
}

// How many arguments a command takes after its name.
struct Arity {
  size_t min;
  size_t max;
};

// Every command by name; those with subcommands (patch) as "patch apply".
const std::map<std::string, Arity>& CommandArity() {
  static const auto* arity = new std::map<std::string, Arity>{
      {"tables", {0, 0}},          {"describe", {1, 1}},
      {"lookup", {1, 1}},          {"addresses", {0, 0}},
      {"import", {2, 2}},          {"patch apply", {1, 1}},
      {"patch create", {1, 1}},    {"patch upload", {1, 2}},
      {"patch commit", {1, 1}},    {"patch abort", {1, 1}},
      {"patch activate", {2, 2}},  {"patch rollback", {1, 1}},
      {"patch list", {1, 1}},      {"rollback", {1, 1}},
      {"versions", {1, 1}},        {"patch diff", {2, 2}},
      {"compression-map", {0, 0}}, {"explain", {0, 0}},
      {"export", {2, 2}},          {"drop", {1, 1}}};
  return *arity;
}

// The commands --shard-map goes with, in the order usage errors list them.
const std::vector<std::string>& ShardMapCommands() {
  static const auto* commands =
      new std::vector<std::string>{"tables", "describe",    "lookup", "export",
                                   "import", "patch apply", "drop"};
  return *commands;
}

// Empty when `args` name a command with the right arguments, and the flags
// go together; else why not.
std::string UsageProblem(const std::vector<std::string>& args) {
  if (args.empty()) return "no command given";
  std::string command = args[0];
  size_t words = 1;
  if (command == "patch") {
    if (args.size() < 2) {
      return "'patch' needs a subcommand: apply, create, upload, commit, "
             "abort, activate, rollback, list or diff";
    }
    command = absl::StrCat("patch ", args[1]);
    words = 2;
  }
  const auto it = CommandArity().find(command);
  if (it == CommandArity().end()) {
    return absl::StrCat("unknown command '", command, "'");
  }
  const auto [min, max] = it->second;
  const size_t given = args.size() - words;
  if (given < min || given > max) {
    return absl::StrCat("'", command, "' takes ", min,
                        min == max ? "" : absl::StrCat(" to ", max),
                        " argument(s)");
  }
  if (!absl::GetFlag(FLAGS_shard_map).empty()) {
    if (!absl::GetFlag(FLAGS_server).empty()) {
      return "--server and --shard-map exclude each other: the shard map "
             "names the servers";
    }
    if (!absl::c_linear_search(ShardMapCommands(), command)) {
      return absl::StrCat("--shard-map works with '",
                          absl::StrJoin(ShardMapCommands(), "', '"),
                          "' only, not '", command, "'");
    }
  }
  return "";
}

// `patch ...` and its aliases `rollback` and `versions` (patch list).
absl::Status Patch(std::vector<std::string> args,
                   const AdminChannelOptions& server) {
  if (args[0] == "patch") {
    args.erase(args.begin());
  } else if (args[0] == "versions") {
    args[0] = "list";
  }
  PatchOptions options;
  options.server = server;
  options.ids_file = absl::GetFlag(FLAGS_ids);
  options.rows_file = absl::GetFlag(FLAGS_rows);
  options.description = absl::GetFlag(FLAGS_description);
  options.digest = absl::GetFlag(FLAGS_digest);
  options.to_version = absl::GetFlag(FLAGS_to);
  options.json = absl::GetFlag(FLAGS_json);
  options.shard_map_file = absl::GetFlag(FLAGS_shard_map);
  return RunPatchCommand(args, options);
}

absl::Status Run(const std::vector<std::string>& args) {
  if (args[0] == "addresses") {
    ENGRAM_ASSIGN_OR_RETURN(std::string json, RunAddressesCommand());
    std::cout << json << "\n";
    return absl::OkStatus();
  }
  if (args[0] == "compression-map") {
    CompressionMapOptions options;
    options.tokenizer_file = absl::GetFlag(FLAGS_tokenizer);
    options.out_file = absl::GetFlag(FLAGS_out);
    options.json = absl::GetFlag(FLAGS_json);
    return RunCompressionMapCommand(options);
  }
  if (args[0] == "patch" && args[1] == "diff") {
    PatchDiffOptions options;
    options.old_file = args[2];
    options.new_file = args[3];
    options.out_ids = absl::GetFlag(FLAGS_out_ids);
    options.out_rows = absl::GetFlag(FLAGS_out_rows);
    options.tolerance = absl::GetFlag(FLAGS_tolerance);
    options.json = absl::GetFlag(FLAGS_json);
    return RunPatchDiffCommand(options);
  }
  ENGRAM_ASSIGN_OR_RETURN(const AdminChannelOptions server, ServerFromFlags());
  if (args[0] == "explain") {
    ExplainOptions options;
    options.server = server;
    options.table = absl::GetFlag(FLAGS_table);
    options.tokens = absl::GetFlag(FLAGS_tokens);
    options.version = absl::GetFlag(FLAGS_at_version);
    ENGRAM_ASSIGN_OR_RETURN(options.compression_file,
                            CompressionFileFromFlags());
    options.json = absl::GetFlag(FLAGS_json);
    return RunExplainCommand(options);
  }
  if (args[0] == "patch" || args[0] == "rollback" || args[0] == "versions") {
    return Patch(args, server);
  }
  if (args[0] == "drop") {
    DropOptions options;
    options.server = server;
    options.shard_map_file = absl::GetFlag(FLAGS_shard_map);
    options.force = absl::GetFlag(FLAGS_force);
    options.json = absl::GetFlag(FLAGS_json);
    return RunDropCommand(args[1], options);
  }
  if (args[0] == "import") {
    ImportOptions options;
    options.server = server;
    options.table = args[1];
    options.file = args[2];
    options.dtype = absl::GetFlag(FLAGS_dtype);
    options.tensors = absl::GetFlag(FLAGS_tensor);
    options.placement = absl::GetFlag(FLAGS_placement);
    options.row_bytes = absl::GetFlag(FLAGS_row_bytes);
    options.ids_file = absl::GetFlag(FLAGS_ids);
    options.id_space = absl::GetFlag(FLAGS_id_space);
    options.missing = absl::GetFlag(FLAGS_missing);
    options.server_file = absl::GetFlag(FLAGS_server_file);
    options.data_dir = absl::GetFlag(FLAGS_data_dir);
    options.json = absl::GetFlag(FLAGS_json);
    options.shard_map_file = absl::GetFlag(FLAGS_shard_map);
    options.jobs = absl::GetFlag(FLAGS_jobs);
    ENGRAM_ASSIGN_OR_RETURN(options.addressing, TableAddressingFromFlags());
    if (const int64_t layer = absl::GetFlag(FLAGS_hash_layer); layer >= 0) {
      if (options.addressing.has_value()) {
        return absl::InvalidArgumentError(
            "--hash-layer and --hash-spec both give the table's addressing: "
            "give one");
      }
      ENGRAM_ASSIGN_OR_RETURN(options.hash_config, HashSpecConfigFromFlags());
      options.hash_layer_id = layer;
    } else if (AddressingFlagsGiven() && !options.addressing.has_value()) {
      // Alone they would be ignored, and the table taken for one of raw ids.
      return absl::InvalidArgumentError(
          "import --compression and --model-config describe a table's hash "
          "spec: give --hash-layer too (or, for --compression, --hash-spec)");
    }
    if (const std::string range = absl::GetFlag(FLAGS_row_range);
        !range.empty()) {
      const std::pair<std::string, std::string> bounds =
          absl::StrSplit(range, absl::MaxSplits(':', 1));
      if (!absl::SimpleAtoi(bounds.first, &options.first_row) ||
          !absl::SimpleAtoi(bounds.second, &options.end_row)) {
        return absl::InvalidArgumentError(
            absl::StrCat("--row-range '", range, "' is not FIRST:END"));
      }
    }
    return RunImportCommand(options);
  }
  ENGRAM_ASSIGN_OR_RETURN(std::unique_ptr<EngramClient> client,
                          Connect(server));
  if (args[0] == "tables") return ListTables(*client);
  if (args[0] == "describe") return DescribeTable(*client, args[1]);
  if (args[0] == "export") {
    ExportOptions options;
    options.table = args[1];
    options.out_file = args[2];
    options.ids_file = absl::GetFlag(FLAGS_ids);
    options.hash_spec_file = absl::GetFlag(FLAGS_hash_spec);
    options.compression_file = absl::GetFlag(FLAGS_compression);
    options.version = absl::GetFlag(FLAGS_at_version);
    options.max_rate_mb = absl::GetFlag(FLAGS_max_rate_mb);
    options.resume = absl::GetFlag(FLAGS_resume);
    options.json = absl::GetFlag(FLAGS_json);
    return RunExportCommand(*client, options);
  }
  return Lookup(*client, args[1]);
}

// argv with explain's `--version V` (or `--version=V`) as --at-version: a
// --version followed by no value is left to Abseil, which prints the build
// info.
std::vector<std::string> RenameVersionFlag(int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--") break;
    for (const std::string spelling : {"--version", "-version"}) {
      if (args[i] == spelling && i + 1 < args.size() &&
          !absl::StartsWith(args[i + 1], "-")) {
        args[i] = "--at_version";
      } else if (absl::StartsWith(args[i], spelling + "=")) {
        args[i] = "--at_version" + args[i].substr(spelling.size());
      }
    }
  }
  return args;
}

}  // namespace
}  // namespace engram::cli

int main(int argc, char** argv) {
  // Imports, exports and lookups move MiB-sized messages; see
  // malloc_tuning.h.
  engram::TuneMallocForLargeBuffers();
  std::vector<std::string> renamed = engram::cli::RenameVersionFlag(argc, argv);
  std::vector<char*> renamed_argv;
  for (std::string& arg : renamed) renamed_argv.push_back(arg.data());
  const std::vector<std::string> args = engram::ParseCommandLine(
      static_cast<int>(renamed_argv.size()), renamed_argv.data(),
      engram::cli::kUsage, /*config_flag=*/false);
  if (const std::string problem = engram::cli::UsageProblem(args);
      !problem.empty()) {
    std::cerr << "engramctl: " << problem << "\n"
              << engram::cli::kUsage << "\n";
    return 2;
  }
  const absl::Status status = engram::cli::Run(args);
  if (status.ok()) return 0;
  std::cerr << absl::StatusCodeToString(status.code()) << ": "
            << status.message() << "\n";
  return 1;
}

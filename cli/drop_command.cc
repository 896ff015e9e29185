#include "cli/drop_command.h"

#include <iostream>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/algorithm/container.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/shard_map.h"
#include "common/json_writer.h"
#include "common/status_context.h"
#include "common/status_macros.h"

namespace engram::cli {
namespace {

absl::StatusOr<v1::DropTableResponse> Drop(const AdminChannel& channel,
                                           const std::string& table,
                                           bool force) {
  v1::DropTableRequest request;
  request.set_table(table);
  request.set_force(force);
  return channel.Call(channel.admin(), &v1::EngramAdmin::Stub::DropTable,
                      request);
}

// What went, as fields of the JSON object `json` is writing.
void WriteDroppedFields(const v1::DropTableResponse& dropped,
                        JsonWriter& json) {
  const v1::TableInfo& table = dropped.table();
  json.Key("rows").Uint(table.rows());
  json.Key("row_bytes").Uint(table.row_bytes());
  json.Key("placement").String(table.placement());
  json.Key("version").Uint(table.version());
  json.Key("released_pins").Uint(dropped.released_pins());
  json.Key("deleted_patches").Uint(dropped.deleted_patches());
}

// "(R rows x B B, PLACEMENT, version V active); P pin(s) released, ...".
std::string DroppedText(const v1::DropTableResponse& dropped) {
  const v1::TableInfo& table = dropped.table();
  return absl::StrFormat(
      "(%d rows x %d B, %s, version %d active); %d pin(s) released, %d "
      "patch(es) deleted",
      table.rows(), table.row_bytes(),
      table.placement().empty() ? "ram" : table.placement(), table.version(),
      dropped.released_pins(), dropped.deleted_patches());
}

absl::Status DropFromServer(const std::string& table,
                            const DropOptions& options) {
  ENGRAM_ASSIGN_OR_RETURN(
      const v1::DropTableResponse dropped,
      Drop(AdminChannel(options.server), table, options.force));
  if (!options.json) {
    std::cout << "dropped table " << dropped.table().name() << " "
              << DroppedText(dropped) << "\n";
    return absl::OkStatus();
  }
  JsonWriter json;
  json.BeginObject();
  json.Key("dropped").String(dropped.table().name());
  WriteDroppedFields(dropped, json);
  json.EndObject();
  std::cout << json.str() << "\n";
  return absl::OkStatus();
}

// One server of a sharded table, and what became of the table there.
struct ReplicaDrop {
  const client::Shard* shard = nullptr;
  std::string address;
  std::unique_ptr<AdminChannel> channel;
  // It had no such table when asked (dropped by an earlier run).
  bool absent = false;
  std::optional<v1::DropTableResponse> dropped;
};

std::string Where(const ReplicaDrop& replica) {
  return absl::StrCat(client::ShardName(*replica.shard), " at ",
                      replica.address);
}

// What a failed sharded drop leaves: where the table went, and where not.
std::string DroppedSoFar(const std::vector<ReplicaDrop>& replicas) {
  std::string dropped, served;
  for (const ReplicaDrop& replica : replicas) {
    if (replica.absent) continue;
    std::string& list = replica.dropped.has_value() ? dropped : served;
    absl::StrAppend(&list, list.empty() ? "" : ", ", Where(replica));
  }
  return absl::StrCat(
      "dropped at: ", dropped.empty() ? "nowhere" : dropped,
      "; still served at: ", served,
      " (servers are dropped one by one, not atomically; a second run goes "
      "on where this one stopped)");
}

void PrintShardedDrop(const std::string& table,
                      const std::vector<ReplicaDrop>& replicas, bool as_json) {
  if (!as_json) {
    for (const ReplicaDrop& replica : replicas) {
      std::cout << table << " " << Where(replica) << ": "
                << (replica.dropped.has_value()
                        ? absl::StrCat("dropped ",
                                       DroppedText(*replica.dropped))
                        : "not there (dropped before)")
                << "\n";
    }
    return;
  }
  JsonWriter json;
  json.BeginObject();
  json.Key("dropped").String(table);
  json.Key("replicas").BeginArray();
  for (const ReplicaDrop& replica : replicas) {
    json.BeginObject();
    json.Key("address").String(replica.address);
    json.Key("first_row").Uint(replica.shard->first_row);
    json.Key("end_row").Uint(replica.shard->end_row);
    json.Key("dropped").Bool(replica.dropped.has_value());
    if (replica.dropped.has_value()) {
      WriteDroppedFields(*replica.dropped, json);
    }
    json.EndObject();
  }
  json.EndArray();
  json.EndObject();
  std::cout << json.str() << "\n";
}

absl::Status DropSharded(const std::string& table, const DropOptions& options) {
  ENGRAM_ASSIGN_OR_RETURN(
      const client::TableShards shards,
      client::ReadTableShards(options.shard_map_file, table));
  std::vector<ReplicaDrop> replicas;
  for (const client::Shard& shard : shards.shards) {
    for (const std::string& address : shard.replicas) {
      AdminChannelOptions server = options.server;
      server.address = address;
      ReplicaDrop& replica = replicas.emplace_back();
      replica.shard = &shard;
      replica.address = address;
      replica.channel = std::make_unique<AdminChannel>(std::move(server));
      v1::DescribeTableRequest describe;
      describe.set_table(table);
      const absl::Status described =
          replica.channel
              ->Call(replica.channel->data(),
                     &v1::EngramService::Stub::DescribeTable, describe)
              .status();
      replica.absent = absl::IsNotFound(described);
      if (!described.ok() && !replica.absent) {
        return Annotate(
            described,
            absl::StrCat("asking ", Where(replica), " for table '", table,
                         "' (nothing was dropped anywhere): "));
      }
    }
  }
  if (absl::c_all_of(replicas, [](const ReplicaDrop& replica) {
        return replica.absent;
      })) {
    return absl::NotFoundError(absl::StrCat("no server of shard map ",
                                            options.shard_map_file,
                                            " has table '", table, "'"));
  }
  for (ReplicaDrop& replica : replicas) {
    if (replica.absent) continue;
    absl::StatusOr<v1::DropTableResponse> dropped =
        Drop(*replica.channel, table, options.force);
    if (!dropped.ok()) {
      return Annotate(dropped.status(),
                      absl::StrCat("dropping table '", table, "' from ",
                                   Where(replica), ": "),
                      absl::StrCat("; ", DroppedSoFar(replicas)));
    }
    replica.dropped = *std::move(dropped);
  }
  PrintShardedDrop(table, replicas, options.json);
  return absl::OkStatus();
}

}  // namespace

absl::Status RunDropCommand(const std::string& table,
                            const DropOptions& options) {
  return options.shard_map_file.empty() ? DropFromServer(table, options)
                                        : DropSharded(table, options);
}

}  // namespace engram::cli

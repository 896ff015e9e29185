#include "client/shard_map.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status_context.h"
#include "common/status_macros.h"

namespace engram::client {
namespace {

// Sorts each table's shards and checks they tile [0, rows).
absl::Status CheckCoverage(ShardMap& map) {
  for (auto& [name, table] : map) {
    std::sort(table.shards.begin(), table.shards.end(),
              [](const Shard& a, const Shard& b) {
                return a.first_row < b.first_row;
              });
    uint64_t next = 0;
    for (const Shard& shard : table.shards) {
      if (shard.first_row != next || shard.end_row <= shard.first_row) {
        return absl::InvalidArgumentError(absl::StrCat(
            "the shards of table '", name, "' do not tile [0, ", table.rows,
            "): expected one from row ", next, ", found [", shard.first_row,
            ", ", shard.end_row, ")"));
      }
      next = shard.end_row;
    }
    if (next != table.rows) {
      return absl::InvalidArgumentError(absl::StrCat("the shards of table '",
                                                     name, "' end at row ",
                                                     next, " of ", table.rows));
    }
  }
  return absl::OkStatus();
}

// A server holds one row range of a table, so it is one replica of one of
// its shards; listed twice, it would be patched or dropped twice.
absl::Status CheckEachServerOnce(const ShardMap& map) {
  for (const auto& [name, table] : map) {
    absl::flat_hash_map<absl::string_view, const Shard*> seen;
    for (const Shard& shard : table.shards) {
      for (const std::string& address : shard.replicas) {
        const auto [it, added] = seen.emplace(address, &shard);
        if (!added) {
          return absl::InvalidArgumentError(absl::StrCat(
              "server ", address, " is listed twice for table '", name, "' (",
              ShardName(*it->second), " and ", ShardName(shard),
              "); a server holds one row range of a table"));
        }
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ShardMap> ParseShardMap(absl::string_view text) {
  ShardMap map;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = line.substr(0, line.find('#'));
    const std::vector<absl::string_view> words =
        absl::StrSplit(line, absl::ByAnyChar(" \t\r"), absl::SkipEmpty());
    if (words.empty()) continue;
    const auto bad = [&](absl::string_view why) {
      return absl::InvalidArgumentError(
          absl::StrCat("shard map line ", line_number, ": ", why));
    };
    uint64_t first = 0;
    uint64_t second = 0;
    if (words[0] == "table") {
      if (words.size() != 4 || words[2] != "rows" ||
          !absl::SimpleAtoi(words[3], &first)) {
        return bad("expected 'table NAME rows N'");
      }
      if (!map.emplace(std::string(words[1]), TableShards{first, {}}).second) {
        return bad(absl::StrCat("table '", words[1], "' appears twice"));
      }
    } else if (words[0] == "shard") {
      if (words.size() < 5 || !absl::SimpleAtoi(words[2], &first) ||
          !absl::SimpleAtoi(words[3], &second)) {
        return bad("expected 'shard TABLE FIRST END REPLICA...'");
      }
      const auto table = map.find(words[1]);
      if (table == map.end()) {
        return bad(absl::StrCat("shard of table '", words[1],
                                "' before its 'table' line"));
      }
      Shard shard{first, second, {}};
      for (size_t i = 4; i < words.size(); ++i) {
        shard.replicas.emplace_back(words[i]);
      }
      table->second.shards.push_back(std::move(shard));
    } else {
      return bad(absl::StrCat("unknown directive '", words[0], "'"));
    }
  }
  ENGRAM_RETURN_IF_ERROR(CheckCoverage(map));
  ENGRAM_RETURN_IF_ERROR(CheckEachServerOnce(map));
  return map;
}

std::string ShardName(const Shard& shard) {
  return absl::StrCat("shard [", shard.first_row, ", ", shard.end_row, ")");
}

absl::StatusOr<ShardMap> ReadShardMapFile(const std::string& path) {
  std::ifstream file(path);
  if (!file) {
    return absl::NotFoundError(absl::StrCat("cannot read shard map ", path));
  }
  std::stringstream text;
  text << file.rdbuf();
  absl::StatusOr<ShardMap> map = ParseShardMap(text.str());
  if (!map.ok()) {
    return Annotate(map.status(), absl::StrCat(path, ": "));
  }
  return map;
}

absl::StatusOr<TableShards> ReadTableShards(const std::string& path,
                                            absl::string_view table) {
  ENGRAM_ASSIGN_OR_RETURN(ShardMap map, ReadShardMapFile(path));
  const auto shards = map.find(table);
  if (shards == map.end()) {
    return absl::NotFoundError(
        absl::StrCat("no table '", table, "' in shard map ", path));
  }
  return std::move(shards->second);
}

absl::StatusOr<ShardMap> DiscoverShardMap(
    const std::vector<std::string>& servers, const ClientOptions& options) {
  ShardMap map;
  for (const std::string& server : servers) {
    ClientOptions server_options = options;
    server_options.server_address = server;
    ENGRAM_ASSIGN_OR_RETURN(std::unique_ptr<EngramClient> client,
                            EngramClient::Create(server_options));
    absl::StatusOr<std::vector<TableDescription>> tables = client->ListTables();
    if (!tables.ok()) {
      return Annotate(tables.status(), absl::StrCat("server ", server, ": "));
    }
    for (const TableDescription& table : *tables) {
      TableShards& shards = map[table.name];
      shards.rows = table.total_rows;
      const uint64_t end = table.first_row + table.rows;
      const auto same = std::find_if(
          shards.shards.begin(), shards.shards.end(), [&](const Shard& s) {
            return s.first_row == table.first_row && s.end_row == end;
          });
      if (same != shards.shards.end()) {
        same->replicas.push_back(server);
      } else {
        shards.shards.push_back({table.first_row, end, {server}});
      }
    }
  }
  ENGRAM_RETURN_IF_ERROR(CheckCoverage(map));
  ENGRAM_RETURN_IF_ERROR(CheckEachServerOnce(map));
  return map;
}

}  // namespace engram::client

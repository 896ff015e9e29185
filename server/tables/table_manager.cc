#include "server/tables/table_manager.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace engram::server {

TableManager::TableManager() : snapshot_(std::make_shared<const TableMap>()) {}

absl::StatusOr<std::shared_ptr<const Table>> TableManager::Get(
    absl::string_view name) const {
  const std::shared_ptr<const TableMap> map = snapshot_.load();
  const auto it = map->find(name);
  if (it == map->end()) {
    return absl::NotFoundError(absl::StrCat("no table named '", name, "'"));
  }
  return it->second;
}

std::vector<std::shared_ptr<const Table>> TableManager::List() const {
  const std::shared_ptr<const TableMap> map = snapshot_.load();
  std::vector<std::shared_ptr<const Table>> tables;
  tables.reserve(map->size());
  for (const auto& [name, table] : *map) tables.push_back(table);
  std::sort(tables.begin(), tables.end(),
            [](const auto& a, const auto& b) { return a->name() < b->name(); });
  return tables;
}

void TableManager::Publish(std::shared_ptr<const Table> table) {
  std::shared_ptr<const TableMap> replaced;
  {
    absl::MutexLock lock(&write_mu_);
    auto next = std::make_shared<TableMap>(*snapshot_.load());
    (*next)[table->name()] = std::move(table);
    replaced = snapshot_.exchange(std::move(next));
  }
  // `replaced` (and any table only it held) is freed here, outside the lock.
}

}  // namespace engram::server

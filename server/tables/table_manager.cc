#include "server/tables/table_manager.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace engram::server {

TableManager::TableManager() : snapshot_(std::make_shared<const TableMap>()) {}

std::shared_ptr<const TableManager::TableMap> TableManager::Snapshot() const {
  absl::ReaderMutexLock lock(&snapshot_mu_);
  return snapshot_;
}

absl::StatusOr<std::shared_ptr<const Table>> TableManager::Get(
    absl::string_view name) const {
  const std::shared_ptr<const TableMap> map = Snapshot();
  const auto it = map->find(name);
  if (it == map->end()) {
    return absl::NotFoundError(absl::StrCat("no table named '", name, "'"));
  }
  return it->second.active;
}

absl::StatusOr<std::shared_ptr<const Table>> TableManager::GetVersion(
    absl::string_view name, uint64_t version) const {
  const std::shared_ptr<const TableMap> map = Snapshot();
  const auto it = map->find(name);
  if (it == map->end()) {
    return absl::NotFoundError(absl::StrCat("no table named '", name, "'"));
  }
  const auto found = it->second.retained.find(version);
  if (found == it->second.retained.end()) {
    return absl::NotFoundError(
        absl::StrCat("table '", name, "' has no version ", version,
                     " (not created, or no longer retained); active is ",
                     it->second.active->version()));
  }
  return found->second;
}

std::vector<std::shared_ptr<const Table>> TableManager::List() const {
  const std::shared_ptr<const TableMap> map = Snapshot();
  std::vector<std::shared_ptr<const Table>> tables;
  tables.reserve(map->size());
  for (const auto& [name, versions] : *map) tables.push_back(versions.active);
  std::sort(tables.begin(), tables.end(),
            [](const auto& a, const auto& b) { return a->name() < b->name(); });
  return tables;
}

void TableManager::Publish(std::shared_ptr<const Table> table) {
  std::vector<std::shared_ptr<const Table>> retained = {table};
  PublishVersions(std::move(table), std::move(retained));
}

void TableManager::PublishVersions(
    std::shared_ptr<const Table> active,
    std::vector<std::shared_ptr<const Table>> retained) {
  Versions versions;
  for (std::shared_ptr<const Table>& table : retained) {
    const uint64_t version = table->version();
    versions.retained.emplace(version, std::move(table));
  }
  versions.active = std::move(active);
  std::shared_ptr<const TableMap> replaced;
  {
    absl::MutexLock lock(&write_mu_);
    auto next = std::make_shared<TableMap>(*Snapshot());
    (*next)[versions.active->name()] = std::move(versions);
    replaced = SwapLocked(std::move(next));
  }
  // `replaced` (and any table only it held) is freed here, outside the lock.
}

absl::Status TableManager::Remove(absl::string_view name) {
  std::shared_ptr<const TableMap> replaced;
  {
    absl::MutexLock lock(&write_mu_);
    auto next = std::make_shared<TableMap>(*Snapshot());
    if (next->erase(name) == 0) {
      return absl::NotFoundError(absl::StrCat("no table named '", name, "'"));
    }
    replaced = SwapLocked(std::move(next));
  }
  return absl::OkStatus();
}

std::shared_ptr<const TableManager::TableMap> TableManager::SwapLocked(
    std::shared_ptr<const TableMap> next) {
  absl::MutexLock swap(&snapshot_mu_);
  return std::exchange(snapshot_, std::move(next));
}

}  // namespace engram::server

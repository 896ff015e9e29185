#include "server/storage/table_storage.h"

#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "server/storage/row_cache.h"

namespace engram::server {
namespace {

constexpr char kRam[] = "ram";
constexpr char kSsd[] = "ssd";

bool IsSsd(const v1::TableInfo& info) { return info.placement() == kSsd; }

}  // namespace

uint64_t RamBytes(const v1::TableInfo& info) {
  return IsSsd(info) ? 0 : info.rows() * info.row_bytes();
}

absl::StatusOr<std::unique_ptr<TableStorage>> TableStorage::Create(
    const Options& options) {
  ENGRAM_ASSIGN_OR_RETURN(DataDir data_dir, DataDir::Open(options.data_dir));
  RowDatabase::Options database_options;
  database_options.path = options.data_dir + "/rocksdb";
  database_options.block_cache_bytes = options.block_cache_bytes;
  ENGRAM_ASSIGN_OR_RETURN(std::unique_ptr<RowDatabase> database,
                          RowDatabase::Create(database_options));
  return std::unique_ptr<TableStorage>(
      new TableStorage(options, std::move(data_dir), std::move(database)));
}

absl::StatusOr<std::shared_ptr<const RowStore>> TableStorage::OpenSsdTable(
    const v1::TableInfo& info) const {
  ENGRAM_ASSIGN_OR_RETURN(
      std::shared_ptr<const RowStore> rows,
      database_->OpenTable(info.name(), info.rows(), info.row_bytes()));
  if (options_.row_cache_bytes == 0) return rows;
  RowCache::Options cache_options;
  cache_options.capacity_bytes = options_.row_cache_bytes;
  cache_options.row_bytes = info.row_bytes();
  ENGRAM_ASSIGN_OR_RETURN(std::shared_ptr<RowCache> cache,
                          RowCache::Create(cache_options));
  ENGRAM_ASSIGN_OR_RETURN(
      std::unique_ptr<CachedRowStore> cached,
      CachedRowStore::Create(std::move(rows), std::move(cache)));
  return std::shared_ptr<const RowStore>(std::move(cached));
}

absl::StatusOr<std::vector<StoredTable>> TableStorage::LoadTables() {
  ENGRAM_ASSIGN_OR_RETURN(
      std::vector<StoredTable> tables,
      data_dir_.LoadTables(
          [this](const v1::TableInfo& info) { return OpenSsdTable(info); }));
  absl::flat_hash_set<std::string> manifests;
  for (const StoredTable& table : tables) manifests.insert(table.info.name());
  for (const RowDatabase::TableInfo& stored : database_->ListTables()) {
    if (manifests.contains(stored.name)) continue;
    // Rows ingested before a crash, or before a damaged manifest: never
    // visible, so nothing is lost by dropping them.
    LOG(WARNING) << "dropping RocksDB table " << stored.name
                 << ", which has no manifest";
    ENGRAM_RETURN_IF_ERROR(database_->DropTable(stored.name));
  }
  return tables;
}

absl::StatusOr<std::string> TableStorage::ChoosePlacement(
    absl::string_view requested, uint64_t table_bytes,
    uint64_t ram_bytes_in_use) const {
  if (requested.empty() || requested == kRam) return std::string(kRam);
  if (requested == kSsd) return std::string(kSsd);
  if (requested != "auto") {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown placement '", requested, "'; use ram, ssd or auto"));
  }
  const uint64_t budget = options_.ram_budget_bytes;
  const bool fits = budget == 0 || (ram_bytes_in_use <= budget &&
                                    table_bytes <= budget - ram_bytes_in_use);
  return std::string(fits ? kRam : kSsd);
}

absl::StatusOr<StoredTable> TableStorage::StoreTable(
    const v1::TableInfo& info, const char* rows,
    const DataDir::WriteOptions& options) {
  if (!IsSsd(info)) {
    ENGRAM_RETURN_IF_ERROR(data_dir_.WriteTable(info, rows, options));
    return data_dir_.LoadTable(info.name());
  }
  if (data_dir_.HasTable(info.name())) {
    return absl::AlreadyExistsError(
        absl::StrCat("table '", info.name(), "' already exists"));
  }
  BulkLoadOptions load_options;
  load_options.cancel = options.cancel;
  ENGRAM_RETURN_IF_ERROR(database_->BulkLoad(
      info.name(), info.rows(), info.row_bytes(), rows, load_options));
  // The manifest makes the ingested rows a table; without it they are
  // dropped at the next start.
  if (absl::Status written = data_dir_.WriteTable(info, nullptr, options);
      !written.ok()) {
    database_->DropTable(info.name()).IgnoreError();
    return written;
  }
  ENGRAM_ASSIGN_OR_RETURN(std::shared_ptr<const RowStore> store,
                          OpenSsdTable(info));
  return StoredTable{info, std::move(store)};
}

}  // namespace engram::server

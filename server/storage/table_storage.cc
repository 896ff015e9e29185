#include "server/storage/table_storage.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "server/storage/cached_row_store.h"

namespace engram::server {
namespace {

constexpr char kRam[] = "ram";
constexpr char kSsd[] = "ssd";

bool IsSsd(const v1::TableInfo& info) { return info.placement() == kSsd; }

absl::Status ErrnoError(absl::string_view what, const std::string& path) {
  return absl::InternalError(
      absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

// Writes all of `data` at `offset` of `fd`.
absl::Status PwriteAll(int fd, const char* data, uint64_t size, uint64_t offset,
                       const std::string& path) {
  while (size > 0) {
    const ssize_t n =
        pwrite(fd, data, std::min<uint64_t>(size, 64ull << 20), offset);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return ErrnoError("cannot write", path);
    data += n;
    size -= n;
    offset += n;
  }
  return absl::OkStatus();
}

}  // namespace

uint64_t RamTableBytes(const v1::TableInfo& info) {
  return info.rows() * info.row_bytes() +
         (IsSparse(info) ? (info.rows() + 7) / 8 : 0);
}

// A RAM table: rows.bin written in place in a staging directory (a sparse
// table's file is sized up front, so unwritten rows are holes that read as
// zeros), plus present.bin for sparse tables.
class TableStorage::RamTableWriter final : public TableWriter {
 public:
  static absl::StatusOr<std::unique_ptr<TableWriter>> Create(
      TableStorage* storage, v1::TableInfo info,
      const DataDir::WriteOptions& options, uint64_t ram_bytes) {
    auto writer = std::unique_ptr<RamTableWriter>(
        new RamTableWriter(storage, std::move(info), options, ram_bytes));
    ENGRAM_ASSIGN_OR_RETURN(
        writer->staged_,
        storage->data_dir_.Stage(writer->info().name(), options.sync));
    writer->rows_path_ =
        (std::filesystem::path(writer->staged_->path()) / kRowsFileName)
            .string();
    writer->fd_ = open(writer->rows_path_.c_str(),
                       O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (writer->fd_ < 0) return ErrnoError("cannot create", writer->rows_path_);
    if (IsSparse(writer->info())) {
      writer->present_.assign((writer->info().rows() + 7) / 8, '\0');
      if (ftruncate(writer->fd_,
                    writer->info().rows() * writer->info().row_bytes()) != 0) {
        return ErrnoError("cannot size", writer->rows_path_);
      }
    }
    return std::unique_ptr<TableWriter>(std::move(writer));
  }

  ~RamTableWriter() override {
    if (fd_ >= 0) close(fd_);
    // The staged directory removes itself unless published.
    staged_.reset();
    storage_->EndWrite(info().name(), ram_bytes_, committed_);
  }

 private:
  RamTableWriter(TableStorage* storage, v1::TableInfo info,
                 const DataDir::WriteOptions& options, uint64_t ram_bytes)
      : TableWriter(std::move(info)),
        storage_(storage),
        options_(options),
        ram_bytes_(ram_bytes) {}

  absl::Status WriteRows(uint64_t first_row, const char* rows,
                         uint64_t count) override {
    if (options_.cancel != nullptr && options_.cancel->load()) {
      return absl::CancelledError(
          absl::StrCat("write of table '", info().name(), "' cancelled"));
    }
    const uint32_t row_bytes = info().row_bytes();
    ENGRAM_RETURN_IF_ERROR(PwriteAll(fd_, rows, count * row_bytes,
                                     first_row * row_bytes, rows_path_));
    if (!present_.empty()) {
      for (uint64_t id = first_row; id < first_row + count; ++id) {
        present_[id / 8] |= static_cast<char>(1 << (id % 8));
      }
    }
    return absl::OkStatus();
  }

  absl::StatusOr<StoredTable> Finish(const v1::TableInfo& info) override {
    if (options_.sync && fsync(fd_) != 0) {
      return ErrnoError("cannot fsync", rows_path_);
    }
    const int fd = fd_;
    fd_ = -1;
    if (close(fd) != 0) return ErrnoError("cannot close", rows_path_);
    v1::TableManifest manifest;
    *manifest.mutable_info() = info;
    manifest.set_rows_file(kRowsFileName);
    if (IsSparse(info)) {
      manifest.set_present_file(kPresentFileName);
      ENGRAM_RETURN_IF_ERROR(staged_->WriteFile(kPresentFileName, present_));
    }
    ENGRAM_RETURN_IF_ERROR(
        staged_->WriteCompression(compression().get(), manifest));
    ENGRAM_RETURN_IF_ERROR(staged_->Publish(manifest));
    committed_ = true;
    return storage_->data_dir_.LoadTable(info.name());
  }

  TableStorage* const storage_;
  const DataDir::WriteOptions options_;
  const uint64_t ram_bytes_;
  std::unique_ptr<StagedTable> staged_;
  std::string rows_path_;
  int fd_ = -1;
  // Sparse tables: the presence bitmap being built.
  std::string present_;
  bool committed_ = false;
};

// An ssd table: rows bulk loaded into RocksDB, then the manifest.
class TableStorage::SsdTableWriter final : public TableWriter {
 public:
  static absl::StatusOr<std::unique_ptr<TableWriter>> Create(
      TableStorage* storage, v1::TableInfo info,
      const DataDir::WriteOptions& options) {
    auto writer = std::unique_ptr<SsdTableWriter>(
        new SsdTableWriter(storage, std::move(info), options));
    ENGRAM_ASSIGN_OR_RETURN(
        writer->staged_,
        storage->data_dir_.Stage(writer->info().name(), options.sync));
    ENGRAM_ASSIGN_OR_RETURN(writer->loader_,
                            storage->database_->BeginLoad(
                                writer->info().name(), writer->info().rows(),
                                writer->info().row_bytes()));
    return std::unique_ptr<TableWriter>(std::move(writer));
  }

  ~SsdTableWriter() override {
    loader_.reset();
    staged_.reset();
    storage_->EndWrite(info().name(), 0, false);
  }

 private:
  SsdTableWriter(TableStorage* storage, v1::TableInfo info,
                 const DataDir::WriteOptions& options)
      : TableWriter(std::move(info)), storage_(storage), options_(options) {}

  absl::Status WriteRows(uint64_t first_row, const char* rows,
                         uint64_t count) override {
    if (options_.cancel != nullptr && options_.cancel->load()) {
      return absl::CancelledError(
          absl::StrCat("write of table '", info().name(), "' cancelled"));
    }
    return loader_->Add(first_row, rows, count);
  }

  absl::StatusOr<StoredTable> Finish(const v1::TableInfo& info) override {
    ENGRAM_RETURN_IF_ERROR(loader_->Commit());
    v1::TableManifest manifest;
    *manifest.mutable_info() = info;
    // The manifest makes the ingested rows a table; without it they are
    // dropped at the next start.
    absl::Status published =
        staged_->WriteCompression(compression().get(), manifest);
    if (published.ok()) published = staged_->Publish(manifest);
    if (!published.ok()) {
      storage_->database_->DropTable(info.name()).IgnoreError();
      return published;
    }
    ENGRAM_ASSIGN_OR_RETURN(std::shared_ptr<const RowStore> rows,
                            storage_->OpenSsdTable(info));
    ENGRAM_ASSIGN_OR_RETURN(std::shared_ptr<const RowStore> cached,
                            storage_->AddCache(info, std::move(rows)));
    return StoredTable{info, std::move(cached), compression()};
  }

  TableStorage* const storage_;
  const DataDir::WriteOptions options_;
  std::unique_ptr<StagedTable> staged_;
  std::unique_ptr<BulkLoader> loader_;
};

absl::StatusOr<std::unique_ptr<TableStorage>> TableStorage::Create(
    const Options& options) {
  if (options.ram_budget_bytes > 0 &&
      options.block_cache_bytes > options.ram_budget_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("the RAM budget of ", options.ram_budget_bytes,
                     " B (--ram-budget) must cover the RocksDB block cache of ",
                     options.block_cache_bytes, " B (--block-cache-bytes)"));
  }
  ENGRAM_ASSIGN_OR_RETURN(DataDir data_dir, DataDir::Open(options.data_dir));
  RowDatabase::Options database_options;
  database_options.path = options.data_dir + "/rocksdb";
  database_options.block_cache_bytes = options.block_cache_bytes;
  database_options.mmap_reads = options.mmap_reads;
  database_options.verify_reads = options.verify_reads;
  ENGRAM_ASSIGN_OR_RETURN(std::unique_ptr<RowDatabase> database,
                          RowDatabase::Create(database_options));
  auto storage = std::unique_ptr<TableStorage>(
      new TableStorage(options, std::move(data_dir), std::move(database)));
  return storage;
}

TableStorage::~TableStorage() = default;

absl::StatusOr<std::shared_ptr<const RowStore>> TableStorage::OpenSsdTable(
    const v1::TableInfo& info) const {
  return database_->OpenTable(info.name(), info.rows(), info.row_bytes(),
                              IsSparse(info));
}

absl::StatusOr<std::shared_ptr<const RowStore>> TableStorage::AddCache(
    const v1::TableInfo& info, std::shared_ptr<const RowStore> rows) {
  uint64_t cache_bytes = options_.row_cache_bytes;
  absl::MutexLock lock(&mu_);
  if (options_.ram_budget_bytes > 0) {
    const uint64_t left = options_.ram_budget_bytes -
                          std::min(ram_charged_, options_.ram_budget_bytes);
    cache_bytes = std::min(cache_bytes, left);
  }
  if (cache_bytes == 0) {
    LOG(WARNING) << "table '" << info.name()
                 << "' reads RocksDB without a hot-row cache: no RAM budget "
                    "or --row-cache-bytes left";
    return rows;
  }
  RowCache::Options cache_options;
  cache_options.capacity_bytes = cache_bytes;
  cache_options.row_bytes = info.row_bytes();
  absl::StatusOr<std::unique_ptr<RowCache>> cache =
      RowCache::Create(cache_options);
  if (!cache.ok()) {
    LOG(WARNING) << "table '" << info.name()
                 << "' reads RocksDB without a hot-row cache: "
                 << cache.status().message();
    return rows;
  }
  ENGRAM_ASSIGN_OR_RETURN(
      std::unique_ptr<CachedRowStore> cached,
      CachedRowStore::Create(std::move(rows), *std::move(cache)));
  ChargeTableLocked(info.name(), cache_bytes);
  return std::shared_ptr<const RowStore>(std::move(cached));
}

absl::StatusOr<std::vector<StoredTable>> TableStorage::LoadTables() {
  ENGRAM_ASSIGN_OR_RETURN(
      std::vector<StoredTable> tables,
      data_dir_.LoadTables(
          [this](const v1::TableInfo& info) { return OpenSsdTable(info); }));
  absl::flat_hash_set<std::string> manifests;
  // RAM tables are charged first, so that caches get what they leave.
  for (const StoredTable& table : tables) {
    manifests.insert(table.info.name());
    if (IsSsd(table.info)) continue;
    absl::MutexLock lock(&mu_);
    ChargeTableLocked(table.info.name(), RamTableBytes(table.info));
  }
  for (StoredTable& table : tables) {
    if (!IsSsd(table.info)) continue;
    ENGRAM_ASSIGN_OR_RETURN(table.store,
                            AddCache(table.info, std::move(table.store)));
  }
  for (const RowDatabase::TableInfo& stored : database_->ListTables()) {
    if (manifests.contains(stored.name)) continue;
    // Rows ingested before a crash, or before a damaged manifest: never
    // visible, so nothing is lost by dropping them.
    LOG(WARNING) << "dropping RocksDB table " << stored.name
                 << ", which has no manifest";
    ENGRAM_RETURN_IF_ERROR(database_->DropTable(stored.name));
  }
  const RamUse use = ram_use();
  LOG_IF(WARNING, use.budget_bytes > 0 && use.charged_bytes > use.budget_bytes)
      << "tables and caches take " << use.charged_bytes
      << " B of RAM, over the budget of " << use.budget_bytes << " B";
  return tables;
}

absl::StatusOr<std::unique_ptr<TableWriter>> TableStorage::BeginTable(
    v1::TableInfo info, const DataDir::WriteOptions& options) {
  ENGRAM_RETURN_IF_ERROR(ValidateTableName(info.name()));
  if (info.row_bytes() == 0) {
    return absl::InvalidArgumentError("row_bytes must be > 0");
  }
  const absl::string_view requested = info.placement();
  if (!requested.empty() && requested != kRam && requested != kSsd &&
      requested != "auto") {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown placement '", requested, "'; use ram, ssd or auto"));
  }
  const uint64_t ram_bytes = RamTableBytes(info);
  {
    absl::MutexLock lock(&mu_);
    if (writing_.contains(info.name()) || data_dir_.HasTable(info.name())) {
      return absl::AlreadyExistsError(
          absl::StrCat("table '", info.name(), "' already exists"));
    }
    const uint64_t budget = options_.ram_budget_bytes;
    const bool fits = budget == 0 || (ram_charged_ <= budget &&
                                      ram_bytes <= budget - ram_charged_);
    if (requested == "auto") {
      info.set_placement(fits ? kRam : kSsd);
    } else if (requested.empty()) {
      info.set_placement(kRam);
    }
    if (!IsSsd(info) && !fits) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "table '", info.name(), "' needs ", ram_bytes, " B of RAM but only ",
          budget - std::min(ram_charged_, budget), " B of the ", budget,
          " B budget (--ram-budget) are left; place it on ssd or auto"));
    }
    writing_.insert(info.name());
    if (!IsSsd(info)) ram_charged_ += ram_bytes;
  }
  // From here the writer's destructor gives the name (and RAM) back.
  if (IsSsd(info)) {
    return SsdTableWriter::Create(this, std::move(info), options);
  }
  return RamTableWriter::Create(this, std::move(info), options, ram_bytes);
}

void TableStorage::EndWrite(const std::string& name, uint64_t ram_bytes,
                            bool keep_ram) {
  absl::MutexLock lock(&mu_);
  writing_.erase(name);
  // BeginTable charged the budget; a committed table keeps the charge.
  ram_charged_ -= ram_bytes;
  if (keep_ram) ChargeTableLocked(name, ram_bytes);
}

void TableStorage::ChargeTableLocked(absl::string_view name, uint64_t bytes) {
  ram_charged_ += bytes;
  charged_by_table_[name] += bytes;
}

absl::Status TableStorage::DropTable(absl::string_view name) {
  const absl::Status removed = data_dir_.RemoveTable(name);
  if (!removed.ok() && !absl::IsNotFound(removed)) return removed;
  if (removed.ok()) {
    // A RAM table has no column family: NotFound then.
    const absl::Status dropped = database_->DropTable(name);
    LOG_IF(WARNING, !dropped.ok() && !absl::IsNotFound(dropped))
        << "table '" << name << "': " << dropped
        << " (its rows in RocksDB are dropped at the next start)";
  }
  absl::MutexLock lock(&mu_);
  const auto charged = charged_by_table_.find(name);
  if (charged != charged_by_table_.end()) {
    ram_charged_ -= charged->second;
    charged_by_table_.erase(charged);
  }
  return removed;
}

absl::StatusOr<StoredTable> TableStorage::StoreTable(
    const v1::TableInfo& info, const char* rows,
    const DataDir::WriteOptions& options) {
  ENGRAM_ASSIGN_OR_RETURN(std::unique_ptr<TableWriter> writer,
                          BeginTable(info, options));
  ENGRAM_RETURN_IF_ERROR(
      writer->Append(absl::string_view(rows, info.rows() * info.row_bytes())));
  return writer->Commit("");
}

void TableStorage::ChargeBuiltTable(absl::string_view name, uint64_t bytes) {
  absl::MutexLock lock(&mu_);
  ChargeTableLocked(name, bytes);
}

RamUse TableStorage::ram_use() const {
  absl::MutexLock lock(&mu_);
  return RamUse{options_.ram_budget_bytes, ram_charged_};
}

}  // namespace engram::server

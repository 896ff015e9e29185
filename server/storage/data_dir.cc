#include "server/storage/data_dir.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/hash_spec_proto.h"
#include "common/logging.h"
#include "common/read_file.h"
#include "common/status_macros.h"
#include "common/sync_path.h"
#include "engram/v1/table_manifest.pb.h"
#include "google/protobuf/text_format.h"
#include "server/storage/ram_row_store.h"
#include "server/storage/sparse_row_store.h"

namespace engram::server {
namespace {

namespace fs = std::filesystem;

constexpr char kManifestFile[] = "manifest.textproto";
constexpr char kTempPrefix[] = ".tmp-";
constexpr char kSsdPlacement[] = "ssd";

absl::Status ErrnoError(absl::string_view what, const std::string& path) {
  return absl::InternalError(
      absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

absl::Status WriteFile(const std::string& path, const char* data, uint64_t size,
                       const DataDir::WriteOptions& options) {
  const int fd =
      open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoError("cannot create", path);
  uint64_t written = 0;
  while (written < size) {
    if (options.cancel != nullptr && options.cancel->load()) {
      close(fd);
      return absl::CancelledError(
          absl::StrCat("write of ", path, " cancelled"));
    }
    const ssize_t n = write(fd, data + written,
                            std::min<uint64_t>(size - written, 64ull << 20));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      absl::Status error = ErrnoError("cannot write", path);
      close(fd);
      return error;
    }
    written += n;
  }
  if (options.sync && fsync(fd) != 0) {
    absl::Status error = ErrnoError("cannot fsync", path);
    close(fd);
    return error;
  }
  if (close(fd) != 0) return ErrnoError("cannot close", path);
  return absl::OkStatus();
}

// The compression map stored with table `info`. DataLoss if it cannot be
// read or is not the map the table's hash spec names.
absl::StatusOr<std::shared_ptr<const CompressionMap>> LoadCompression(
    const fs::path& path, const v1::TableInfo& info) {
  absl::StatusOr<std::string> lookup = ReadFileToString(path.string());
  if (!lookup.ok()) {
    return absl::DataLossError(lookup.status().message());
  }
  absl::StatusOr<std::shared_ptr<const CompressionMap>> map =
      TableCompressionMap(info, *lookup);
  if (!map.ok()) {
    return absl::DataLossError(
        absl::StrCat(path.string(), ": ", map.status().message()));
  }
  return map;
}

absl::StatusOr<StoredTable> LoadTableDir(const fs::path& dir,
                                         SsdOpener open_ssd) {
  const std::string manifest_path = (dir / kManifestFile).string();
  std::ifstream in(manifest_path);
  if (!in) {
    return absl::DataLossError(absl::StrCat("table directory ", dir.string(),
                                            " has no ", kManifestFile));
  }
  std::stringstream text;
  text << in.rdbuf();
  v1::TableManifest manifest;
  if (!google::protobuf::TextFormat::ParseFromString(text.str(), &manifest)) {
    return absl::DataLossError(
        absl::StrCat("cannot parse manifest ", manifest_path));
  }
  const v1::TableInfo& info = manifest.info();
  if (info.name() != dir.filename().string()) {
    return absl::DataLossError(absl::StrCat(
        "manifest ", manifest_path, " names table '", info.name(),
        "' but lives in directory '", dir.filename().string(), "'"));
  }
  StoredTable table{.info = info};
  if (!manifest.compression_file().empty()) {
    ENGRAM_ASSIGN_OR_RETURN(
        table.compression,
        LoadCompression(dir / manifest.compression_file(), info));
  }
  if (info.placement() == kSsdPlacement) {
    ENGRAM_ASSIGN_OR_RETURN(table.store, open_ssd(info));
    return table;
  }
  ENGRAM_ASSIGN_OR_RETURN(
      std::unique_ptr<RamRowStore> store,
      RamRowStore::MapFile((dir / manifest.rows_file()).string(), info.rows(),
                           info.row_bytes()));
  if (manifest.present_file().empty()) {
    table.store = std::move(store);
    return table;
  }
  const std::string present_path = (dir / manifest.present_file()).string();
  std::ifstream present_in(present_path, std::ios::binary);
  std::string present((std::istreambuf_iterator<char>(present_in)),
                      std::istreambuf_iterator<char>());
  if (!present_in) {
    return absl::DataLossError(absl::StrCat("cannot read ", present_path));
  }
  absl::StatusOr<std::unique_ptr<SparseRowStore>> sparse =
      SparseRowStore::Create(std::move(store), std::move(present));
  if (!sparse.ok()) {
    return absl::DataLossError(
        absl::StrCat(present_path, ": ", sparse.status().message()));
  }
  table.store = *std::move(sparse);
  return table;
}

// Makes each staging directory name unique within the process.
std::atomic<uint64_t> next_stage_id{0};

}  // namespace

absl::StatusOr<std::shared_ptr<const RowStore>> NoSsdTier(
    const v1::TableInfo& info) {
  return absl::FailedPreconditionError(
      absl::StrCat("table '", info.name(),
                   "' is placed on ssd, which needs the RocksDB tier"));
}

absl::Status ValidateTableName(absl::string_view name) {
  const bool charset_ok = std::all_of(name.begin(), name.end(), [](char c) {
    return absl::ascii_isalnum(c) || c == '_' || c == '.' || c == '-';
  });
  if (name.empty() || name.size() > 128 || !charset_ok || name[0] == '.') {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid table name '", name,
        "': use 1-128 characters of [A-Za-z0-9_.-], not starting with '.'"));
  }
  return absl::OkStatus();
}

absl::StatusOr<DataDir> DataDir::Open(std::string path) {
  if (path.empty()) return absl::InvalidArgumentError("data dir is empty");
  DataDir dir(std::move(path));
  std::error_code error;
  fs::create_directories(dir.TablesPath(), error);
  if (error) {
    return absl::InternalError(absl::StrCat("cannot create ", dir.TablesPath(),
                                            ": ", error.message()));
  }
  for (const fs::directory_entry& entry :
       fs::directory_iterator(dir.TablesPath(), error)) {
    if (absl::StartsWith(entry.path().filename().string(), kTempPrefix)) {
      LOG(WARNING) << "removing unfinished table write " << entry.path();
      fs::remove_all(entry.path(), error);
    }
  }
  return dir;
}

std::string DataDir::TablesPath() const {
  return (fs::path(path_) / "tables").string();
}

bool DataDir::HasTable(absl::string_view name) const {
  std::error_code error;
  return fs::exists(fs::path(TablesPath()) / std::string(name) / kManifestFile,
                    error);
}

absl::StatusOr<std::vector<StoredTable>> DataDir::LoadTables(
    SsdOpener open_ssd) const {
  std::vector<StoredTable> tables;
  std::error_code error;
  for (const fs::directory_entry& entry :
       fs::directory_iterator(TablesPath(), error)) {
    if (!entry.is_directory()) continue;
    absl::StatusOr<StoredTable> table = LoadTableDir(entry.path(), open_ssd);
    if (!table.ok()) {
      // One damaged table must not keep the others from being served.
      LOG(ERROR) << "not serving " << entry.path() << ": " << table.status();
      continue;
    }
    LOG(INFO) << "loaded table " << table->info.name() << ": "
              << table->info.rows() << " rows x " << table->info.row_bytes()
              << " B, version " << table->info.version();
    tables.push_back(*std::move(table));
  }
  if (error) {
    return absl::InternalError(
        absl::StrCat("cannot list ", TablesPath(), ": ", error.message()));
  }
  return tables;
}

absl::StatusOr<StoredTable> DataDir::LoadTable(absl::string_view name) const {
  ENGRAM_RETURN_IF_ERROR(ValidateTableName(name));
  if (!HasTable(name)) {
    return absl::NotFoundError(
        absl::StrCat("no table '", name, "' in ", path_));
  }
  return LoadTableDir(fs::path(TablesPath()) / std::string(name), NoSsdTier);
}

StagedTable::~StagedTable() {
  if (published_) return;
  std::error_code ignored;
  fs::remove_all(path_, ignored);
}

absl::Status StagedTable::WriteFile(absl::string_view file_name,
                                    absl::string_view data) const {
  return ::engram::server::WriteFile(
      (fs::path(path_) / std::string(file_name)).string(), data.data(),
      data.size(), {.sync = sync_});
}

absl::Status StagedTable::WriteCompression(const CompressionMap* map,
                                           v1::TableManifest& manifest) const {
  if (map == nullptr) return absl::OkStatus();
  ENGRAM_RETURN_IF_ERROR(WriteFile(kCompressionFileName, map->LittleEndian()));
  manifest.set_compression_file(kCompressionFileName);
  return absl::OkStatus();
}

absl::Status StagedTable::Publish(const v1::TableManifest& manifest) {
  std::string text;
  google::protobuf::TextFormat::PrintToString(manifest, &text);
  ENGRAM_RETURN_IF_ERROR(WriteFile(kManifestFile, text));
  if (sync_) ENGRAM_RETURN_IF_ERROR(SyncPath(path_));
  std::error_code error;
  if (fs::exists(final_path_, error)) {
    return absl::AlreadyExistsError(
        absl::StrCat("table '", manifest.info().name(), "' already exists"));
  }
  fs::rename(path_, final_path_, error);
  if (error) {
    return absl::InternalError(
        absl::StrCat("cannot rename ", path_, ": ", error.message()));
  }
  published_ = true;
  return sync_ ? SyncPath(parent_) : absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<StagedTable>> DataDir::Stage(
    absl::string_view name, bool sync) const {
  ENGRAM_RETURN_IF_ERROR(ValidateTableName(name));
  if (HasTable(name)) {
    return absl::AlreadyExistsError(
        absl::StrCat("table '", name, "' already exists in ", path_));
  }
  const fs::path tables(TablesPath());
  const fs::path temp_dir =
      tables / absl::StrCat(kTempPrefix, name, "-", getpid(), "-",
                            next_stage_id.fetch_add(1));
  std::error_code error;
  fs::remove_all(temp_dir, error);
  if (!fs::create_directory(temp_dir, error)) {
    return absl::InternalError(absl::StrCat("cannot create ", temp_dir.string(),
                                            ": ", error.message()));
  }
  return std::unique_ptr<StagedTable>(
      new StagedTable(temp_dir.string(), (tables / std::string(name)).string(),
                      tables.string(), sync));
}

absl::Status DataDir::RemoveTable(absl::string_view name) const {
  ENGRAM_RETURN_IF_ERROR(ValidateTableName(name));
  if (!HasTable(name)) {
    return absl::NotFoundError(
        absl::StrCat("no table '", name, "' in ", path_));
  }
  const fs::path tables(TablesPath());
  // A temporary name: Open removes it if the removal below is cut short.
  const fs::path doomed =
      tables / absl::StrCat(kTempPrefix, "dropped-", name, "-", getpid(), "-",
                            next_stage_id.fetch_add(1));
  std::error_code error;
  fs::rename(tables / std::string(name), doomed, error);
  if (error) {
    return absl::InternalError(
        absl::StrCat("cannot remove table '", name, "': ", error.message()));
  }
  const absl::Status synced = SyncPath(tables.string());
  LOG_IF(WARNING, !synced.ok())
      << "table '" << name << "' removed, but not durably yet: " << synced;
  fs::remove_all(doomed, error);
  LOG_IF(WARNING, error) << "cannot delete " << doomed << " ("
                         << error.message() << "); the next start deletes it";
  return absl::OkStatus();
}

absl::Status DataDir::WriteTable(const v1::TableInfo& info, const char* rows,
                                 const WriteOptions& options) const {
  ENGRAM_ASSIGN_OR_RETURN(std::unique_ptr<StagedTable> staged,
                          Stage(info.name(), options.sync));
  v1::TableManifest manifest;
  *manifest.mutable_info() = info;
  if (info.placement() != kSsdPlacement) {
    manifest.set_rows_file(kRowsFileName);
    ENGRAM_RETURN_IF_ERROR(
        WriteFile((fs::path(staged->path()) / kRowsFileName).string(), rows,
                  info.rows() * info.row_bytes(), options));
  }
  return staged->Publish(manifest);
}

}  // namespace engram::server

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
#include "common/logging.h"
#include "common/status_macros.h"
#include "engram/v1/table_manifest.pb.h"
#include "google/protobuf/text_format.h"
#include "server/storage/ram_row_store.h"

namespace engram::server {
namespace {

namespace fs = std::filesystem;

constexpr char kManifestFile[] = "manifest.textproto";
constexpr char kRowsFile[] = "rows.bin";
constexpr char kTempPrefix[] = ".tmp-";
constexpr char kSsdPlacement[] = "ssd";

absl::Status ErrnoError(absl::string_view what, const std::string& path) {
  return absl::InternalError(
      absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

absl::Status SyncPath(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("cannot open", path);
  const bool synced = fsync(fd) == 0;
  close(fd);
  return synced ? absl::OkStatus() : ErrnoError("cannot fsync", path);
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
  if (info.placement() == kSsdPlacement) {
    ENGRAM_ASSIGN_OR_RETURN(std::shared_ptr<const RowStore> store,
                            open_ssd(info));
    return StoredTable{info, std::move(store)};
  }
  ENGRAM_ASSIGN_OR_RETURN(
      std::unique_ptr<RamRowStore> store,
      RamRowStore::MapFile((dir / manifest.rows_file()).string(), info.rows(),
                           info.row_bytes()));
  return StoredTable{info, std::move(store)};
}

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

absl::Status DataDir::WriteTable(const v1::TableInfo& info, const char* rows,
                                 const WriteOptions& options) const {
  ENGRAM_RETURN_IF_ERROR(ValidateTableName(info.name()));
  if (HasTable(info.name())) {
    return absl::AlreadyExistsError(
        absl::StrCat("table '", info.name(), "' already exists in ", path_));
  }
  const fs::path final_dir = fs::path(TablesPath()) / info.name();
  const fs::path temp_dir =
      fs::path(TablesPath()) /
      absl::StrCat(kTempPrefix, info.name(), "-", getpid());
  std::error_code error;
  fs::remove_all(temp_dir, error);
  if (!fs::create_directory(temp_dir, error)) {
    return absl::InternalError(absl::StrCat("cannot create ", temp_dir.string(),
                                            ": ", error.message()));
  }
  const bool has_rows_file = info.placement() != kSsdPlacement;
  v1::TableManifest manifest;
  *manifest.mutable_info() = info;
  if (has_rows_file) manifest.set_rows_file(kRowsFile);
  std::string manifest_text;
  google::protobuf::TextFormat::PrintToString(manifest, &manifest_text);

  absl::Status status = has_rows_file
                            ? WriteFile((temp_dir / kRowsFile).string(), rows,
                                        info.rows() * info.row_bytes(), options)
                            : absl::OkStatus();
  if (status.ok()) {
    status = WriteFile((temp_dir / kManifestFile).string(),
                       manifest_text.data(), manifest_text.size(), options);
  }
  if (status.ok() && options.sync) status = SyncPath(temp_dir.string());
  if (status.ok()) {
    fs::rename(temp_dir, final_dir, error);
    if (error) {
      status = absl::InternalError(absl::StrCat(
          "cannot rename ", temp_dir.string(), ": ", error.message()));
    }
  }
  if (!status.ok()) {
    fs::remove_all(temp_dir, error);
    return status;
  }
  return options.sync ? SyncPath(TablesPath()) : absl::OkStatus();
}

}  // namespace engram::server

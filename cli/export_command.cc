#include "cli/export_command.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "cli/export_progress.h"
#include "cli/hash_spec_file.h"
#include "cli/progress_bar.h"
#include "cli/row_file_writer.h"
#include "common/addressing/npy.h"
#include "common/content_digest.h"
#include "common/element_type.h"
#include "common/json_writer.h"
#include "common/packed_row_ids.h"
#include "common/status_context.h"
#include "common/status_macros.h"
#include "common/sync_path.h"
#include "common/table_file.h"
#include "common/write_file.h"

namespace engram::cli {
namespace {

using client::EngramClient;
using client::LookupResult;
using client::TableDescription;

constexpr uint64_t kBatchBytes = 4 << 20;
// Lookups in flight: enough to keep the server busy while a batch is
// written out.
constexpr size_t kLookupsInFlight = 4;
// How often the rows written so far are synced and recorded for --resume:
// a resume redoes at most this much. Each sync waits for the disk (a tenth
// of the export's rate at 256 MiB and 2 s: docs/benchmarks.md).
constexpr uint64_t kCheckpointBytes = 1 << 30;
constexpr absl::Duration kCheckpointInterval = absl::Seconds(5);

// One lookup of consecutive rows, filled in on a client thread.
struct Batch {
  std::vector<char> rows;
  absl::Notification done;
  absl::StatusOr<LookupResult> result;
};

// Lookups in flight, in row order, started no faster than `max_bytes_per_s`
// (0: as fast as they complete). Waits for all of them when destroyed:
// their callbacks write into the batches.
class BatchWindow {
 public:
  // Rows from `first_row` (counted from the table's first) on.
  BatchWindow(EngramClient& client, const TableDescription& table,
              uint64_t pin_id, uint64_t first_row, uint64_t batch_rows,
              double max_bytes_per_s)
      : client_(client),
        table_(table),
        pin_id_(pin_id),
        first_row_(first_row),
        batch_rows_(batch_rows),
        max_bytes_per_s_(max_bytes_per_s),
        next_(first_row) {}
  ~BatchWindow() {
    for (const auto& batch : batches_) batch->done.WaitForNotification();
  }

  // Starts lookups until kLookupsInFlight are in flight or every row is
  // asked for; with a rate, only those whose time has come (waiting for
  // one only when none is in flight, so that the caller takes the rows
  // that are in meanwhile).
  void Fill() {
    while (batches_.size() < kLookupsInFlight && next_ < table_.rows) {
      if (max_bytes_per_s_ > 0) {
        // The rows asked for so far, at the most the rate allows.
        const absl::Time due =
            start_ + absl::Seconds((next_ - first_row_) * table_.row_bytes /
                                   max_bytes_per_s_);
        if (!batches_.empty() && due > absl::Now()) return;
        absl::SleepFor(due - absl::Now());
      }
      const uint64_t rows = std::min(batch_rows_, table_.rows - next_);
      std::vector<uint64_t> ids(rows);
      for (uint64_t i = 0; i < rows; ++i) ids[i] = table_.first_row + next_ + i;
      next_ += rows;
      auto batch = std::make_unique<Batch>();
      batch->rows.resize(rows * table_.row_bytes);
      Batch* started = batch.get();
      batches_.push_back(std::move(batch));
      client_.LookupAsync(table_.name, ids, absl::MakeSpan(started->rows),
                          {.pin_id = pin_id_},
                          [started](absl::StatusOr<LookupResult> result) {
                            started->result = std::move(result);
                            started->done.Notify();
                          });
    }
  }

  // The oldest lookup's rows, once in; empty when every row was taken.
  absl::StatusOr<std::unique_ptr<Batch>> Next() {
    if (batches_.empty()) return nullptr;
    std::unique_ptr<Batch> batch = std::move(batches_.front());
    batches_.pop_front();
    batch->done.WaitForNotification();
    ENGRAM_RETURN_IF_ERROR(batch->result.status());
    ENGRAM_RETURN_IF_ERROR(client::CheckRowFormat(
        table_.name, *batch->result, {table_.row_bytes, table_.element_type}));
    return batch;
  }

 private:
  EngramClient& client_;
  const TableDescription& table_;
  const uint64_t pin_id_;
  const uint64_t first_row_;
  const uint64_t batch_rows_;
  const double max_bytes_per_s_;
  const absl::Time start_ = absl::Now();
  uint64_t next_;
  std::deque<std::unique_ptr<Batch>> batches_;
};

// The output files, written beside their final paths until complete: the
// rows, for a sparse table the ids, and the progress of the last
// checkpoint.
class ExportFiles {
 public:
  // New files, or (`resumed`) those an interrupted export left, cut back to
  // its last checkpoint.
  static absl::StatusOr<ExportFiles> Open(const TableDescription& table,
                                          const ExportOptions& options,
                                          const ExportProgress* resumed) {
    ExportFiles files(options);
    // A resumed export's files start at its checkpoint.
    files.checkpointed_ = resumed != nullptr;
    // The bytes kept of a file of rows of `row_bytes`; none for new files.
    const auto kept = [&](uint64_t row_bytes) -> std::optional<uint64_t> {
      if (resumed == nullptr) return std::nullopt;
      return resumed->rows_written * row_bytes;
    };
    if (absl::EndsWith(options.out_file, ".npy")) {
      const NpyRowDtype dtype =
          NpyRowDtypeFor(table.element_type, table.row_bytes);
      ENGRAM_ASSIGN_OR_RETURN(
          files.rows_, RowFileWriter::CreateNpy(
                           Partial(options.out_file), dtype.descr,
                           {dtype.columns}, table.rows, kept(table.row_bytes)));
    } else {
      ENGRAM_ASSIGN_OR_RETURN(
          files.rows_, RowFileWriter::CreateRaw(Partial(options.out_file),
                                                kept(table.row_bytes)));
    }
    if (!options.ids_file.empty()) {
      ENGRAM_ASSIGN_OR_RETURN(
          files.ids_,
          RowFileWriter::CreateNpy(Partial(options.ids_file), "<i8", {},
                                   table.rows, kept(sizeof(int64_t))));
    }
    return files;
  }
  ExportFiles(ExportFiles&&) = default;
  // Removes what was not renamed into place, unless kept for a resume.
  ~ExportFiles() {
    if (kept_ || rows_ == nullptr) return;
    std::remove(Partial(options_.out_file).c_str());
    if (ids_ != nullptr) std::remove(Partial(options_.ids_file).c_str());
    for (const std::string& path : side_files_) {
      std::remove(Partial(path).c_str());
    }
    std::remove(ProgressPath(options_).c_str());
  }

  // Where an export of `options` keeps its progress.
  static std::string ProgressPath(const ExportOptions& options) {
    return absl::StrCat(Partial(options.out_file), ".progress");
  }

  RowFileWriter& rows() { return *rows_; }
  // Null for a dense table.
  RowFileWriter* ids() { return ids_.get(); }

  // Syncs the files, then records `progress` as where a resume goes on.
  absl::Status Checkpoint(const ExportProgress& progress) {
    ENGRAM_RETURN_IF_ERROR(rows_->Sync());
    if (ids_ != nullptr) ENGRAM_RETURN_IF_ERROR(ids_->Sync());
    ENGRAM_RETURN_IF_ERROR(
        WriteExportProgress(ProgressPath(options_), progress));
    checkpointed_ = true;
    return absl::OkStatus();
  }
  // Leaves the files for `export --resume` (when a checkpoint says how far
  // they go); true if they are left.
  bool KeepForResume() {
    kept_ = checkpointed_;
    return kept_;
  }

  // Feeds the first `rows` rows of the files (and their ids) to `digest`,
  // as they were when written.
  absl::Status HashKept(uint64_t rows, uint32_t row_bytes,
                        ContentDigest& digest) const {
    std::ifstream row_file(Partial(options_.out_file), std::ios::binary);
    row_file.seekg(static_cast<std::streamoff>(rows_->header_bytes()));
    std::ifstream id_file;
    if (ids_ != nullptr) {
      id_file.open(Partial(options_.ids_file), std::ios::binary);
      id_file.seekg(static_cast<std::streamoff>(ids_->header_bytes()));
    }
    const uint64_t batch_rows = std::max<uint64_t>(1, kBatchBytes / row_bytes);
    std::string chunk, ids;
    for (uint64_t done = 0; done < rows;) {
      const uint64_t count = std::min(batch_rows, rows - done);
      chunk.resize(count * row_bytes);
      row_file.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
      if (ids_ != nullptr) {
        ids.resize(count * sizeof(int64_t));
        id_file.read(ids.data(), static_cast<std::streamsize>(ids.size()));
      }
      if (!row_file || (ids_ != nullptr && !id_file)) {
        return absl::DataLossError(absl::StrCat(
            "cannot read back the rows kept in ", Partial(options_.out_file)));
      }
      if (ids_ != nullptr) {
        digest.AddSparseRows(PackedRowIds(ids), chunk, row_bytes);
      } else {
        digest.AddRows(chunk);
      }
      done += count;
    }
    return absl::OkStatus();
  }

  // Writes `bytes` (a small file: the hash spec, the map) beside `path`,
  // synced, for Publish to rename into place with the rows.
  absl::Status AddSideFile(const std::string& path, absl::string_view bytes) {
    side_files_.push_back(path);
    ENGRAM_RETURN_IF_ERROR(WriteStringToFile(Partial(path), bytes));
    return SyncPath(Partial(path));
  }

  // Renames the (finished) files into place, the rows last, so that the
  // rows file says the export is complete (and backs the others out if the
  // rows cannot follow); then syncs their directories once each, so that
  // the new names are on disk too.
  absl::Status Publish() {
    std::vector<std::string> files = side_files_;
    if (ids_ != nullptr) files.push_back(options_.ids_file);
    files.push_back(options_.out_file);
    for (size_t i = 0; i < files.size(); ++i) {
      if (std::rename(Partial(files[i]).c_str(), files[i].c_str()) != 0) {
        const absl::Status renamed = absl::ErrnoToStatus(
            errno, absl::StrCat("cannot rename ", Partial(files[i]), " to ",
                                files[i]));
        for (size_t done = 0; done < i; ++done) {
          std::remove(files[done].c_str());
        }
        return renamed;
      }
    }
    std::set<std::string> directories;
    for (const std::string& path : files) {
      const std::filesystem::path parent =
          std::filesystem::path(path).parent_path();
      directories.insert(parent.empty() ? "." : parent.string());
    }
    for (const std::string& directory : directories) {
      ENGRAM_RETURN_IF_ERROR(SyncPath(directory));
    }
    std::remove(ProgressPath(options_).c_str());
    side_files_.clear();
    ids_.reset();
    rows_.reset();
    return absl::OkStatus();
  }

 private:
  explicit ExportFiles(const ExportOptions& options) : options_(options) {}

  static std::string Partial(const std::string& path) {
    return absl::StrCat(path, ".partial");
  }

  const ExportOptions& options_;
  std::unique_ptr<RowFileWriter> rows_;
  std::unique_ptr<RowFileWriter> ids_;
  // Written whole by AddSideFile.
  std::vector<std::string> side_files_;
  bool checkpointed_ = false;
  bool kept_ = false;
};

struct Exported {
  // Rows written: all of a dense table's, the present ones of a sparse one.
  uint64_t rows = 0;
  uint64_t bytes = 0;
  std::string digest;
};

// Streams the table's rows through the pin into `files`, from where
// `progress` says (with `digest` fed the rows before), checkpointing as
// it goes: every row, or, when files.ids() is set, the rows a sparse table
// has and their ids.
absl::StatusOr<Exported> WriteRows(EngramClient& client,
                                   const TableDescription& table,
                                   uint64_t pin_id, double max_bytes_per_s,
                                   ExportProgress progress,
                                   ContentDigest digest, ExportFiles& files) {
  const uint32_t row_bytes = table.row_bytes;
  Exported exported{progress.rows_written};
  ProgressBar bar(absl::StrCat("export ", table.name),
                  table.rows * uint64_t{row_bytes});
  BatchWindow window(client, table, pin_id, progress.rows_read,
                     std::max<uint64_t>(1, kBatchBytes / row_bytes),
                     max_bytes_per_s);
  uint64_t rows_read = progress.rows_read;
  uint64_t rows_at_checkpoint = rows_read;
  absl::Time checkpointed = absl::Now();
  for (window.Fill();; window.Fill()) {
    ENGRAM_ASSIGN_OR_RETURN(std::unique_ptr<Batch> batch, window.Next());
    if (batch == nullptr) break;
    const LookupResult& result = *batch->result;
    absl::string_view rows(batch->rows.data(), batch->rows.size());
    std::string present;
    if (files.ids() != nullptr) {
      std::string ids;
      for (uint64_t i = 0; i < result.row_count; ++i) {
        if (result.is_missing(i)) continue;
        const uint64_t id = table.first_row + rows_read + i;
        AppendPackedRowIds(absl::MakeConstSpan(&id, 1), &ids);
        present.append(rows.data() + i * row_bytes, row_bytes);
      }
      ENGRAM_RETURN_IF_ERROR(files.ids()->Append(ids));
      digest.AddSparseRows(PackedRowIds(ids), present, row_bytes);
      rows = present;
    } else {
      digest.AddRows(rows);
    }
    ENGRAM_RETURN_IF_ERROR(files.rows().Append(rows));
    exported.rows += rows.size() / row_bytes;
    rows_read += result.row_count;
    bar.Update(rows_read * row_bytes);
    const bool due =
        (rows_read - rows_at_checkpoint) * row_bytes >= kCheckpointBytes ||
        absl::Now() - checkpointed >= kCheckpointInterval;
    // Not after the last rows: the files are finished next.
    if (due && rows_read < table.rows) {
      progress.rows_read = rows_read;
      progress.rows_written = exported.rows;
      ENGRAM_RETURN_IF_ERROR(files.Checkpoint(progress));
      rows_at_checkpoint = rows_read;
      checkpointed = absl::Now();
    }
  }
  bar.Finish();
  ENGRAM_RETURN_IF_ERROR(files.rows().Finish(exported.rows));
  if (files.ids() != nullptr) {
    ENGRAM_RETURN_IF_ERROR(files.ids()->Finish(exported.rows));
  }
  exported.bytes = files.rows().bytes();
  exported.digest = std::move(digest).Finish();
  return exported;
}

// OK for a dense table without --ids and a sparse one reporting its
// missing rows with --ids.
absl::Status CheckSparseness(const TableDescription& table,
                             const ExportOptions& options) {
  if (table.missing_rows.empty()) {
    if (options.ids_file.empty()) return absl::OkStatus();
    return absl::InvalidArgumentError(
        absl::StrCat("table '", table.name,
                     "' is dense: every row is exported, --ids is for "
                     "sparse tables"));
  }
  if (table.missing_rows == "zeros") {
    return absl::FailedPreconditionError(absl::StrCat(
        "table '", table.name,
        "' is sparse and reads its unwritten rows as "
        "zeros (--missing zeros), so lookups cannot tell which rows it has; "
        "export takes dense tables and sparse ones that report missing "
        "rows"));
  }
  if (options.ids_file.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "table '", table.name, "' is sparse (", table.rows_written, " of ",
        table.rows,
        " rows written): give --ids FILE.npy for the ids of the rows "
        "exported"));
  }
  return absl::OkStatus();
}

// The files --hash-spec and --compression ask for: paths and contents.
using AddressingFiles = std::vector<std::pair<std::string, std::string>>;

// The table's addressing as the files options ask for (none without
// --hash-spec), checked against the table before any row is read; the
// map is fetched from the server. Without --hash-spec, a table that has a
// spec gets a note that the rows alone lack it.
absl::StatusOr<AddressingFiles> ReadAddressing(EngramClient& client,
                                               const TableDescription& table,
                                               const ExportOptions& options) {
  AddressingFiles addressing;
  if (options.hash_spec_file.empty()) {
    if (!options.compression_file.empty()) {
      return absl::InvalidArgumentError(
          "export --compression writes the map of the table's hash spec: "
          "give --hash-spec too");
    }
    if (table.hash_spec != nullptr) {
      std::cerr << "note: table '" << table.name
                << "' is addressed by a hash spec, which the rows file does "
                   "not hold; export with --hash-spec SPEC.json"
                << (table.compression_digest.empty() ? ""
                                                     : " --compression MAP.npy")
                << " to keep it\n";
    }
    return addressing;
  }
  if (table.hash_spec == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "table '", table.name,
        "' has no hash spec (it was imported without --hash-layer): there is "
        "no addressing for --hash-spec to write"));
  }
  addressing.emplace_back(options.hash_spec_file,
                          HashSpecJson(TableHashSpecProto(table)));
  if (table.compression_digest.empty()) {
    if (options.compression_file.empty()) return addressing;
    return absl::FailedPreconditionError(
        absl::StrCat("table '", table.name,
                     "' hashes raw token ids: it has no map for "
                     "--compression to write"));
  }
  if (options.compression_file.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "table '", table.name,
        "' hashes compressed token ids: give --compression MAP.npy too, for "
        "the map that --hash-spec names"));
  }
  ENGRAM_ASSIGN_OR_RETURN(const std::shared_ptr<const CompressionMap> map,
                          client.GetCompressionMap(table.name));
  addressing.emplace_back(options.compression_file,
                          internal::EncodeNpyInt64(map->lookup()));
  return addressing;
}

// The progress an interrupted export of `options` left; errors say why
// there is nothing to resume.
absl::StatusOr<ExportProgress> ReadResumable(const ExportOptions& options) {
  const std::string path = ExportFiles::ProgressPath(options);
  absl::StatusOr<ExportProgress> progress = ReadExportProgress(path);
  if (absl::IsNotFound(progress.status())) {
    return absl::FailedPreconditionError(absl::StrCat(
        "nothing to resume: no ", path,
        " (an export leaves one when it fails after its first checkpoint)"));
  }
  ENGRAM_RETURN_IF_ERROR(progress.status());
  if (progress->table != options.table) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is of an export of table '", progress->table,
                     "', not '", options.table, "'"));
  }
  if (options.version != 0 && options.version != progress->version) {
    return absl::InvalidArgumentError(
        absl::StrCat("the interrupted export read version ", progress->version,
                     ", not ", options.version));
  }
  return progress;
}

// OK when `table` (pinned at `pin`) can be the one whose export `resumed`
// records: rows of the same format, and, while the pinned version is the
// active one, the same content digest.
absl::Status CheckSameTable(const TableDescription& table,
                            const client::VersionPin& pin,
                            const ExportProgress& resumed) {
  const bool same_format =
      table.row_bytes == resumed.row_bytes &&
      ElementTypeName(table.element_type) == resumed.element_type;
  const bool same_content = table.version != pin.version ||
                            table.content_digest == resumed.expected_digest;
  if (same_format && same_content) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "table '", table.name,
      "' is not the one the interrupted export read (its rows' format or "
      "content digest differs: imported again since?); export again "
      "without --resume"));
}

void PrintExport(const ExportOptions& options, const TableDescription& table,
                 uint64_t version, const Exported& exported, bool verified,
                 uint64_t resumed_at_row, absl::Duration elapsed) {
  const double seconds = absl::ToDoubleSeconds(elapsed);
  const bool sparse = !options.ids_file.empty();
  if (options.json) {
    JsonWriter json;
    json.BeginObject();
    json.Key("table").String(table.name);
    json.Key("version").Uint(version);
    json.Key("rows").Uint(exported.rows);
    if (sparse) json.Key("id_space").Uint(table.rows);
    json.Key("row_bytes").Uint(table.row_bytes);
    json.Key("dtype").String(ElementTypeName(table.element_type));
    json.Key("file").String(options.out_file);
    if (sparse) json.Key("ids_file").String(options.ids_file);
    if (!options.hash_spec_file.empty()) {
      json.Key("hash_spec_file").String(options.hash_spec_file);
    }
    if (!options.compression_file.empty()) {
      json.Key("compression_file").String(options.compression_file);
    }
    json.Key("bytes").Uint(exported.bytes);
    json.Key("content_digest").String(exported.digest);
    json.Key("verified").Bool(verified);
    if (options.resume) json.Key("resumed_at_row").Uint(resumed_at_row);
    json.Key("seconds").Double(seconds);
    json.EndObject();
    std::cout << json.str() << "\n";
    return;
  }
  std::string beside;
  if (sparse) absl::StrAppend(&beside, " (ids: ", options.ids_file, ")");
  if (!options.hash_spec_file.empty()) {
    absl::StrAppend(&beside, " (hash spec: ", options.hash_spec_file,
                    options.compression_file.empty()
                        ? ""
                        : absl::StrCat(", map: ", options.compression_file),
                    ")");
  }
  std::cout << absl::StrFormat(
      "exported %s version %d: %d%s rows x %d B (%s) to %s%s%s, %.1f MB in "
      "%.1f s (%.0f MB/s), sha256 %s%s\n",
      table.name, version, exported.rows,
      sparse ? absl::StrCat(" of ", table.rows) : "", table.row_bytes,
      ElementTypeName(table.element_type), options.out_file, beside,
      options.resume ? absl::StrCat(" (resumed at row ", resumed_at_row, ")")
                     : "",
      exported.bytes / 1e6, seconds,
      seconds > 0 ? exported.bytes / 1e6 / seconds : 0.0, exported.digest,
      verified ? " (the table's content digest)" : "");
}

}  // namespace

absl::Status RunExportCommand(EngramClient& client,
                              const ExportOptions& options) {
  if (options.out_file.empty()) {
    return absl::InvalidArgumentError("export needs an output file");
  }
  if (!(options.max_rate_mb >= 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--max-rate-mb ", options.max_rate_mb,
                     " is not a rate: 0 (no limit) "
                     "or more"));
  }
  std::optional<ExportProgress> resumed;
  if (options.resume) {
    ENGRAM_ASSIGN_OR_RETURN(resumed, ReadResumable(options));
  }
  const uint64_t version = resumed ? resumed->version : options.version;
  absl::StatusOr<client::VersionPin> pinned =
      client.PinVersion(options.table, version);
  if (!pinned.ok() && resumed) {
    return Annotate(pinned.status(),
                    absl::StrCat("pinning version ", version,
                                 ", which the interrupted export read: "),
                    " (if it is gone, export again without --resume)");
  }
  ENGRAM_RETURN_IF_ERROR(pinned.status());
  const client::VersionPin pin = *pinned;
  absl::Cleanup release = [&] { client.ReleasePin(pin.pin_id).IgnoreError(); };
  // Described after pinning: when it still shows the pinned version, its
  // content digest (empty once patched) is that version's.
  ENGRAM_ASSIGN_OR_RETURN(const TableDescription table,
                          client.DescribeTable(options.table));
  ENGRAM_RETURN_IF_ERROR(CheckSparseness(table, options));
  ENGRAM_ASSIGN_OR_RETURN(const AddressingFiles addressing,
                          ReadAddressing(client, table, options));
  const ExportProgress start_at =
      resumed
          ? *resumed
          : ExportProgress{.table = table.name,
                           .version = pin.version,
                           .row_bytes = table.row_bytes,
                           .element_type =
                               std::string(ElementTypeName(table.element_type)),
                           .expected_digest = table.version == pin.version
                                                  ? table.content_digest
                                                  : ""};
  if (resumed) ENGRAM_RETURN_IF_ERROR(CheckSameTable(table, pin, *resumed));
  const std::string& expected_digest = start_at.expected_digest;
  const absl::Time start = absl::Now();
  ENGRAM_ASSIGN_OR_RETURN(
      ExportFiles files,
      ExportFiles::Open(table, options, resumed ? &*resumed : nullptr));
  ContentDigest digest;
  if (resumed) {
    ENGRAM_RETURN_IF_ERROR(
        files.HashKept(resumed->rows_written, table.row_bytes, digest));
  }
  absl::StatusOr<Exported> written =
      WriteRows(client, table, pin.pin_id, options.max_rate_mb * 1e6, start_at,
                std::move(digest), files);
  if (!written.ok()) {
    if (!files.KeepForResume()) return written.status();
    return Annotate(written.status(), "",
                    absl::StrCat("; the rows written up to the last "
                                 "checkpoint are kept in ",
                                 options.out_file,
                                 ".partial: export again with --resume to go "
                                 "on"));
  }
  const Exported& exported = *written;
  if (!expected_digest.empty() && exported.digest != expected_digest) {
    return absl::DataLossError(absl::StrCat(
        "the rows of table '", table.name, "' version ", pin.version,
        " hash to ", exported.digest, ", not to its content digest ",
        expected_digest, "; nothing written"));
  }
  for (const auto& [path, bytes] : addressing) {
    ENGRAM_RETURN_IF_ERROR(files.AddSideFile(path, bytes));
  }
  ENGRAM_RETURN_IF_ERROR(files.Publish());
  PrintExport(options, table, pin.version, exported, !expected_digest.empty(),
              resumed ? resumed->rows_read : 0, absl::Now() - start);
  return absl::OkStatus();
}

}  // namespace engram::cli

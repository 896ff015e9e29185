#include "cli/export_command.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <deque>
#include <fstream>
#include <iostream>
#include <memory>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "cli/progress_bar.h"
#include "common/addressing/npy.h"
#include "common/content_digest.h"
#include "common/element_type.h"
#include "common/json_writer.h"
#include "common/status_macros.h"

namespace engram::cli {
namespace {

using client::EngramClient;
using client::LookupResult;
using client::TableDescription;

constexpr uint64_t kBatchBytes = 4 << 20;
// Lookups in flight: enough to keep the server busy while a batch is
// written out.
constexpr size_t kLookupsInFlight = 4;

// The numpy dtype `import` reads back as the table's element type, and
// the array's columns.
struct NpyRowLayout {
  const char* descr;
  uint64_t columns;
};

NpyRowLayout NpyRowLayoutOf(const TableDescription& table) {
  switch (table.element_type) {
    case ElementType::kF32:
      return {"<f4", table.row_bytes / 4u};
    case ElementType::kF16:
      return {"<f2", table.row_bytes / 2u};
    case ElementType::kBf16:
      return {"<u2", table.row_bytes / 2u};
    default:
      return {"|u1", table.row_bytes};
  }
}

// One lookup of consecutive rows, filled in on a client thread.
struct Batch {
  std::vector<char> rows;
  absl::Notification done;
  absl::StatusOr<LookupResult> result;
};

// Lookups in flight, in row order. Waits for all of them when destroyed:
// their callbacks write into the batches.
class BatchWindow {
 public:
  BatchWindow(EngramClient& client, const TableDescription& table,
              uint64_t pin_id, uint64_t batch_rows)
      : client_(client),
        table_(table),
        pin_id_(pin_id),
        batch_rows_(batch_rows) {}
  ~BatchWindow() {
    for (const auto& batch : batches_) batch->done.WaitForNotification();
  }

  // Starts lookups until kLookupsInFlight are in flight or every row is
  // asked for.
  void Fill() {
    while (batches_.size() < kLookupsInFlight && next_ < table_.rows) {
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
    ENGRAM_RETURN_IF_ERROR(
        client::CheckRowBytes(table_.name, *batch->result, table_.row_bytes));
    return batch;
  }

 private:
  EngramClient& client_;
  const TableDescription& table_;
  const uint64_t pin_id_;
  const uint64_t batch_rows_;
  uint64_t next_ = 0;
  std::deque<std::unique_ptr<Batch>> batches_;
};

absl::Status WriteFailed(const std::string& path) {
  return absl::ErrnoToStatus(errno, absl::StrCat("cannot write ", path));
}

struct Exported {
  uint64_t bytes = 0;
  std::string digest;
};

// Streams the table's rows through the pin into `path`, an .npy header
// first when `npy`.
absl::StatusOr<Exported> WriteRows(EngramClient& client,
                                   const TableDescription& table,
                                   uint64_t pin_id, uint64_t batch_rows,
                                   bool npy, const std::string& path) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return WriteFailed(path);
  Exported exported;
  if (npy) {
    const NpyRowLayout layout = NpyRowLayoutOf(table);
    const std::string header =
        internal::EncodeNpyHeader(layout.descr, {table.rows, layout.columns});
    out << header;
    exported.bytes = header.size();
  }
  ContentDigest digest;
  ProgressBar progress(absl::StrCat("export ", table.name),
                       table.rows * uint64_t{table.row_bytes});
  BatchWindow window(client, table, pin_id, batch_rows);
  uint64_t rows_done = 0;
  for (window.Fill();; window.Fill()) {
    ENGRAM_ASSIGN_OR_RETURN(std::unique_ptr<Batch> batch, window.Next());
    if (batch == nullptr) break;
    const std::vector<char>& rows = batch->rows;
    out.write(rows.data(), static_cast<std::streamsize>(rows.size()));
    if (!out) return WriteFailed(path);
    digest.AddRows(absl::string_view(rows.data(), rows.size()));
    exported.bytes += rows.size();
    rows_done += batch->result->row_count;
    progress.Update(rows_done * table.row_bytes);
  }
  progress.Finish();
  out.close();
  if (!out) {
    return absl::DataLossError(
        absl::StrCat("cannot write all of ", path, " (disk full?)"));
  }
  exported.digest = std::move(digest).Finish();
  return exported;
}

void PrintExport(const ExportOptions& options, const TableDescription& table,
                 uint64_t version, const Exported& exported, bool verified,
                 absl::Duration elapsed) {
  const double seconds = absl::ToDoubleSeconds(elapsed);
  if (options.json) {
    JsonWriter json;
    json.BeginObject();
    json.Key("table").String(table.name);
    json.Key("version").Uint(version);
    json.Key("rows").Uint(table.rows);
    json.Key("row_bytes").Uint(table.row_bytes);
    json.Key("dtype").String(ElementTypeName(table.element_type));
    json.Key("file").String(options.out_file);
    json.Key("bytes").Uint(exported.bytes);
    json.Key("content_digest").String(exported.digest);
    json.Key("verified").Bool(verified);
    json.Key("seconds").Double(seconds);
    json.EndObject();
    std::cout << json.str() << "\n";
    return;
  }
  std::cout << absl::StrFormat(
      "exported %s version %d: %d rows x %d B (%s) to %s, %.1f MB in %.1f s "
      "(%.0f MB/s), sha256 %s%s\n",
      table.name, version, table.rows, table.row_bytes,
      ElementTypeName(table.element_type), options.out_file,
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
  ENGRAM_ASSIGN_OR_RETURN(const client::VersionPin pin,
                          client.PinVersion(options.table, options.version));
  absl::Cleanup release = [&] { client.ReleasePin(pin.pin_id).IgnoreError(); };
  // Described after pinning: when it still shows the pinned version, its
  // content digest (empty once patched) is that version's.
  ENGRAM_ASSIGN_OR_RETURN(const TableDescription table,
                          client.DescribeTable(options.table));
  if (!table.missing_rows.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "table '", table.name, "' is sparse (", table.rows_written, " of ",
        table.rows, " rows written); export writes dense tables only"));
  }
  const std::string expected_digest =
      table.version == pin.version ? table.content_digest : "";
  const uint64_t batch_rows =
      std::max<uint64_t>(1, kBatchBytes / table.row_bytes);
  const std::string partial = absl::StrCat(options.out_file, ".partial");
  // Gone on any error; renamed to the output file on success.
  absl::Cleanup remove_partial = [&] { std::remove(partial.c_str()); };
  const absl::Time start = absl::Now();
  ENGRAM_ASSIGN_OR_RETURN(
      const Exported exported,
      WriteRows(client, table, pin.pin_id, batch_rows,
                absl::EndsWith(options.out_file, ".npy"), partial));
  if (!expected_digest.empty() && exported.digest != expected_digest) {
    return absl::DataLossError(absl::StrCat(
        "the rows of table '", table.name, "' version ", pin.version,
        " hash to ", exported.digest, ", not to its content digest ",
        expected_digest, "; nothing written"));
  }
  if (std::rename(partial.c_str(), options.out_file.c_str()) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot rename ", partial,
                                                   " to ", options.out_file));
  }
  std::move(remove_partial).Cancel();
  PrintExport(options, table, pin.version, exported, !expected_digest.empty(),
              absl::Now() - start);
  return absl::OkStatus();
}

}  // namespace engram::cli

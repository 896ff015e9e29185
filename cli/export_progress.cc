#include "cli/export_progress.h"

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/sync_path.h"

namespace engram::cli {
namespace {

constexpr char kFormatLine[] = "engram-export-progress 1";

// "-" stands for an empty value: every line has one.
std::string Value(const std::string& value) {
  return value.empty() ? "-" : value;
}

}  // namespace

absl::Status WriteExportProgress(const std::string& path,
                                 const ExportProgress& progress) {
  const std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << kFormatLine << "\n"
        << "table " << progress.table << "\n"
        << "version " << progress.version << "\n"
        << "row_bytes " << progress.row_bytes << "\n"
        << "element_type " << Value(progress.element_type) << "\n"
        << "expected_digest " << Value(progress.expected_digest) << "\n"
        << "rows_read " << progress.rows_read << "\n"
        << "rows_written " << progress.rows_written << "\n";
    out.close();
    if (!out) {
      return absl::ErrnoToStatus(errno,
                                 absl::StrCat("cannot write ", temporary));
    }
  }
  if (absl::Status synced = SyncPath(temporary); !synced.ok()) return synced;
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    return absl::ErrnoToStatus(
        errno, absl::StrCat("cannot rename ", temporary, " to ", path));
  }
  return absl::OkStatus();
}

absl::StatusOr<ExportProgress> ReadExportProgress(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot read ", path));
  }
  const auto malformed = [&](absl::string_view why) {
    return absl::DataLossError(
        absl::StrCat(path, " is not an export progress file: ", why));
  };
  std::string line;
  if (!std::getline(in, line) || line != kFormatLine) {
    return malformed(absl::StrCat("its first line is not '", kFormatLine, "'"));
  }
  absl::flat_hash_map<std::string, std::string> values;
  while (std::getline(in, line)) {
    std::vector<std::string> parts =
        absl::StrSplit(line, absl::MaxSplits(' ', 1));
    if (parts.size() != 2) return malformed(absl::StrCat("line '", line, "'"));
    values[parts[0]] = parts[1] == "-" ? "" : std::move(parts[1]);
  }
  ExportProgress progress;
  const auto text = [&](const char* key, std::string* out) {
    const auto it = values.find(key);
    if (it == values.end()) return false;
    *out = it->second;
    return true;
  };
  const auto number = [&](const char* key, auto* out) {
    const auto it = values.find(key);
    return it != values.end() && absl::SimpleAtoi(it->second, out);
  };
  if (!text("table", &progress.table) ||
      !number("version", &progress.version) ||
      !number("row_bytes", &progress.row_bytes) ||
      !text("element_type", &progress.element_type) ||
      !text("expected_digest", &progress.expected_digest) ||
      !number("rows_read", &progress.rows_read) ||
      !number("rows_written", &progress.rows_written)) {
    return malformed("a field is missing or not a number");
  }
  return progress;
}

}  // namespace engram::cli

#include "cli/patch_diff_command.h"

#include <cmath>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/row_file_writer.h"
#include "common/addressing/npy.h"
#include "common/element_type.h"
#include "common/json_writer.h"
#include "common/status_macros.h"
#include "common/table_file.h"
#include "common/write_file.h"

namespace engram::cli {
namespace {

// A .npy header is at most 64 KiB (format 1.0) plus its 10-byte preamble;
// format 2.0 allows more, which no 2-D array needs.
constexpr size_t kMaxHeaderBytes = (64 << 10) + 16;

absl::StatusOr<internal::NpyHeader> ReadNpyHeader(const std::string& path) {
  if (!absl::EndsWith(path, ".npy")) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": patch diff compares .npy files"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::string prefix(kMaxHeaderBytes, '\0');
  in.read(prefix.data(), static_cast<std::streamsize>(prefix.size()));
  prefix.resize(static_cast<size_t>(in.gcount()));
  absl::StatusOr<internal::NpyHeader> header = internal::ParseNpyHeader(prefix);
  if (!header.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", header.status().message()));
  }
  return header;
}

std::string ShapeText(const std::vector<uint64_t>& shape) {
  return absl::StrCat("(", absl::StrJoin(shape, ", "), ")");
}

bool IsFloat(ElementType type) {
  return type == ElementType::kF32 || type == ElementType::kF16 ||
         type == ElementType::kBf16;
}

// Whether some element of the two rows differs by more than `tolerance`.
bool DiffersBeyond(ElementType type, size_t elements, const char* a,
                   const char* b, double tolerance) {
  const size_t bytes = ElementBytes(type);
  for (size_t i = 0; i < elements; ++i) {
    if (std::memcmp(a + i * bytes, b + i * bytes, bytes) == 0) continue;
    const double x = DecodeElement(type, a + i * bytes);
    const double y = DecodeElement(type, b + i * bytes);
    // Written so that a NaN on either side counts as a change.
    if (!(std::fabs(x - y) <= tolerance)) return true;
  }
  return false;
}

}  // namespace

absl::Status RunPatchDiffCommand(const PatchDiffOptions& options) {
  if (options.out_ids.empty() || options.out_rows.empty()) {
    return absl::InvalidArgumentError(
        "patch diff needs --out-ids FILE.npy and --out-rows FILE.npy");
  }
  if (!(options.tolerance >= 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--tolerance must be >= 0, not ", options.tolerance));
  }
  ENGRAM_ASSIGN_OR_RETURN(const internal::NpyHeader old_header,
                          ReadNpyHeader(options.old_file));
  ENGRAM_ASSIGN_OR_RETURN(const internal::NpyHeader new_header,
                          ReadNpyHeader(options.new_file));
  if (old_header.descr != new_header.descr) {
    return absl::InvalidArgumentError(
        absl::StrCat(options.old_file, " and ", options.new_file,
                     " differ in dtype: '", old_header.descr, "' vs '",
                     new_header.descr, "'; a patch keeps the table's dtype"));
  }
  if (old_header.shape != new_header.shape) {
    return absl::InvalidArgumentError(absl::StrCat(
        options.old_file, " and ", options.new_file, " differ in shape: ",
        ShapeText(old_header.shape), " vs ", ShapeText(new_header.shape),
        "; a patch replaces rows of a table of one shape"));
  }
  ENGRAM_ASSIGN_OR_RETURN(const std::unique_ptr<TableFile> old_rows,
                          TableFile::Open(options.old_file, {}));
  ENGRAM_ASSIGN_OR_RETURN(const std::unique_ptr<TableFile> new_rows,
                          TableFile::Open(options.new_file, {}));
  const NpyTableLayout& layout = new_rows->layout();
  if (options.tolerance > 0 && !IsFloat(layout.element_type)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--tolerance compares float rows; ", options.new_file, " holds '",
        new_header.descr, "' (", ElementTypeName(layout.element_type), ")"));
  }
  const uint32_t row_bytes = new_rows->row_bytes();
  const size_t elements =
      options.tolerance > 0 ? row_bytes / ElementBytes(layout.element_type) : 0;
  std::vector<int64_t> changed;
  for (uint64_t row = 0; row < new_rows->rows(); ++row) {
    const absl::string_view a = old_rows->Row(row);
    const absl::string_view b = new_rows->Row(row);
    if (std::memcmp(a.data(), b.data(), row_bytes) == 0) continue;
    if (options.tolerance > 0 &&
        !DiffersBeyond(layout.element_type, elements, a.data(), b.data(),
                       options.tolerance)) {
      continue;
    }
    changed.push_back(static_cast<int64_t>(row));
  }

  ENGRAM_RETURN_IF_ERROR(
      WriteStringToFile(options.out_ids, internal::EncodeNpyInt64(changed)));
  ENGRAM_ASSIGN_OR_RETURN(
      const std::unique_ptr<RowFileWriter> out,
      RowFileWriter::CreateNpy(
          options.out_rows, new_header.descr,
          std::vector<uint64_t>(new_header.shape.begin() + 1,
                                new_header.shape.end()),
          changed.size()));
  for (int64_t row : changed) {
    ENGRAM_RETURN_IF_ERROR(
        out->Append(new_rows->Row(static_cast<uint64_t>(row))));
  }
  ENGRAM_RETURN_IF_ERROR(out->Finish(changed.size()));

  const uint64_t patch_bytes = changed.size() * uint64_t{row_bytes};
  if (options.json) {
    JsonWriter json;
    json.BeginObject();
    json.Key("rows").Uint(new_rows->rows());
    json.Key("changed_rows").Uint(changed.size());
    json.Key("row_bytes").Uint(row_bytes);
    json.Key("patch_bytes").Uint(patch_bytes);
    json.EndObject();
    std::cout << json.str() << "\n";
  } else {
    std::cout << changed.size() << " of " << new_rows->rows()
              << " rows changed; patch " << changed.size() << " x " << row_bytes
              << " B = " << patch_bytes << " B (" << options.out_ids << ", "
              << options.out_rows << ")\n";
  }
  return absl::OkStatus();
}

}  // namespace engram::cli

// `engramctl import`: creates a table on a running server from a .npy or
// .safetensors file, streaming its rows with a progress bar:
//
//   engramctl --server ADDR import TABLE FILE.npy [--dtype T] [--placement P]
//   engramctl --server ADDR import TABLE FILE.safetensors --tensor NAME[,NAME]
//
// Arrays must be 2-D and C-ordered: rows = shape[0], one row per line of
// shape[1] elements. Element types by numpy dtype: <f4 -> f32, <f2 -> f16,
// <u2 -> bf16 (bf16 saved as uint16), |i1 and |u1 -> opaque bytes; by
// safetensors dtype: F32, F16, BF16, F8_E4M3, F8_E5M2, U8/I8 (opaque).
// --dtype overrides with any type of the same element size (e.g. fp8_e4m3
// for 1-byte elements), and --dtype opaque takes any little-endian array as
// raw bytes. Several safetensors tensors (per-head tables) are concatenated
// in the order named; they must agree in dtype and row width.
#ifndef ENGRAM_CLI_IMPORT_COMMAND_H_
#define ENGRAM_CLI_IMPORT_COMMAND_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/addressing/npy.h"
#include "common/element_type.h"

namespace engram::cli {

// How a .npy array maps onto a table.
struct NpyTableLayout {
  uint64_t rows = 0;
  uint32_t row_bytes = 0;
  ElementType element_type = ElementType::kOpaque;
  // Elements per row; empty for opaque rows.
  std::vector<uint32_t> dims;
  // Where the rows begin in the file.
  uint64_t data_offset = 0;
};

// A table's rows as byte ranges of one file, in row order.
struct ImportSource {
  NpyTableLayout layout;  // data_offset unused; see segments.
  // (offset, length) pairs; their lengths add up to rows x row_bytes.
  std::vector<std::pair<uint64_t, uint64_t>> segments;
};

// The rows of tensors `tensors` of a .safetensors file whose bytes begin
// with `file_prefix` (the header) and total `file_size`. InvalidArgument
// for a malformed header, a missing tensor, shapes or dtypes that do not
// line up, or offsets beyond the file.
absl::StatusOr<ImportSource> SourceFromSafetensors(
    absl::string_view file_prefix, uint64_t file_size,
    const std::vector<std::string>& tensors,
    std::optional<ElementType> dtype_override);

// InvalidArgument, naming the problem, for arrays that are not 2-D and
// C-ordered, dtypes without a table type, overrides of another element
// size, or a file whose size does not match the header.
absl::StatusOr<NpyTableLayout> LayoutFromNpy(
    const internal::NpyHeader& header, uint64_t file_size,
    std::optional<ElementType> dtype_override);

struct ImportOptions {
  std::string server;
  std::string table;
  std::string file;
  // Element type overriding the file's; empty keeps it.
  std::string dtype;
  // Tensors to take from a .safetensors file, in order.
  std::vector<std::string> tensors;
  std::string placement = "ram";
  bool json = false;
};

// Imports options.file as options.table; prints the table (as JSON with
// options.json). The server's errors as they come; NotFound for an
// unreadable file; InvalidArgument for files that cannot be a table.
absl::Status RunImportCommand(const ImportOptions& options);

}  // namespace engram::cli

#endif  // ENGRAM_CLI_IMPORT_COMMAND_H_

// `engramctl import`: creates a table on a running server from a .npy file,
// streaming its rows with a progress bar:
//
//   engramctl --server ADDR import TABLE FILE.npy [--dtype T] [--placement P]
//
// The array must be 2-D and C-ordered: rows = shape[0], one row per line of
// shape[1] elements. Element types by numpy dtype: <f4 -> f32, <f2 -> f16,
// <u2 -> bf16 (bf16 saved as uint16), |i1 and |u1 -> opaque bytes; --dtype
// overrides with any type of the same element size (e.g. fp8_e4m3 for
// 1-byte elements), and --dtype opaque takes any little-endian array as raw
// bytes.
#ifndef ENGRAM_CLI_IMPORT_COMMAND_H_
#define ENGRAM_CLI_IMPORT_COMMAND_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
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

// InvalidArgument, naming the problem, for arrays that are not 2-D and
// C-ordered, dtypes without a table type, overrides of another element
// size, or a file whose size does not match the header.
absl::StatusOr<NpyTableLayout> LayoutFromNpy(
    const internal::NpyHeader& header, uint64_t file_size,
    std::optional<ElementType> dtype_override);

// Imports `file` as `table` on `server`; prints the table's JSON when
// `json`. The server's errors as they come; NotFound for an unreadable file.
absl::Status RunImportCommand(const std::string& server,
                              const std::string& table, const std::string& file,
                              const std::string& dtype,
                              const std::string& placement, bool json);

}  // namespace engram::cli

#endif  // ENGRAM_CLI_IMPORT_COMMAND_H_

// TableFile: a table's rows in a file, as `engramctl import` and the
// server's path imports read them:
//
//   .npy          a 2-D C-ordered array: rows = shape[0], one row per line
//                 of shape[1] elements. Element types by dtype: <f4 -> f32,
//                 <f2 -> f16, <u2 -> bf16 (bf16 saved as uint16), |i1 and
//                 |u1 -> opaque bytes.
//   .safetensors  one 2-D tensor, or several (per-head tables) concatenated
//                 in the order named; they must agree in dtype and row
//                 width. F32, F16, BF16, F8_E4M3, F8_E5M2, U8/I8 (opaque).
//   anything else raw rows of Options::row_bytes bytes each, back to back.
//
// Options::dtype overrides the file's type with any type of the same
// element size (e.g. fp8_e4m3 for 1-byte elements); "opaque" takes any
// little-endian array as raw bytes.
//
//   ENGRAM_ASSIGN_OR_RETURN(std::unique_ptr<TableFile> file,
//                           TableFile::Open("rows.npy", {}));
//   ENGRAM_RETURN_IF_ERROR(file->ForEachChunk(4 << 20, send));
//
// The file is mapped read-only; a TableFile is immutable and thread-safe.
#ifndef ENGRAM_COMMON_TABLE_FILE_H_
#define ENGRAM_COMMON_TABLE_FILE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/addressing/npy.h"
#include "common/element_type.h"

namespace engram {

// How an array maps onto a table.
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
  // (offset, length) pairs; their lengths add up to rows x row_bytes, each
  // a whole number of rows.
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

// How to write rows of `element_type`, `row_bytes` each, as a 2-D .npy
// array that LayoutFromNpy reads back as that type: the dtype whose
// default it is ("<f4", "<f2", "<u2"), else "|u1" with a column per byte
// (opaque by default; fp8 then needs the override).
struct NpyRowDtype {
  const char* descr;
  uint64_t columns;
};
NpyRowDtype NpyRowDtypeFor(ElementType element_type, uint32_t row_bytes);

// InvalidArgument, naming the problem, for arrays that are not 2-D and
// C-ordered, dtypes without a table type, overrides of another element
// size, or a file whose size does not match the header.
absl::StatusOr<NpyTableLayout> LayoutFromNpy(
    const internal::NpyHeader& header, uint64_t file_size,
    std::optional<ElementType> dtype_override);

class TableFile {
 public:
  struct Options {
    // Element type overriding the file's (ParseElementType names); empty
    // keeps it.
    std::string dtype;
    // Tensors of a .safetensors file, in order.
    std::vector<std::string> tensors;
    // Raw files: bytes per row (required for them, unused otherwise).
    uint32_t row_bytes = 0;
  };

  // NotFound for a file that cannot be opened; InvalidArgument, prefixed
  // with the path, for one that cannot be a table.
  static absl::StatusOr<std::unique_ptr<TableFile>> Open(
      const std::string& path, const Options& options);
  ~TableFile();
  TableFile(const TableFile&) = delete;
  TableFile& operator=(const TableFile&) = delete;

  const NpyTableLayout& layout() const { return source_.layout; }
  uint64_t rows() const { return source_.layout.rows; }
  uint32_t row_bytes() const { return source_.layout.row_bytes; }
  uint64_t size_bytes() const { return rows() * row_bytes(); }

  // The bytes of row `row`. REQUIRES: row < rows().
  absl::string_view Row(uint64_t row) const;

  // Calls fn with all rows in order, in whole-row pieces of at most
  // max_bytes (at least one row each); stops at fn's first error.
  absl::Status ForEachChunk(
      uint64_t max_bytes,
      absl::FunctionRef<absl::Status(absl::string_view)> fn) const;

 private:
  TableFile(const char* data, uint64_t size, ImportSource source)
      : data_(data), size_(size), source_(std::move(source)) {}

  const char* const data_;  // mmap'ed; unmapped by the destructor.
  const uint64_t size_;
  const ImportSource source_;
};

// The ids of a 1-D .npy array of <i8 or <u8 (or a 2-D one of width 1), for
// sparse imports and patches. InvalidArgument, prefixed with the path,
// naming the problem (negative ids included); NotFound for an unreadable
// file.
absl::StatusOr<std::vector<uint64_t>> ReadRowIdsNpy(const std::string& path);

// The same for tensor `tensor` (I64 or U64, 1-D or of width 1) of a
// .safetensors file.
absl::StatusOr<std::vector<uint64_t>> ReadRowIdsSafetensors(
    const std::string& path, const std::string& tensor);

}  // namespace engram

#endif  // ENGRAM_COMMON_TABLE_FILE_H_

#include "common/table_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/safetensors_header.h"
#include "common/status_macros.h"

namespace engram {
namespace {

using internal::FindTensor;
using internal::ParseSafetensorsHeader;
using internal::SafetensorsEntry;
using internal::SafetensorsHeader;
using internal::TensorDataOffset;

struct DtypeDefault {
  const char* descr;
  ElementType type;
};

// The first entry of a type is the one NpyRowDtypeFor writes it as.
constexpr DtypeDefault kDtypeDefaults[] = {
    {"<f4", ElementType::kF32},    {"<f2", ElementType::kF16},
    {"<u2", ElementType::kBf16},   {"|u1", ElementType::kOpaque},
    {"|i1", ElementType::kOpaque},
};

// Element size of a numpy dtype string such as "<f4" or "|u1"; 0 if it is
// not little-endian or byte-sized.
uint32_t LittleEndianItemSize(const std::string& descr) {
  uint32_t size = 0;
  if (descr.size() < 3 || (descr[0] != '<' && descr[0] != '|') ||
      !absl::SimpleAtoi(descr.substr(2), &size)) {
    return 0;
  }
  return size;
}

// The table type of a file's elements: the override if given (it must
// match the element size unless opaque), else the file type's default.
absl::StatusOr<ElementType> ResolveElementType(
    absl::string_view file_dtype, uint32_t item_size,
    std::optional<ElementType> file_default,
    std::optional<ElementType> dtype_override) {
  std::optional<ElementType> type =
      dtype_override.has_value() ? dtype_override : file_default;
  if (!type.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "dtype '", file_dtype,
        "' has no table type; use f32, f16, bf16, fp8 or byte arrays, or "
        "--dtype opaque for raw bytes"));
  }
  if (*type != ElementType::kOpaque && ElementBytes(*type) != item_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--dtype ", ElementTypeName(*type), " has ", ElementBytes(*type),
        "-byte elements but the file's dtype '", file_dtype, "' has ",
        item_size));
  }
  return *type;
}

// Fills the row shape of `layout` for rows of `cols` elements.
// `count` items of `item_bytes` each, in bytes; InvalidArgument when that
// does not fit in 64 bits (a header's sizes are the file's word: a product
// that wrapped around could pass the size checks).
absl::StatusOr<uint64_t> ByteCount(uint64_t count, uint64_t item_bytes) {
  uint64_t bytes;
  if (__builtin_mul_overflow(count, item_bytes, &bytes)) {
    return absl::InvalidArgumentError(absl::StrCat(
        count, " items of ", item_bytes, " bytes overflow 64 bits"));
  }
  return bytes;
}

absl::Status SetRowShape(uint64_t cols, uint32_t item_size, ElementType type,
                         NpyTableLayout& layout) {
  ENGRAM_ASSIGN_OR_RETURN(const uint64_t row_bytes, ByteCount(cols, item_size));
  if (row_bytes == 0 || row_bytes > UINT32_MAX) {
    return absl::InvalidArgumentError(
        absl::StrCat("rows of ", row_bytes, " bytes cannot form a table"));
  }
  layout.row_bytes = static_cast<uint32_t>(row_bytes);
  layout.element_type = type;
  layout.dims.clear();
  if (type != ElementType::kOpaque) layout.dims = {static_cast<uint32_t>(cols)};
  return absl::OkStatus();
}

}  // namespace

NpyRowDtype NpyRowDtypeFor(ElementType element_type, uint32_t row_bytes) {
  for (const DtypeDefault& entry : kDtypeDefaults) {
    if (entry.type == element_type) {
      return {entry.descr, row_bytes / LittleEndianItemSize(entry.descr)};
    }
  }
  return {"|u1", row_bytes};
}

absl::StatusOr<NpyTableLayout> LayoutFromNpy(
    const internal::NpyHeader& header, uint64_t file_size,
    std::optional<ElementType> dtype_override) {
  if (header.shape.size() != 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the array has ", header.shape.size(),
        " dimensions; a table needs a 2-D array (rows, values per row)"));
  }
  if (header.fortran_order && header.shape[0] > 1 && header.shape[1] > 1) {
    return absl::InvalidArgumentError(
        "the array is Fortran-ordered; save it with np.ascontiguousarray");
  }
  const uint32_t item_size = LittleEndianItemSize(header.descr);
  if (item_size == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "dtype '", header.descr, "' is not little-endian; byte-swap it first"));
  }
  std::optional<ElementType> file_default;
  for (const DtypeDefault& entry : kDtypeDefaults) {
    if (header.descr == entry.descr) file_default = entry.type;
  }
  ENGRAM_ASSIGN_OR_RETURN(const ElementType type,
                          ResolveElementType(header.descr, item_size,
                                             file_default, dtype_override));
  NpyTableLayout layout;
  layout.rows = header.shape[0];
  ENGRAM_RETURN_IF_ERROR(SetRowShape(header.shape[1], item_size, type, layout));
  layout.data_offset = header.data_offset;
  ENGRAM_ASSIGN_OR_RETURN(const uint64_t data_bytes,
                          ByteCount(layout.rows, layout.row_bytes));
  uint64_t expected;
  if (__builtin_add_overflow(header.data_offset, data_bytes, &expected) ||
      file_size != expected) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the file holds ", file_size, " bytes but its header describes ",
        expected, file_size < expected ? " (truncated)" : " (trailing bytes)"));
  }
  return layout;
}

absl::StatusOr<ImportSource> SourceFromSafetensors(
    absl::string_view file_prefix, uint64_t file_size,
    const std::vector<std::string>& tensors,
    std::optional<ElementType> dtype_override) {
  ENGRAM_ASSIGN_OR_RETURN(const SafetensorsHeader header,
                          ParseSafetensorsHeader(file_prefix));
  if (tensors.empty()) {
    return absl::InvalidArgumentError(
        "name the tensor(s) to import with --tensor");
  }
  ImportSource source;
  std::string first_dtype;
  uint64_t cols = 0;
  for (const std::string& name : tensors) {
    ENGRAM_ASSIGN_OR_RETURN(const SafetensorsEntry tensor,
                            FindTensor(header, name));
    if (tensor.shape.size() != 2) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tensor '", name, "' has ", tensor.shape.size(),
          " dimensions; a table needs 2-D tensors (rows, values per row)"));
    }
    const internal::SafetensorsDtype* dtype_entry =
        internal::FindSafetensorsDtype(tensor.dtype);
    if (dtype_entry == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tensor '", name, "' has unknown dtype '", tensor.dtype, "'"));
    }
    const uint64_t rows = tensor.shape[0];
    const uint64_t tensor_cols = tensor.shape[1];
    if (first_dtype.empty()) {
      first_dtype = tensor.dtype;
      cols = tensor_cols;
      ENGRAM_ASSIGN_OR_RETURN(
          const ElementType type,
          ResolveElementType(tensor.dtype, dtype_entry->item_size,
                             dtype_entry->type, dtype_override));
      ENGRAM_RETURN_IF_ERROR(
          SetRowShape(cols, dtype_entry->item_size, type, source.layout));
    } else if (tensor.dtype != first_dtype || tensor_cols != cols) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tensor '", name, "' is ", tensor.dtype, " x ", tensor_cols,
          " per row but the first tensor is ", first_dtype, " x ", cols));
    }
    ENGRAM_ASSIGN_OR_RETURN(const uint64_t bytes,
                            ByteCount(rows, source.layout.row_bytes));
    ENGRAM_ASSIGN_OR_RETURN(const uint64_t offset,
                            TensorDataOffset(header, tensor, bytes, file_size));
    source.segments.emplace_back(offset, bytes);
    source.layout.rows += rows;
  }
  return source;
}

namespace {

// The layout of the file at `data` (`size` bytes) named `path`.
absl::StatusOr<ImportSource> ParseSource(const std::string& path,
                                         absl::string_view data,
                                         const TableFile::Options& options) {
  std::optional<ElementType> dtype_override;
  if (!options.dtype.empty()) {
    ENGRAM_ASSIGN_OR_RETURN(dtype_override, ParseElementType(options.dtype));
  }
  if (absl::EndsWith(path, ".safetensors")) {
    return SourceFromSafetensors(data, data.size(), options.tensors,
                                 dtype_override);
  }
  ImportSource source;
  if (!absl::EndsWith(path, ".npy")) {
    if (options.row_bytes == 0) {
      return absl::InvalidArgumentError(
          "a raw file (neither .npy nor .safetensors) needs --row-bytes");
    }
    if (data.size() % options.row_bytes != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the file holds ", data.size(), " bytes, not a whole number of ",
          options.row_bytes, "-byte rows"));
    }
    const ElementType type = dtype_override.value_or(ElementType::kOpaque);
    const uint32_t item_size =
        type == ElementType::kOpaque ? 1 : ElementBytes(type);
    if (options.row_bytes % item_size != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("rows of ", options.row_bytes,
                       " bytes are no whole "
                       "number of ",
                       ElementTypeName(type), " elements"));
    }
    source.layout.rows = data.size() / options.row_bytes;
    ENGRAM_RETURN_IF_ERROR(SetRowShape(options.row_bytes / item_size, item_size,
                                       type, source.layout));
    source.segments.emplace_back(0, data.size());
    return source;
  }
  ENGRAM_ASSIGN_OR_RETURN(
      internal::NpyHeader header,
      internal::ParseNpyHeader(std::string_view(data.data(), data.size())));
  ENGRAM_ASSIGN_OR_RETURN(NpyTableLayout layout,
                          LayoutFromNpy(header, data.size(), dtype_override));
  source.segments.emplace_back(layout.data_offset,
                               layout.rows * layout.row_bytes);
  source.layout = std::move(layout);
  return source;
}

// Maps `path` read-only; sets *size.
absl::StatusOr<const char*> MapReadOnly(const std::string& path,
                                        uint64_t* size) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::NotFoundError(
        absl::StrCat("cannot read ", path, ": ", std::strerror(errno)));
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is not a regular file"));
  }
  *size = st.st_size;
  if (*size == 0) {
    close(fd);
    return static_cast<const char*>(nullptr);
  }
  void* mapped = mmap(nullptr, *size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int error = errno;
  close(fd);
  if (mapped == MAP_FAILED) {
    return absl::InternalError(
        absl::StrCat("cannot map ", path, ": ", std::strerror(error)));
  }
  madvise(mapped, *size, MADV_SEQUENTIAL);
  return static_cast<const char*>(mapped);
}

}  // namespace

absl::StatusOr<std::unique_ptr<TableFile>> TableFile::Open(
    const std::string& path, const Options& options) {
  uint64_t size = 0;
  ENGRAM_ASSIGN_OR_RETURN(const char* data, MapReadOnly(path, &size));
  absl::StatusOr<ImportSource> source =
      ParseSource(path, absl::string_view(data, size), options);
  if (!source.ok()) {
    if (data != nullptr) munmap(const_cast<char*>(data), size);
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", source.status().message()));
  }
  return std::unique_ptr<TableFile>(
      new TableFile(data, size, *std::move(source)));
}

TableFile::~TableFile() {
  if (data_ != nullptr) munmap(const_cast<char*>(data_), size_);
}

absl::string_view TableFile::Row(uint64_t row) const {
  uint64_t offset = row * row_bytes();
  for (const auto& [begin, length] : source_.segments) {
    if (offset < length)
      return absl::string_view(data_ + begin + offset, row_bytes());
    offset -= length;
  }
  return {};
}

absl::Status TableFile::ForEachChunk(
    uint64_t max_bytes,
    absl::FunctionRef<absl::Status(absl::string_view)> fn) const {
  const uint64_t chunk =
      std::max<uint64_t>(1, max_bytes / row_bytes()) * row_bytes();
  for (const auto& [begin, length] : source_.segments) {
    for (uint64_t done = 0; done < length; done += chunk) {
      ENGRAM_RETURN_IF_ERROR(fn(absl::string_view(
          data_ + begin + done, std::min(chunk, length - done))));
    }
  }
  return absl::OkStatus();
}

namespace {

// Row ids from `count` 8-byte little-endian values at `data`; those of a
// signed array must not be negative.
absl::StatusOr<std::vector<uint64_t>> CopyRowIds(const char* data,
                                                 uint64_t count,
                                                 bool is_signed) {
  std::vector<uint64_t> ids(count);
  std::memcpy(ids.data(), data, count * sizeof(uint64_t));
  if (is_signed) {
    for (size_t i = 0; i < ids.size(); ++i) {
      if (static_cast<int64_t>(ids[i]) < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("row id at position ", i, " is negative (",
                         static_cast<int64_t>(ids[i]), ")"));
      }
    }
  }
  return ids;
}

absl::StatusOr<std::vector<uint64_t>> ParseRowIdsNpy(absl::string_view bytes) {
  ENGRAM_ASSIGN_OR_RETURN(
      const internal::NpyHeader header,
      internal::ParseNpyHeader(std::string_view(bytes.data(), bytes.size())));
  if (header.descr != "<i8" && header.descr != "<u8") {
    return absl::InvalidArgumentError(
        absl::StrCat("row ids must be int64 or uint64 ('<i8' or '<u8'), not '",
                     header.descr, "'"));
  }
  if (!(header.shape.size() == 1 ||
        (header.shape.size() == 2 && header.shape[1] == 1))) {
    return absl::InvalidArgumentError("row ids must be a 1-D array");
  }
  if (header.shape[0] > bytes.size() / 8 ||
      bytes.size() != header.data_offset + header.shape[0] * 8) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the file holds ", bytes.size(), " bytes but its header describes ",
        header.data_offset + header.shape[0] * 8));
  }
  return CopyRowIds(bytes.data() + header.data_offset, header.shape[0],
                    header.descr == "<i8");
}

absl::StatusOr<std::vector<uint64_t>> ParseRowIdsSafetensors(
    absl::string_view bytes, const std::string& name) {
  ENGRAM_ASSIGN_OR_RETURN(const SafetensorsHeader header,
                          ParseSafetensorsHeader(bytes));
  ENGRAM_ASSIGN_OR_RETURN(const SafetensorsEntry tensor,
                          FindTensor(header, name));
  if (tensor.dtype != "I64" && tensor.dtype != "U64") {
    return absl::InvalidArgumentError(
        absl::StrCat("row ids (tensor '", name, "') must be I64 or U64, not ",
                     tensor.dtype));
  }
  if (!(tensor.shape.size() == 1 ||
        (tensor.shape.size() == 2 && tensor.shape[1] == 1))) {
    return absl::InvalidArgumentError(
        absl::StrCat("row ids (tensor '", name, "') must be 1-D"));
  }
  ENGRAM_ASSIGN_OR_RETURN(const uint64_t id_bytes,
                          ByteCount(tensor.shape[0], 8));
  ENGRAM_ASSIGN_OR_RETURN(
      const uint64_t offset,
      TensorDataOffset(header, tensor, id_bytes, bytes.size()));
  return CopyRowIds(bytes.data() + offset, tensor.shape[0],
                    tensor.dtype == "I64");
}

// The row ids `parse` finds in the file `path`.
absl::StatusOr<std::vector<uint64_t>> ReadRowIds(
    const std::string& path,
    absl::FunctionRef<absl::StatusOr<std::vector<uint64_t>>(absl::string_view)>
        parse) {
  uint64_t size = 0;
  ENGRAM_ASSIGN_OR_RETURN(const char* data, MapReadOnly(path, &size));
  absl::StatusOr<std::vector<uint64_t>> ids =
      parse(absl::string_view(data, size));
  if (data != nullptr) munmap(const_cast<char*>(data), size);
  if (!ids.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", ids.status().message()));
  }
  return ids;
}

}  // namespace

absl::StatusOr<std::vector<uint64_t>> ReadRowIdsNpy(const std::string& path) {
  return ReadRowIds(path, ParseRowIdsNpy);
}

absl::StatusOr<std::vector<uint64_t>> ReadRowIdsSafetensors(
    const std::string& path, const std::string& tensor) {
  return ReadRowIds(path, [&](absl::string_view bytes) {
    return ParseRowIdsSafetensors(bytes, tensor);
  });
}

}  // namespace engram

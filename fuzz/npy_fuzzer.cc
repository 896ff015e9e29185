// Fuzzes the .npy readers: the header parser, the int64 array reader (row
// id files of patches and compression maps) and the table layout of an
// import. Each must refuse bad bytes with a status, never crash.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "common/addressing/npy.h"
#include "common/element_type.h"
#include "common/table_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  (void)engram::internal::ParseNpyInt64(bytes);
  const auto header = engram::internal::ParseNpyHeader(bytes);
  if (!header.ok()) return 0;
  // The file size as the header's own (so the size check passes when the
  // header is consistent) and as the input's.
  for (const uint64_t file_size : {uint64_t{size}, header->data_offset}) {
    (void)engram::LayoutFromNpy(*header, file_size, std::nullopt);
    (void)engram::LayoutFromNpy(*header, file_size,
                                engram::ElementType::kFp8E4m3);
  }
  return 0;
}

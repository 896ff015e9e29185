// Reading .safetensors headers: the tensors a file holds, their dtypes,
// shapes and where their bytes are. Shared by table imports
// (table_file.h) and the worker's weight loader.
//
//   ENGRAM_ASSIGN_OR_RETURN(SafetensorsHeader header,
//                           ParseSafetensorsHeader(file_bytes));
//   ENGRAM_ASSIGN_OR_RETURN(SafetensorsEntry entry,
//                           FindTensor(header, "lm_head.weight"));
//   ENGRAM_ASSIGN_OR_RETURN(uint64_t offset,
//                           TensorDataOffset(header, entry, bytes, size));
//
// Thread-safe (pure functions).
#ifndef ENGRAM_COMMON_SAFETENSORS_HEADER_H_
#define ENGRAM_COMMON_SAFETENSORS_HEADER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/element_type.h"
#include "google/protobuf/struct.pb.h"

namespace engram::internal {

// A dtype name of the format, its element size, and its table element type
// (none for integer and f64 tensors; kOpaque for bytes).
struct SafetensorsDtype {
  const char* name;
  uint32_t item_size;
  std::optional<ElementType> type;
};

// The entry for dtype `name`; null for a name the format does not define.
const SafetensorsDtype* FindSafetensorsDtype(absl::string_view name);

// A .safetensors header: the tensors by name (and "__metadata__"), and
// where their data begins in the file.
struct SafetensorsHeader {
  google::protobuf::Struct tensors;
  uint64_t data_begin = 0;
};

// The header of a .safetensors file whose bytes begin with `file_prefix`.
// InvalidArgument when truncated or not JSON.
absl::StatusOr<SafetensorsHeader> ParseSafetensorsHeader(
    absl::string_view file_prefix);

// One tensor's entry in a .safetensors header.
struct SafetensorsEntry {
  std::string name;
  std::string dtype;
  std::vector<uint64_t> shape;
  // data_offsets: [begin, end) relative to the header's data_begin.
  uint64_t begin = 0;
  uint64_t end = 0;
};

// Tensor `name` of `header`. InvalidArgument, listing the file's tensors,
// when there is none; InvalidArgument when its entry lacks a field.
absl::StatusOr<SafetensorsEntry> FindTensor(const SafetensorsHeader& header,
                                            const std::string& name);

// Where `tensor`'s data begins in a file of `file_size` bytes.
// InvalidArgument unless its data_offsets span exactly `bytes` bytes
// within the file.
absl::StatusOr<uint64_t> TensorDataOffset(const SafetensorsHeader& header,
                                          const SafetensorsEntry& tensor,
                                          uint64_t bytes, uint64_t file_size);

}  // namespace engram::internal

#endif  // ENGRAM_COMMON_SAFETENSORS_HEADER_H_

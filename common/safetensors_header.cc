#include "common/safetensors_header.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "google/protobuf/util/json_util.h"

namespace engram::internal {
namespace {

// The little-endian u64 at the start of a .safetensors file: its header's
// length. REQUIRES: bytes.size() >= 8.
uint64_t SafetensorsHeaderSize(absl::string_view bytes) {
  uint64_t size = 0;
  for (int i = 7; i >= 0; --i) {
    size = (size << 8) | static_cast<uint8_t>(bytes[i]);
  }
  return size;
}

// A size or offset of tensor `tensor`'s `field`: JSON numbers are doubles,
// so anything but a whole number in [0, 2^53] (exact in a double) is
// refused rather than cast.
absl::StatusOr<uint64_t> HeaderInteger(const google::protobuf::Value& value,
                                       absl::string_view tensor,
                                       absl::string_view field) {
  constexpr double kLargestExact = 9007199254740992.0;  // 2^53
  const double number = value.number_value();
  if (value.kind_case() != google::protobuf::Value::kNumberValue ||
      !(number >= 0 && number <= kLargestExact) ||
      number != std::floor(number)) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor '", tensor, "' has a ", field,
                     " entry that is not a whole number in [0, 2^53]"));
  }
  return static_cast<uint64_t>(number);
}

constexpr SafetensorsDtype kSafetensorsDtypes[] = {
    {"F32", 4, ElementType::kF32},
    {"F16", 2, ElementType::kF16},
    {"BF16", 2, ElementType::kBf16},
    {"F8_E4M3", 1, ElementType::kFp8E4m3},
    {"F8_E5M2", 1, ElementType::kFp8E5m2},
    {"U8", 1, ElementType::kOpaque},
    {"I8", 1, ElementType::kOpaque},
    {"F64", 8, std::nullopt},
    {"I64", 8, std::nullopt},
    {"U64", 8, std::nullopt},
    {"I32", 4, std::nullopt},
    {"U32", 4, std::nullopt},
    {"I16", 2, std::nullopt},
    {"U16", 2, std::nullopt},
    {"BOOL", 1, std::nullopt},
};

}  // namespace

const SafetensorsDtype* FindSafetensorsDtype(absl::string_view name) {
  const auto it = std::find_if(
      std::begin(kSafetensorsDtypes), std::end(kSafetensorsDtypes),
      [&](const SafetensorsDtype& entry) { return name == entry.name; });
  return it == std::end(kSafetensorsDtypes) ? nullptr : &*it;
}

absl::StatusOr<SafetensorsHeader> ParseSafetensorsHeader(
    absl::string_view file_prefix) {
  const uint64_t header_size =
      file_prefix.size() >= 8 ? SafetensorsHeaderSize(file_prefix) : 0;
  if (file_prefix.size() < 8 || header_size > file_prefix.size() - 8) {
    return absl::InvalidArgumentError("truncated safetensors header");
  }
  SafetensorsHeader header;
  if (!google::protobuf::util::JsonStringToMessage(
           std::string(file_prefix.substr(8, header_size)), &header.tensors)
           .ok()) {
    return absl::InvalidArgumentError("safetensors header is not valid JSON");
  }
  header.data_begin = 8 + header_size;
  return header;
}

absl::StatusOr<SafetensorsEntry> FindTensor(const SafetensorsHeader& header,
                                            const std::string& name) {
  const auto it = header.tensors.fields().find(name);
  if (it == header.tensors.fields().end() || name == "__metadata__") {
    std::vector<std::string> names;
    for (const auto& [key, value] : header.tensors.fields()) {
      if (key != "__metadata__") names.push_back(key);
    }
    std::sort(names.begin(), names.end());
    return absl::InvalidArgumentError(absl::StrCat(
        "no tensor '", name, "'; the file has ", absl::StrJoin(names, ", ")));
  }
  const auto& fields = it->second.struct_value().fields();
  const auto dtype_it = fields.find("dtype");
  const auto shape_it = fields.find("shape");
  const auto offsets_it = fields.find("data_offsets");
  if (dtype_it == fields.end() || shape_it == fields.end() ||
      offsets_it == fields.end() ||
      offsets_it->second.list_value().values_size() != 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor '", name, "' lacks dtype, shape or data_offsets"));
  }
  SafetensorsEntry entry;
  entry.name = name;
  entry.dtype = dtype_it->second.string_value();
  for (const auto& dim : shape_it->second.list_value().values()) {
    ENGRAM_ASSIGN_OR_RETURN(const uint64_t size,
                            HeaderInteger(dim, name, "shape"));
    entry.shape.push_back(size);
  }
  const auto& offsets = offsets_it->second.list_value().values();
  ENGRAM_ASSIGN_OR_RETURN(entry.begin,
                          HeaderInteger(offsets[0], name, "data_offsets"));
  ENGRAM_ASSIGN_OR_RETURN(entry.end,
                          HeaderInteger(offsets[1], name, "data_offsets"));
  return entry;
}

absl::StatusOr<uint64_t> TensorDataOffset(const SafetensorsHeader& header,
                                          const SafetensorsEntry& tensor,
                                          uint64_t bytes, uint64_t file_size) {
  if (tensor.end < tensor.begin || tensor.end - tensor.begin != bytes ||
      header.data_begin + tensor.end > file_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor '", tensor.name, "' has data_offsets [",
                     tensor.begin, ", ", tensor.end, "] that do not hold its ",
                     bytes, " bytes within the file"));
  }
  return header.data_begin + tensor.begin;
}

}  // namespace engram::internal

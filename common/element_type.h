// Element types of table rows, their names, sizes and decoding.
//
//   ENGRAM_ASSIGN_OR_RETURN(ElementType type, ParseElementType("bf16"));
//   float v = DecodeElement(type, row_bytes + i * ElementBytes(type));
//
// The wire enum (engram.v1.ElementType) is converted here and nowhere else.
#ifndef ENGRAM_COMMON_ELEMENT_TYPE_H_
#define ENGRAM_COMMON_ELEMENT_TYPE_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engram/v1/engram_service.pb.h"

namespace engram {

enum class ElementType {
  kOpaque,
  kF32,
  kBf16,
  kF16,
  kFp8E4m3,
  kFp8E5m2,
};

// Returns the lowercase name used by the CLI and JSON ("opaque", "f32",
// "bf16", "f16", "fp8_e4m3", "fp8_e5m2").
absl::string_view ElementTypeName(ElementType type);

// Parses a name returned by ElementTypeName. InvalidArgument otherwise.
absl::StatusOr<ElementType> ParseElementType(absl::string_view name);

// Bytes per element; 0 for kOpaque, which has no element structure.
size_t ElementBytes(ElementType type);

// Decodes one little-endian element at `data` to float. REQUIRES: type is
// not kOpaque.
float DecodeElement(ElementType type, const void* data);

// Encodes `value` as one little-endian element at `out`, rounding to nearest
// even. REQUIRES: type is kF32, kBf16 or kF16.
void EncodeElement(ElementType type, float value, void* out);

// Converts `count` f32 elements at `in` to `to` (kBf16 or kF16) at `out`,
// rounding to nearest even.
void ConvertF32Elements(const char* in, size_t count, ElementType to,
                        char* out);

v1::ElementType ToProto(ElementType type);
// InvalidArgument for ELEMENT_TYPE_UNSPECIFIED or unknown values.
absl::StatusOr<ElementType> FromProto(v1::ElementType type);

}  // namespace engram

#endif  // ENGRAM_COMMON_ELEMENT_TYPE_H_

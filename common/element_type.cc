#include "common/element_type.h"

#include <bit>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace engram {
namespace {

struct TypeEntry {
  ElementType type;
  absl::string_view name;
  size_t bytes;
  v1::ElementType proto;
};

constexpr TypeEntry kTypes[] = {
    {ElementType::kOpaque, "opaque", 0, v1::ELEMENT_TYPE_OPAQUE},
    {ElementType::kF32, "f32", 4, v1::ELEMENT_TYPE_F32},
    {ElementType::kBf16, "bf16", 2, v1::ELEMENT_TYPE_BF16},
    {ElementType::kF16, "f16", 2, v1::ELEMENT_TYPE_F16},
    {ElementType::kFp8E4m3, "fp8_e4m3", 1, v1::ELEMENT_TYPE_FP8_E4M3},
    {ElementType::kFp8E5m2, "fp8_e5m2", 1, v1::ELEMENT_TYPE_FP8_E5M2},
};

const TypeEntry& Entry(ElementType type) {
  return kTypes[static_cast<int>(type)];
}

// Decodes a small float with `exp_bits` exponent bits, `man_bits` mantissa
// bits and IEEE-style subnormals. E4M3 (OCP) has no infinities and a single
// NaN pattern per sign; `ocp_e4m3` selects that variant.
float DecodeMinifloat(uint32_t bits, int exp_bits, int man_bits,
                      bool ocp_e4m3) {
  const uint32_t sign = bits >> (exp_bits + man_bits);
  const uint32_t exponent = (bits >> man_bits) & ((1u << exp_bits) - 1);
  const uint32_t mantissa = bits & ((1u << man_bits) - 1);
  const int bias = (1 << (exp_bits - 1)) - 1;
  const uint32_t max_exponent = (1u << exp_bits) - 1;
  float magnitude;
  if (ocp_e4m3 && exponent == max_exponent &&
      mantissa == (1u << man_bits) - 1) {
    magnitude = NAN;
  } else if (!ocp_e4m3 && exponent == max_exponent) {
    magnitude = mantissa == 0 ? INFINITY : NAN;
  } else if (exponent == 0) {
    magnitude = std::ldexp(static_cast<float>(mantissa), 1 - bias - man_bits);
  } else {
    magnitude = std::ldexp(static_cast<float>(mantissa | (1u << man_bits)),
                           static_cast<int>(exponent) - bias - man_bits);
  }
  return sign ? -magnitude : magnitude;
}

uint16_t FloatToBf16(float value) {
  uint32_t bits = std::bit_cast<uint32_t>(value);
  if (std::isnan(value)) return static_cast<uint16_t>((bits >> 16) | 0x40);
  bits += 0x7FFF + ((bits >> 16) & 1);
  return static_cast<uint16_t>(bits >> 16);
}

uint16_t FloatToF16(float value) {
  const uint32_t bits = std::bit_cast<uint32_t>(value);
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000);
  const float magnitude = std::fabs(value);
  if (std::isnan(value)) return sign | 0x7E00;
  if (magnitude >= 65520.0f) return sign | 0x7C00;  // Rounds to infinity.
  if (magnitude < 6.103515625e-05f) {
    // Subnormal: units of 2^-24, rounded to nearest even by nearbyint.
    return sign |
           static_cast<uint16_t>(std::nearbyint(magnitude * 16777216.0f));
  }
  // Normal: keep 10 mantissa bits, rounding to nearest even.
  uint32_t m = bits & 0x7FFFFFFF;
  m += 0xFFF + ((m >> 13) & 1);
  return sign | static_cast<uint16_t>((m >> 13) - (112u << 10));
}

}  // namespace

absl::string_view ElementTypeName(ElementType type) { return Entry(type).name; }

absl::StatusOr<ElementType> ParseElementType(absl::string_view name) {
  for (const TypeEntry& entry : kTypes) {
    if (entry.name == name) return entry.type;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown element type '", name,
      "'; expected one of opaque, f32, bf16, f16, fp8_e4m3, fp8_e5m2"));
}

size_t ElementBytes(ElementType type) { return Entry(type).bytes; }

float DecodeElement(ElementType type, const void* data) {
  switch (type) {
    case ElementType::kF32: {
      float value;
      std::memcpy(&value, data, sizeof(value));
      return value;
    }
    case ElementType::kBf16: {
      uint16_t half;
      std::memcpy(&half, data, sizeof(half));
      return std::bit_cast<float>(static_cast<uint32_t>(half) << 16);
    }
    case ElementType::kF16: {
      uint16_t half;
      std::memcpy(&half, data, sizeof(half));
      return DecodeMinifloat(half, 5, 10, /*ocp_e4m3=*/false);
    }
    case ElementType::kFp8E4m3:
      return DecodeMinifloat(*static_cast<const uint8_t*>(data), 4, 3,
                             /*ocp_e4m3=*/true);
    case ElementType::kFp8E5m2:
      return DecodeMinifloat(*static_cast<const uint8_t*>(data), 5, 2,
                             /*ocp_e4m3=*/false);
    case ElementType::kOpaque:
      break;
  }
  return NAN;
}

void EncodeElement(ElementType type, float value, void* out) {
  switch (type) {
    case ElementType::kF32:
      std::memcpy(out, &value, sizeof(value));
      return;
    case ElementType::kBf16: {
      const uint16_t half = FloatToBf16(value);
      std::memcpy(out, &half, sizeof(half));
      return;
    }
    case ElementType::kF16: {
      const uint16_t half = FloatToF16(value);
      std::memcpy(out, &half, sizeof(half));
      return;
    }
    default:
      return;
  }
}

void ConvertF32Elements(const char* in, size_t count, ElementType to,
                        char* out) {
  const size_t out_bytes = ElementBytes(to);
  for (size_t i = 0; i < count; ++i) {
    EncodeElement(to, DecodeElement(ElementType::kF32, in + 4 * i),
                  out + out_bytes * i);
  }
}

v1::ElementType ToProto(ElementType type) { return Entry(type).proto; }

absl::StatusOr<ElementType> FromProto(v1::ElementType type) {
  for (const TypeEntry& entry : kTypes) {
    if (entry.proto == type) return entry.type;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unsupported element type ", static_cast<int>(type)));
}

}  // namespace engram

#include "common/demo_rows.h"

#include <cstdint>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/split_mix64.h"

namespace engram {

std::string DemoTableName(int64_t layer_id) {
  return absl::StrCat("layer_", layer_id);
}

void FillDemoRow(int64_t layer_id, uint64_t row, ElementType type, int values,
                 char* out) {
  const uint64_t row_seed =
      SplitMix64(SplitMix64(static_cast<uint64_t>(layer_id)) ^ row);
  const size_t element_bytes = ElementBytes(type);
  for (int i = 0; i < values; ++i) {
    // Eight random bits per value, made straight into a bf16 of magnitude
    // [0.5, 1): a random sign, exponent 126 and 7 random mantissa bits. No
    // float arithmetic and no serial dependency, so gigabytes fill fast.
    const uint64_t random = SplitMix64(row_seed + i / 8);
    const uint16_t byte = (random >> (8 * (i % 8))) & 0xFF;
    const uint16_t bf16 = ((byte & 0x80) << 8) | (126 << 7) | (byte & 0x7F);
    if (type == ElementType::kBf16) {
      std::memcpy(out + i * element_bytes, &bf16, sizeof(bf16));
    } else {
      // Exact in f16 and f32 too: 7 mantissa bits fit both.
      EncodeElement(type, DecodeElement(ElementType::kBf16, &bf16),
                    out + i * element_bytes);
    }
  }
}

}  // namespace engram

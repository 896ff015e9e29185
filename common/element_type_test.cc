#include "common/element_type.h"

#include <cmath>
#include <cstdint>
#include <cstring>

#include "gtest/gtest.h"

namespace engram {
namespace {

TEST(ElementTypeTest, NamesRoundTrip) {
  for (ElementType type :
       {ElementType::kOpaque, ElementType::kF32, ElementType::kBf16,
        ElementType::kF16, ElementType::kFp8E4m3, ElementType::kFp8E5m2}) {
    absl::StatusOr<ElementType> parsed =
        ParseElementType(ElementTypeName(type));
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, type);
    absl::StatusOr<ElementType> from_proto = FromProto(ToProto(type));
    ASSERT_TRUE(from_proto.ok());
    EXPECT_EQ(*from_proto, type);
  }
}

TEST(ElementTypeTest, UnknownNameIsInvalidArgument) {
  absl::StatusOr<ElementType> parsed = ParseElementType("f64");
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(parsed.status().message().find("f64"), absl::string_view::npos);
  EXPECT_EQ(FromProto(v1::ELEMENT_TYPE_UNSPECIFIED).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ElementTypeTest, EncodeDecodeRoundTripsRepresentableValues) {
  for (ElementType type :
       {ElementType::kF32, ElementType::kBf16, ElementType::kF16}) {
    for (float value : {0.0f, 1.0f, -2.5f, 0.15625f, -1024.0f, 3.0e-5f}) {
      uint8_t buffer[4] = {};
      EncodeElement(type, value, buffer);
      const float decoded = DecodeElement(type, buffer);
      // 3e-5 is not exact in 16-bit types: allow one unit in the last place.
      EXPECT_NEAR(decoded, value, std::fabs(value) / 128)
          << ElementTypeName(type);
    }
  }
}

TEST(ElementTypeTest, HalfPrecisionBitPatterns) {
  uint16_t bits;
  EncodeElement(ElementType::kF16, 1.0f, &bits);
  EXPECT_EQ(bits, 0x3C00);
  EncodeElement(ElementType::kF16, -2.0f, &bits);
  EXPECT_EQ(bits, 0xC000);
  EncodeElement(ElementType::kF16, 70000.0f, &bits);
  EXPECT_EQ(bits, 0x7C00);  // Overflow rounds to infinity.
  EncodeElement(ElementType::kBf16, 1.0f, &bits);
  EXPECT_EQ(bits, 0x3F80);
  // 1 + 2^-8 is halfway between two bf16 values: ties go to even (1.0).
  EncodeElement(ElementType::kBf16, 1.00390625f, &bits);
  EXPECT_EQ(bits, 0x3F80);
  const uint16_t smallest_subnormal = 0x0001;
  EXPECT_EQ(DecodeElement(ElementType::kF16, &smallest_subnormal),
            std::ldexp(1.0f, -24));
}

TEST(ElementTypeTest, Fp8Decoding) {
  const uint8_t e4m3_one = 0x38, e4m3_max = 0x7E, e4m3_nan = 0x7F;
  EXPECT_EQ(DecodeElement(ElementType::kFp8E4m3, &e4m3_one), 1.0f);
  EXPECT_EQ(DecodeElement(ElementType::kFp8E4m3, &e4m3_max), 448.0f);
  EXPECT_TRUE(std::isnan(DecodeElement(ElementType::kFp8E4m3, &e4m3_nan)));
  const uint8_t e5m2_one = 0x3C, e5m2_inf = 0x7C, e5m2_neg_two = 0xC0;
  EXPECT_EQ(DecodeElement(ElementType::kFp8E5m2, &e5m2_one), 1.0f);
  EXPECT_TRUE(std::isinf(DecodeElement(ElementType::kFp8E5m2, &e5m2_inf)));
  EXPECT_EQ(DecodeElement(ElementType::kFp8E5m2, &e5m2_neg_two), -2.0f);
}

}  // namespace
}  // namespace engram

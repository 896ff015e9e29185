#include "common/addressing/reference_normalizer.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace engram {
namespace {

// Expected values follow the HF normalisers' definitions (their Rust code);
// tests/compression_map_reference.py checks the same cases with Python's
// unicodedata where the two agree.
std::string Normalized(const std::string& text) {
  absl::StatusOr<std::string> normalized = ReferenceNormalize(text);
  EXPECT_TRUE(normalized.ok()) << normalized.status();
  return normalized.value_or("<error>");
}

TEST(ReferenceNormalizerTest, FoldsAccentsCaseAndCompatibilityForms) {
  EXPECT_EQ(Normalized("Caf\u00e9"), "cafe");
  EXPECT_EQ(Normalized("CAFE\u0301"), "cafe");
  EXPECT_EQ(Normalized("\uff21\uff22\uff23\uff11"), "abc1");  // Full-width.
  EXPECT_EQ(Normalized("\ufb01"), "fi");                      // Ligature.
  EXPECT_EQ(Normalized("\u216b"), "xii");                     // Roman XII.
  EXPECT_EQ(Normalized("\u00c5ngstr\u00f6m"), "angstrom");
  // Spacing marks (Mc) go too: StripAccents drops all of General_Category M.
  EXPECT_EQ(Normalized("\u0915\u093e"), "\u0915");
  // NFD leaves Hangul syllables as their jamo, which are letters.
  EXPECT_EQ(Normalized("\ud55c"), "\u1112\u1161\u11ab");
}

TEST(ReferenceNormalizerTest, LowercasesEachCodePointWithoutContext) {
  // Python's str.lower() would end the word with U+03C2 (final sigma).
  EXPECT_EQ(Normalized("\u039f\u0394\u039f\u03a3"), "\u03bf\u03b4\u03bf\u03c3");
  // NFD splits the dot off U+0130 first, and StripAccents drops it.
  EXPECT_EQ(Normalized("\u0130"), "i");
  EXPECT_EQ(Normalized("\u1e9e"), "\u00df");  // Capital sharp s.
  EXPECT_EQ(Normalized("\u01c5"), "dz");      // NFKC: D + z caron.
}

TEST(ReferenceNormalizerTest, CollapsesAndStripsWhitespaceButKeepsALoneSpace) {
  EXPECT_EQ(Normalized("  Hello\t\tWorld \r\n"), "hello world");
  EXPECT_EQ(Normalized(" "), " ");
  EXPECT_EQ(Normalized("\t"), " ");
  EXPECT_EQ(Normalized("\n\n  \r"), " ");
  EXPECT_EQ(Normalized(""), "");
  // NFKC makes no-break and ideographic spaces plain spaces.
  EXPECT_EQ(Normalized("\u00a0x\u3000"), "x");
  EXPECT_EQ(Normalized("\u00a0"), " ");
  // Other White_Space is stripped at the ends, never collapsed.
  EXPECT_EQ(Normalized("\u2028x\u2029"), "x");
  EXPECT_EQ(Normalized("a\u2028\u2028b"), "a\u2028\u2028b");
  EXPECT_EQ(Normalized("\u2028"), "");
  // U+001C..U+001F are not White_Space (Python's str.strip() trims them).
  EXPECT_EQ(Normalized("a\x1c"), "a\x1c");
}

TEST(ReferenceNormalizerTest, TheSentinelBecomesASpaceWhereverItWas) {
  EXPECT_EQ(Normalized("\ue000"), " ");
  EXPECT_EQ(Normalized("a\ue000"), "a ");
}

TEST(ReferenceNormalizerTest, RejectsInvalidUtf8) {
  EXPECT_TRUE(IsValidUtf8("plain \xc3\xa9 \xf0\x9f\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("\xc3"));              // Truncated.
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));          // Overlong.
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));      // A surrogate.
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // Beyond U+10FFFF.
  const absl::StatusOr<std::string> bad = ReferenceNormalize("a\xff");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace engram

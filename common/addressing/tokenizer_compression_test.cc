#include "common/addressing/tokenizer_compression.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace engram {
namespace {

using ::testing::ElementsAre;

// `bytes` in GPT-2's byte-to-unicode alphabet, as a JSON string's content
// (\u escapes): written out from its definition, independently of the
// decoder's table.
std::string ByteLevelJson(const std::string& bytes) {
  std::vector<int> others;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) ||
                           (b >= 174 && b <= 255);
    if (!printable) others.push_back(b);
  }
  std::string out;
  for (unsigned char b : bytes) {
    int code_point = b;
    for (size_t i = 0; i < others.size(); ++i) {
      if (others[i] == b) code_point = 256 + static_cast<int>(i);
    }
    out += absl::StrFormat("\\u%04x", code_point);
  }
  return out;
}

// A byte-level tokenizer whose token i spells texts[i].
TokenizerJson ByteLevelTokenizer(const std::vector<std::string>& texts) {
  std::vector<std::string> entries;
  for (size_t i = 0; i < texts.size(); ++i) {
    entries.push_back(absl::StrCat("\"", ByteLevelJson(texts[i]), "\": ", i));
  }
  const std::string json = absl::StrCat(
      R"({"model": {"type": "BPE", "vocab": {)", absl::StrJoin(entries, ", "),
      R"(}}, "decoder": {"type": "ByteLevel"}})");
  absl::StatusOr<TokenizerJson> tokenizer = TokenizerJson::Parse(json);
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.status();
  return *std::move(tokenizer);
}

TEST(TokenizerCompressionTest, FoldsTokensWithEqualNormalisedText) {
  const TokenizerJson tokenizer = ByteLevelTokenizer({
      "Hello",         // 0: new key "hello"
      "hello",         // 1: -> 0
      " hello",        // 2: stripped -> 0
      "HELLO\n",       // 3: -> 0
      "h\xc3\xa9llo",  // 4: accent stripped -> 0
      "\xef\xbd\x88"
      "ello",   // 5: full-width h -> 0
      " ",      // 6: new key " "
      "\t",     // 7: collapses to " " -> 6
      "  \n",   // 8: -> 6
      "world",  // 9: new
  });
  absl::StatusOr<CompressionLookup> map = BuildCompressionLookup(tokenizer);
  ASSERT_TRUE(map.ok()) << map.status();
  EXPECT_THAT(map->lookup, ElementsAre(0, 0, 0, 0, 0, 0, 1, 1, 1, 2));
  EXPECT_EQ(map->compressed_vocab, 3);
}

TEST(TokenizerCompressionTest, PartialCharactersKeyOnTheirRawToken) {
  // Two halves of U+00E9 stay apart; a token that spells U+FFFD itself also
  // keys on its raw token; the whole U+00E9 normalises to "e".
  const TokenizerJson tokenizer =
      ByteLevelTokenizer({"\xc3", "\xa9", "\xef\xbf\xbd", "\xc3\xa9", "e"});
  absl::StatusOr<CompressionLookup> map = BuildCompressionLookup(tokenizer);
  ASSERT_TRUE(map.ok()) << map.status();
  EXPECT_THAT(map->lookup, ElementsAre(0, 1, 2, 3, 3));
  EXPECT_EQ(map->compressed_vocab, 4);
  absl::StatusOr<std::string> key = CompressionKey(tokenizer, 0);
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(*key, "\u00c3");  // The raw token string, not its byte.
}

TEST(TokenizerCompressionTest, EmptyNormalisedTextKeysOnTheOriginalText) {
  // A lone combining accent normalises to nothing; so does U+2028.
  const TokenizerJson tokenizer =
      ByteLevelTokenizer({"\xcc\x81", "\xe2\x80\xa8", "\xcc\x80"});
  absl::StatusOr<std::string> key = CompressionKey(tokenizer, 0);
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(*key, "\xcc\x81");
  absl::StatusOr<CompressionLookup> map = BuildCompressionLookup(tokenizer);
  ASSERT_TRUE(map.ok()) << map.status();
  EXPECT_THAT(map->lookup, ElementsAre(0, 1, 2));
}

TEST(TokenizerCompressionTest, AddedTokensFoldWithVocabTokens) {
  absl::StatusOr<TokenizerJson> tokenizer = TokenizerJson::Parse(
      R"({"added_tokens": [{"id": 2, "content": "<S>"},
                           {"id": 3, "content": "<\uff5cx\uff5c>"}],
          "model": {"vocab": {"<s>": 0, "<|x|>": 1}},
          "decoder": {"type": "ByteLevel"}})");
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  absl::StatusOr<CompressionLookup> map = BuildCompressionLookup(*tokenizer);
  ASSERT_TRUE(map.ok()) << map.status();
  // "<S>" lowercases to "<s>"; full-width bars become "|" under NFKC.
  EXPECT_THAT(map->lookup, ElementsAre(0, 1, 0, 1));
}

}  // namespace
}  // namespace engram

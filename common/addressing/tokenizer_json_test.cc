#include "common/addressing/tokenizer_json.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace engram {
namespace {

using ::testing::HasSubstr;

constexpr char kByteLevel[] = R"({"type": "ByteLevel", "add_prefix_space":
    false, "trim_offsets": true, "use_regex": true})";

std::string Tokenizer(const std::string& vocab, const std::string& added = "[]",
                      const std::string& decoder = kByteLevel) {
  return R"({"version": "1.0", "added_tokens": )" + added +
         R"(, "model": {"type": "BPE", "vocab": )" + vocab +
         R"(, "merges": []}, "decoder": )" + decoder + "}";
}

absl::Status ParseError(const std::string& json) {
  return TokenizerJson::Parse(json).status();
}

TEST(TokenizerJsonTest, ByteLevelTokensDecodeToTheirBytes) {
  // "\u0120" is the alphabet's space, "\u00c3\u00a9" the two bytes of
  // U+00E9, "\u00c3" only the first of them.
  absl::StatusOr<TokenizerJson> tokenizer = TokenizerJson::Parse(Tokenizer(
      R"({"a": 0, "\u0120hello": 1, "\u00c3\u00a9": 2, "\u00c3": 3,
          "\u010a": 4})"));
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  ASSERT_EQ(tokenizer->size(), 5);
  EXPECT_EQ(tokenizer->decoder(), TokenizerJson::Decoder::kByteLevel);
  EXPECT_EQ(tokenizer->DecodeToken(0), "a");
  EXPECT_EQ(tokenizer->DecodeToken(1), " hello");
  EXPECT_EQ(tokenizer->DecodeToken(2), "\xc3\xa9");
  EXPECT_EQ(tokenizer->DecodeToken(3), "\xc3");
  EXPECT_EQ(tokenizer->DecodeToken(4), "\n");
  EXPECT_EQ(tokenizer->token(1), "\u0120hello");
}

TEST(TokenizerJsonTest, AddedTokensWinAndKeepCharactersOutsideTheAlphabet) {
  absl::StatusOr<TokenizerJson> tokenizer = TokenizerJson::Parse(
      Tokenizer(R"({"a": 0, "<s>": 1})",
                R"([{"id": 1, "content": "<s>", "special": true},
          {"id": 2, "content": "<\uff5cend\u2581of\uff5c>", "special": true},
          {"id": 3, "content": "  ", "special": false}])"));
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  ASSERT_EQ(tokenizer->size(), 4);
  EXPECT_EQ(tokenizer->DecodeToken(1), "<s>");
  EXPECT_EQ(tokenizer->DecodeToken(2), "<\uff5cend\u2581of\uff5c>");
  // A plain space is not in the alphabet, so the token stays as it is.
  EXPECT_EQ(tokenizer->DecodeToken(3), "  ");
}

TEST(TokenizerJsonTest, WithoutADecoderTokensAreTheirOwnText) {
  absl::StatusOr<TokenizerJson> tokenizer =
      TokenizerJson::Parse(Tokenizer(R"({"\u0120x": 0})", "[]", "null"));
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  EXPECT_EQ(tokenizer->decoder(), TokenizerJson::Decoder::kNone);
  EXPECT_EQ(tokenizer->DecodeToken(0), "\u0120x");
}

TEST(TokenizerJsonTest, BadFilesAreRefusedPrecisely) {
  absl::Status status = ParseError("{\"model\": ");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("not JSON"));
  EXPECT_THAT(status.message(), HasSubstr("line 1"));

  EXPECT_THAT(ParseError("[1, 2]").message(), HasSubstr("not a JSON object"));
  EXPECT_THAT(ParseError("{}").message(), HasSubstr("no \"model\" object"));
  EXPECT_THAT(ParseError(R"({"model": {"type": "BPE"}})").message(),
              HasSubstr("no model.vocab object"));
  // Unigram vocabularies are lists of [piece, score].
  EXPECT_THAT(ParseError(Tokenizer(R"([["a", -1.0]])")).message(),
              HasSubstr("no model.vocab object"));

  status = ParseError(Tokenizer(R"({"a": 0, "b": 1, "c": 1})"));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              HasSubstr("model.vocab: tokens 'b' and 'c' both have id 1"));
  EXPECT_THAT(ParseError(Tokenizer(R"({"a": 0})",
                                   R"([{"id": 1, "content": "x"},
                                       {"id": 1, "content": "y"}])"))
                  .message(),
              HasSubstr("added_tokens: tokens 'x' and 'y' both have id 1"));
  EXPECT_THAT(ParseError(Tokenizer(R"({"a": 0, "b": 2})")).message(),
              HasSubstr("no token has id 1"));
  EXPECT_THAT(ParseError(Tokenizer(R"({"a": -1})")).message(),
              HasSubstr("model.vocab['a']: id -1 is not an integer"));
  EXPECT_THAT(ParseError(Tokenizer(R"({"a": 0.5})")).message(),
              HasSubstr("id 0.5 is not an integer"));
  EXPECT_THAT(ParseError(Tokenizer(R"({"a": 4294967296})")).message(),
              HasSubstr("is not an integer in [0, 2^31)"));
  EXPECT_THAT(ParseError(Tokenizer(R"({})")).message(), HasSubstr("no tokens"));
  EXPECT_THAT(ParseError(Tokenizer(R"({"a": 0})", R"([{"id": 1}])")).message(),
              HasSubstr("added_tokens[0] is not an object with an \"id\""));
  EXPECT_THAT(
      ParseError(Tokenizer(R"({"a": 0})", "[]", R"({"type": "Metaspace"})"))
          .message(),
      HasSubstr("decoder Metaspace is not supported"));
}

TEST(TokenizerJsonTest, LoadNamesTheFile) {
  absl::StatusOr<TokenizerJson> missing =
      TokenizerJson::Load("/nonexistent/tokenizer.json");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(),
              HasSubstr("/nonexistent/tokenizer.json"));
}

}  // namespace
}  // namespace engram

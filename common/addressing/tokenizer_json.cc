#include "common/addressing/tokenizer_json.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <exception>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/read_file.h"
#include "common/status_context.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"

namespace engram {
namespace {

using Json = nlohmann::json;

// Largest id accepted: the map is one int64 per id, and real vocabularies
// are below a million.
constexpr uint64_t kMaxTokenId = (uint64_t{1} << 31) - 1;

// GPT-2's byte-to-unicode alphabet, reversed: the code point that stands
// for each byte. Printable Latin-1 bytes stand for themselves; the other 68
// bytes, in increasing order, for U+0100 onwards.
constexpr int kAlphabetEnd = 256 + 68;

const std::array<int16_t, kAlphabetEnd>& ByteOfCodePoint() {
  static const auto* table = [] {
    auto* bytes = new std::array<int16_t, kAlphabetEnd>;
    bytes->fill(-1);
    int next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') ||
                             (b >= 0xA1 && b <= 0xAC) ||
                             (b >= 0xAE && b <= 0xFF);
      (*bytes)[printable ? b : next++] = static_cast<int16_t>(b);
    }
    return bytes;
  }();
  return *table;
}

// The next code point of valid UTF-8 `s` from `*i`, advancing `*i`.
char32_t NextCodePoint(const std::string& s, size_t* i) {
  const auto lead = static_cast<uint8_t>(s[*i]);
  const int length = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
  char32_t c = length == 1   ? lead
               : length == 2 ? lead & 0x1F
               : length == 3 ? lead & 0x0F
                             : lead & 0x07;
  for (int k = 1; k < length; ++k) {
    c = (c << 6) | (static_cast<uint8_t>(s[*i + k]) & 0x3F);
  }
  *i += length;
  return c;
}

std::string Quoted(const std::string& token) {
  return absl::StrCat("'", absl::CHexEscape(token), "'");
}

struct IdToken {
  uint64_t id;
  std::string token;
};

absl::StatusOr<uint64_t> TokenId(const Json& value, absl::string_view where) {
  if (!value.is_number_integer() ||
      (value.is_number_unsigned()
           ? value.get<uint64_t>() > kMaxTokenId
           : value.get<int64_t>() < 0 ||
                 value.get<int64_t>() > static_cast<int64_t>(kMaxTokenId))) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": id ", value.dump(), " is not an integer in [0, 2^31)"));
  }
  return value.is_number_unsigned()
             ? value.get<uint64_t>()
             : static_cast<uint64_t>(value.get<int64_t>());
}

// Sorts by id; InvalidArgument naming two tokens of one id.
absl::Status SortAndCheckUnique(std::vector<IdToken>& tokens,
                                absl::string_view where) {
  std::stable_sort(
      tokens.begin(), tokens.end(),
      [](const IdToken& a, const IdToken& b) { return a.id < b.id; });
  const auto same = std::adjacent_find(
      tokens.begin(), tokens.end(),
      [](const IdToken& a, const IdToken& b) { return a.id == b.id; });
  if (same != tokens.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": tokens ", Quoted(same->token), " and ",
                     Quoted((same + 1)->token), " both have id ", same->id));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<IdToken>> ReadVocab(const Json& root) {
  const auto model = root.find("model");
  if (model == root.end() || !model->is_object()) {
    return absl::InvalidArgumentError("no \"model\" object");
  }
  const auto vocab = model->find("vocab");
  if (vocab == model->end() || !vocab->is_object()) {
    return absl::InvalidArgumentError(
        "no model.vocab object (token -> id); only BPE and WordPiece "
        "vocabularies are read");
  }
  std::vector<IdToken> tokens;
  tokens.reserve(vocab->size());
  for (auto entry = vocab->begin(); entry != vocab->end(); ++entry) {
    ENGRAM_ASSIGN_OR_RETURN(
        const uint64_t number,
        TokenId(entry.value(),
                absl::StrCat("model.vocab[", Quoted(entry.key()), "]")));
    tokens.push_back({number, entry.key()});
  }
  ENGRAM_RETURN_IF_ERROR(SortAndCheckUnique(tokens, "model.vocab"));
  return tokens;
}

absl::StatusOr<std::vector<IdToken>> ReadAddedTokens(const Json& root) {
  std::vector<IdToken> tokens;
  const auto added = root.find("added_tokens");
  if (added == root.end() || added->is_null()) return tokens;
  if (!added->is_array()) {
    return absl::InvalidArgumentError("added_tokens is not an array");
  }
  for (size_t i = 0; i < added->size(); ++i) {
    const Json& entry = (*added)[i];
    const std::string where = absl::StrCat("added_tokens[", i, "]");
    if (!entry.is_object() || !entry.contains("id") ||
        !entry.contains("content") || !entry["content"].is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, " is not an object with an \"id\" and a \"content\" string"));
    }
    ENGRAM_ASSIGN_OR_RETURN(const uint64_t id, TokenId(entry["id"], where));
    tokens.push_back({id, entry["content"].get<std::string>()});
  }
  ENGRAM_RETURN_IF_ERROR(SortAndCheckUnique(tokens, "added_tokens"));
  return tokens;
}

absl::StatusOr<TokenizerJson::Decoder> ReadDecoder(const Json& root) {
  const auto decoder = root.find("decoder");
  if (decoder == root.end() || decoder->is_null()) {
    return TokenizerJson::Decoder::kNone;
  }
  const std::string type = decoder->is_object() && decoder->contains("type") &&
                                   (*decoder)["type"].is_string()
                               ? (*decoder)["type"].get<std::string>()
                               : decoder->dump();
  if (type == "ByteLevel") return TokenizerJson::Decoder::kByteLevel;
  return absl::InvalidArgumentError(
      absl::StrCat("decoder ", type,
                   " is not supported: only ByteLevel (byte-level BPE) or "
                   "none"));
}

// The parsed document, or the parser's message (with its position). The
// one place nlohmann's exceptions are caught.
absl::StatusOr<Json> ParseJson(absl::string_view text) {
  try {
    return Json::parse(text.begin(), text.end());
  } catch (const Json::exception& error) {
    return absl::InvalidArgumentError(absl::StrCat("not JSON: ", error.what()));
  }
}

// A tokenizer's tokens by id, and its decoder.
struct Document {
  std::vector<std::string> tokens;
  TokenizerJson::Decoder decoder = TokenizerJson::Decoder::kNone;
};

absl::StatusOr<Document> ParseDocument(absl::string_view text) {
  ENGRAM_ASSIGN_OR_RETURN(const Json root, ParseJson(text));
  if (!root.is_object()) {
    return absl::InvalidArgumentError("not a JSON object");
  }
  ENGRAM_ASSIGN_OR_RETURN(const std::vector<IdToken> vocab, ReadVocab(root));
  ENGRAM_ASSIGN_OR_RETURN(const std::vector<IdToken> added,
                          ReadAddedTokens(root));
  Document document;
  ENGRAM_ASSIGN_OR_RETURN(document.decoder, ReadDecoder(root));
  // Both lists are sorted and unique, so the ids are gap-free exactly when
  // their union has max + 1 of them.
  absl::flat_hash_set<uint64_t> ids;
  for (const IdToken& entry : vocab) ids.insert(entry.id);
  for (const IdToken& entry : added) ids.insert(entry.id);
  if (ids.empty()) return absl::InvalidArgumentError("no tokens");
  uint64_t max_id = 0;
  for (uint64_t id : ids) max_id = std::max(max_id, id);
  if (ids.size() != max_id + 1) {
    uint64_t gap = 0;
    while (ids.contains(gap)) ++gap;
    return absl::InvalidArgumentError(absl::StrCat(
        "no token has id ", gap, " (of ids up to ", max_id,
        "); the reference's map covers ids 0..len(tokenizer)-1, so they "
        "must have no gaps"));
  }
  document.tokens.resize(max_id + 1);
  for (const IdToken& entry : vocab) document.tokens[entry.id] = entry.token;
  for (const IdToken& entry : added) document.tokens[entry.id] = entry.token;
  return document;
}

}  // namespace

absl::StatusOr<TokenizerJson> TokenizerJson::Parse(absl::string_view json) {
  ENGRAM_ASSIGN_OR_RETURN(Document document, ParseDocument(json));
  return TokenizerJson(std::move(document.tokens), document.decoder);
}

absl::StatusOr<TokenizerJson> TokenizerJson::Load(const std::string& path) {
  ENGRAM_ASSIGN_OR_RETURN(const std::string text,
                          ReadFileToString(path, "tokenizer "));
  absl::StatusOr<TokenizerJson> tokenizer = Parse(text);
  if (!tokenizer.ok()) {
    return Annotate(tokenizer.status(), absl::StrCat(path, ": "));
  }
  return tokenizer;
}

std::string TokenizerJson::DecodeToken(int64_t id) const {
  const std::string& token = tokens_[id];
  if (decoder_ == Decoder::kNone) return token;
  const auto& byte_of = ByteOfCodePoint();
  std::string bytes;
  bytes.reserve(token.size());
  for (size_t i = 0; i < token.size();) {
    const char32_t c = NextCodePoint(token, &i);
    if (c >= kAlphabetEnd || byte_of[c] < 0) return token;
    bytes.push_back(static_cast<char>(byte_of[c]));
  }
  return bytes;
}

}  // namespace engram

// TokenizerJson: what the token compression needs of a Hugging Face
// tokenizer.json: each token id's token string, and the bytes the
// tokenizer's decoder makes of it (what tokenizer.decode([id]) gives before
// its UTF-8 is checked).
//
//   ENGRAM_ASSIGN_OR_RETURN(TokenizerJson tokenizer,
//                           TokenizerJson::Parse(json_text));
//   for (int64_t id = 0; id < tokenizer.size(); ++id) {
//     std::string bytes = tokenizer.DecodeToken(id);
//   }
//
// Read from the file:
//   model.vocab    an object token -> id (BPE and WordPiece models);
//   added_tokens   [{"id": N, "content": "...", ...}]; an added token's
//                  content wins over a vocab entry of the same id, as in
//                  HF's id_to_token (special tokens are often in both);
//   decoder        ByteLevel (byte-level BPE: each character of GPT-2's
//                  byte-to-unicode alphabet back to its byte; a token with
//                  a character outside it, e.g. an added
//                  "<\uff5cbegin\u2581of\u2581sentence\uff5c>", is kept as
//                  its own UTF-8, as HF's decoder does), or null (tokens as
//                  they are). Other decoders are refused.
// Ids must be 0..N-1 with no gaps, since the reference's map covers
// range(len(tokenizer)). Everything else in the file is ignored.
//
// Immutable after creation; thread-safe.
#ifndef ENGRAM_COMMON_ADDRESSING_TOKENIZER_JSON_H_
#define ENGRAM_COMMON_ADDRESSING_TOKENIZER_JSON_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace engram {

class TokenizerJson {
 public:
  enum class Decoder { kNone, kByteLevel };

  // Parse reads the text of a tokenizer.json. Errors: InvalidArgument
  // naming the problem: not JSON (with the parser's position), no
  // model.vocab object, an id that is not a non-negative integer, two
  // tokens of one id (both named), a gap in the ids, an unsupported
  // decoder.
  static absl::StatusOr<TokenizerJson> Parse(absl::string_view json);

  // Load reads and parses a file. NotFound if unreadable; Parse's errors
  // prefixed with the path.
  static absl::StatusOr<TokenizerJson> Load(const std::string& path);

  // The number of token ids: ids are [0, size()).
  int64_t size() const { return static_cast<int64_t>(tokens_.size()); }
  Decoder decoder() const { return decoder_; }

  // The token string of `id` (HF's convert_ids_to_tokens).
  // REQUIRES: 0 <= id < size().
  const std::string& token(int64_t id) const { return tokens_[id]; }

  // The bytes the decoder makes of token `id` alone; not necessarily valid
  // UTF-8 (a byte-level token may hold part of a character).
  // REQUIRES: 0 <= id < size().
  std::string DecodeToken(int64_t id) const;

 private:
  TokenizerJson(std::vector<std::string> tokens, Decoder decoder)
      : tokens_(std::move(tokens)), decoder_(decoder) {}

  std::vector<std::string> tokens_;
  Decoder decoder_;
};

}  // namespace engram

#endif  // ENGRAM_COMMON_ADDRESSING_TOKENIZER_JSON_H_

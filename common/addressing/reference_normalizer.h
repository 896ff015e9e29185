// ReferenceNormalize: the text normaliser of the reference's token
// compression (CompressedTokenizer in engram_demo_v1.py), which folds the
// tokens whose texts are equal after it into one compressed id.
//
// The reference chains Hugging Face tokenizers normalisers:
//
//   NFKC, NFD, StripAccents, Lowercase, Replace([ \t\r\n]+ -> " "),
//   Replace(^ $ -> U+E000), Strip, Replace(U+E000 -> " ")
//
// so whitespace runs become one space, a text that is exactly one space
// stays a space (the U+E000 sentinel carries it through Strip), and other
// texts lose their leading and trailing whitespace. This does the same with
// ICU, each step as the HF normaliser defines it (their Rust code), which is
// not always what a Python one-liner would do:
//   - StripAccents drops every code point of General_Category Mark (Mn, Mc
//     and Me), not only those with a combining class;
//   - Lowercase maps each code point on its own (Rust's char::to_lowercase,
//     full mappings) with no context, so a word-final capital sigma becomes
//     U+03C3 (Python's str.lower() gives the final form U+03C2);
//   - Strip trims White_Space code points (Rust's char::is_whitespace;
//     Python's str.strip() also trims U+001C..U+001F, which are not);
//   - a U+E000 already in the text also becomes a space at the end, as in
//     the reference.
// Tables are ICU's (Debian 12: ICU 72, Unicode 15.0); the reference's come
// from HF's Rust crates. They can differ only for code points assigned in
// Unicode versions one of them lacks.
//
//   absl::StatusOr<std::string> key = ReferenceNormalize("  Caf\u00c9\n");
//   // "cafe"
//
// Thread-safe.
#ifndef ENGRAM_COMMON_ADDRESSING_REFERENCE_NORMALIZER_H_
#define ENGRAM_COMMON_ADDRESSING_REFERENCE_NORMALIZER_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace engram {

// IsValidUtf8 is whether `bytes` is well-formed UTF-8 (no overlong forms,
// surrogates or code points beyond U+10FFFF), as Rust's and Python's
// decoders require.
bool IsValidUtf8(absl::string_view bytes);

// ReferenceNormalize returns the normalised text of `utf8` (above), in
// UTF-8. Errors: InvalidArgument for text that is not valid UTF-8;
// Internal when ICU's normalisation data cannot be loaded.
absl::StatusOr<std::string> ReferenceNormalize(absl::string_view utf8);

}  // namespace engram

#endif  // ENGRAM_COMMON_ADDRESSING_REFERENCE_NORMALIZER_H_

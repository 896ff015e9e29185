#include "common/addressing/reference_normalizer.h"

#include <unicode/locid.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>
#include <unicode/utf16.h>
#include <unicode/utf8.h>

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace engram {
namespace {

// Carries a text that is exactly one space through Strip, as the
// reference's Replace(^ $) -> Strip -> Replace pair does.
constexpr UChar32 kSentinel = 0xE000;

bool IsCollapsedSpace(char16_t unit) {
  return unit == u' ' || unit == u'\t' || unit == u'\r' || unit == u'\n';
}

// StripAccents then Lowercase: marks dropped, each remaining code point
// lowercased alone (no Final_Sigma or other context, as Rust's
// char::to_lowercase), with the root locale's full mappings.
icu::UnicodeString StripMarksAndLowercase(const icu::UnicodeString& text) {
  icu::UnicodeString out;
  for (int32_t i = 0; i < text.length();) {
    const UChar32 c = text.char32At(i);
    i += U16_LENGTH(c);
    if ((U_GET_GC_MASK(c) & U_GC_M_MASK) != 0) continue;
    icu::UnicodeString one(c);
    out.append(one.toLower(icu::Locale::getRoot()));
  }
  return out;
}

// Replace([ \t\r\n]+ -> " ").
icu::UnicodeString CollapseWhitespace(const icu::UnicodeString& text) {
  icu::UnicodeString out;
  bool in_run = false;
  for (int32_t i = 0; i < text.length(); ++i) {
    const char16_t unit = text.charAt(i);
    if (IsCollapsedSpace(unit)) {
      if (!in_run) out.append(u' ');
      in_run = true;
    } else {
      out.append(unit);
      in_run = false;
    }
  }
  return out;
}

// Strip: White_Space code points off both ends. They are all in the BMP,
// so one code unit each.
icu::UnicodeString StripWhiteSpace(const icu::UnicodeString& text) {
  int32_t begin = 0;
  int32_t end = text.length();
  while (begin < end && u_isUWhiteSpace(text.charAt(begin))) ++begin;
  while (end > begin && u_isUWhiteSpace(text.charAt(end - 1))) --end;
  return icu::UnicodeString(text, begin, end - begin);
}

}  // namespace

bool IsValidUtf8(absl::string_view bytes) {
  const auto* s = reinterpret_cast<const uint8_t*>(bytes.data());
  const int64_t length = static_cast<int64_t>(bytes.size());
  for (int64_t i = 0; i < length;) {
    UChar32 c;
    U8_NEXT(s, i, length, c);
    if (c < 0) return false;
  }
  return true;
}

absl::StatusOr<std::string> ReferenceNormalize(absl::string_view utf8) {
  if (!IsValidUtf8(utf8)) {
    return absl::InvalidArgumentError("text to normalise is not valid UTF-8");
  }
  UErrorCode error = U_ZERO_ERROR;
  const icu::Normalizer2* nfkc = icu::Normalizer2::getNFKCInstance(error);
  const icu::Normalizer2* nfd = icu::Normalizer2::getNFDInstance(error);
  if (U_FAILURE(error)) {
    return absl::InternalError(absl::StrCat(
        "ICU normalisation data unavailable: ", u_errorName(error)));
  }
  icu::UnicodeString text =
      nfkc->normalize(icu::UnicodeString::fromUTF8(icu::StringPiece(
                          utf8.data(), static_cast<int32_t>(utf8.size()))),
                      error);
  text = nfd->normalize(text, error);
  if (U_FAILURE(error)) {
    return absl::InternalError(
        absl::StrCat("ICU normalisation failed: ", u_errorName(error)));
  }
  text = CollapseWhitespace(StripMarksAndLowercase(text));
  if (text == icu::UnicodeString(u" ")) text = icu::UnicodeString(kSentinel);
  text = StripWhiteSpace(text);
  text.findAndReplace(icu::UnicodeString(kSentinel), icu::UnicodeString(u" "));
  std::string out;
  text.toUTF8String(out);
  return out;
}

}  // namespace engram

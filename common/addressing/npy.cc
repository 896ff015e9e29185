#include "common/addressing/npy.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "common/status_context.h"
#include "common/status_macros.h"

namespace engram::internal {
namespace {

constexpr std::string_view kMagic("\x93NUMPY", 6);

absl::Status HeaderError(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("npy header: ", what));
}

// Parses the Python dict literal of a .npy header, e.g.
//   {'descr': '<i8', 'fortran_order': False, 'shape': (10,), }
// Only strings, True/False and tuples of non-negative integers occur.
class HeaderParser {
 public:
  explicit HeaderParser(std::string_view text) : text_(text) {}

  absl::Status Parse() {
    SkipSpace();
    if (!Eat('{')) return HeaderError("expected '{'");
    while (true) {
      SkipSpace();
      if (Eat('}')) break;
      ENGRAM_ASSIGN_OR_RETURN(std::string key, ParseString());
      SkipSpace();
      if (!Eat(':')) return HeaderError("expected ':'");
      SkipSpace();
      if (key == "descr") {
        ENGRAM_ASSIGN_OR_RETURN(descr_, ParseString());
      } else if (key == "fortran_order") {
        ENGRAM_ASSIGN_OR_RETURN(fortran_order_, ParseBool());
      } else if (key == "shape") {
        ENGRAM_ASSIGN_OR_RETURN(shape_, ParseTuple());
      } else {
        return HeaderError(absl::StrCat("unexpected key '", key, "'"));
      }
      SkipSpace();
      if (Eat(',')) continue;
      SkipSpace();
      if (Eat('}')) break;
      return HeaderError("expected ',' or '}'");
    }
    SkipSpace();
    if (pos_ != text_.size()) return HeaderError("trailing characters");
    if (!descr_) return HeaderError("missing 'descr'");
    if (!fortran_order_) return HeaderError("missing 'fortran_order'");
    if (!shape_) return HeaderError("missing 'shape'");
    return absl::OkStatus();
  }

  const std::string& descr() const { return *descr_; }
  bool fortran_order() const { return *fortran_order_; }
  const std::vector<uint64_t>& shape() const { return *shape_; }

 private:
  void SkipSpace() {
    while (pos_ < text_.size() &&
           (text_[pos_] == ' ' || text_[pos_] == '\n' || text_[pos_] == '\t' ||
            text_[pos_] == '\r')) {
      ++pos_;
    }
  }
  bool Eat(char c) {
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }

  absl::StatusOr<std::string> ParseString() {
    if (pos_ >= text_.size() || (text_[pos_] != '\'' && text_[pos_] != '"')) {
      return HeaderError("expected a quoted string");
    }
    const char quote = text_[pos_++];
    const size_t end = text_.find(quote, pos_);
    if (end == std::string_view::npos)
      return HeaderError("unterminated string");
    std::string out(text_.substr(pos_, end - pos_));
    pos_ = end + 1;
    return out;
  }

  absl::StatusOr<bool> ParseBool() {
    if (text_.substr(pos_, 4) == "True") {
      pos_ += 4;
      return true;
    }
    if (text_.substr(pos_, 5) == "False") {
      pos_ += 5;
      return false;
    }
    return HeaderError("expected True or False");
  }

  absl::StatusOr<std::vector<uint64_t>> ParseTuple() {
    if (!Eat('(')) return HeaderError("expected '(' for shape");
    std::vector<uint64_t> dims;
    while (true) {
      SkipSpace();
      if (Eat(')')) return dims;
      const size_t begin = pos_;
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
        ++pos_;
      }
      uint64_t dim = 0;
      if (pos_ == begin ||
          !absl::SimpleAtoi(
              absl::string_view(text_.data() + begin, pos_ - begin), &dim)) {
        return HeaderError("bad shape dimension");
      }
      dims.push_back(dim);
      SkipSpace();
      if (Eat(',')) continue;
      if (Eat(')')) return dims;
      return HeaderError("expected ',' or ')' in shape");
    }
  }

  std::string_view text_;
  size_t pos_ = 0;
  std::optional<std::string> descr_;
  std::optional<bool> fortran_order_;
  std::optional<std::vector<uint64_t>> shape_;
};

uint32_t ReadLittleEndian(std::string_view bytes, size_t offset, int width) {
  uint32_t value = 0;
  for (int i = width - 1; i >= 0; --i) {
    value = (value << 8) | static_cast<uint8_t>(bytes[offset + i]);
  }
  return value;
}

}  // namespace

absl::StatusOr<NpyHeader> ParseNpyHeader(std::string_view bytes) {
  if (bytes.size() < 10 || bytes.substr(0, kMagic.size()) != kMagic) {
    return absl::InvalidArgumentError("not a .npy file (bad magic)");
  }
  const int major = static_cast<uint8_t>(bytes[6]);
  const int minor = static_cast<uint8_t>(bytes[7]);
  size_t header_begin = 0;
  size_t header_len = 0;
  if (major == 1) {
    header_len = ReadLittleEndian(bytes, 8, 2);
    header_begin = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) return HeaderError("truncated");
    header_len = ReadLittleEndian(bytes, 8, 4);
    header_begin = 12;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported .npy format version ", major, ".", minor));
  }
  if (bytes.size() - header_begin < header_len) {
    return HeaderError("truncated");
  }
  HeaderParser parser(bytes.substr(header_begin, header_len));
  ENGRAM_RETURN_IF_ERROR(parser.Parse());
  return NpyHeader{parser.descr(), parser.fortran_order(), parser.shape(),
                   header_begin + header_len};
}

absl::StatusOr<std::vector<int64_t>> ParseNpyInt64(std::string_view bytes) {
  ENGRAM_ASSIGN_OR_RETURN(NpyHeader header, ParseNpyHeader(bytes));
  if (header.descr != "<i8") {
    return absl::InvalidArgumentError(
        absl::StrCat("npy dtype is '", header.descr,
                     "', expected '<i8' (little-endian int64)"));
  }
  if (header.shape.size() != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("npy array has ", header.shape.size(),
                     " dimensions, expected a 1-D array"));
  }
  const uint64_t count = header.shape[0];
  const size_t data_begin = header.data_offset;
  const size_t data_size = bytes.size() - data_begin;
  if (count > data_size / 8 || count * 8 != data_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "npy data is ", data_size, " bytes, expected ", count, " x 8"));
  }
  std::vector<int64_t> values(count);
  for (uint64_t i = 0; i < count; ++i) {
    uint64_t v = 0;
    for (int b = 7; b >= 0; --b) {
      v = (v << 8) | static_cast<uint8_t>(bytes[data_begin + 8 * i + b]);
    }
    values[i] = static_cast<int64_t>(v);
  }
  return values;
}

absl::StatusOr<std::vector<int64_t>> ReadNpyInt64(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  absl::StatusOr<std::vector<int64_t>> values = ParseNpyInt64(buffer.str());
  if (!values.ok()) {
    return Annotate(values.status(), absl::StrCat(path, ": "));
  }
  return values;
}

std::string EncodeNpyHeader(std::string_view descr,
                            absl::Span<const uint64_t> shape,
                            size_t padded_to) {
  // numpy writes a 1-tuple with a trailing comma: (3,).
  std::string dims = absl::StrJoin(shape, ", ");
  if (shape.size() == 1) dims.push_back(',');
  std::string header =
      absl::StrCat("{'descr': '", absl::string_view(descr.data(), descr.size()),
                   "', 'fortran_order': False, 'shape': (", dims, "), }");
  // numpy pads with spaces so that magic + length + header + '\n' is a
  // multiple of 64 bytes.
  const size_t unpadded = kMagic.size() + 4 + header.size() + 1;
  header.append(
      std::max(padded_to, unpadded + (64 - unpadded % 64) % 64) - unpadded,
      ' ');
  header.push_back('\n');
  std::string out(kMagic);
  out.push_back('\x01');
  out.push_back('\x00');
  out.push_back(static_cast<char>(header.size() & 0xff));
  out.push_back(static_cast<char>(header.size() >> 8));
  out += header;
  return out;
}

std::string EncodeNpyInt64(absl::Span<const int64_t> values) {
  const uint64_t length = values.size();
  std::string out = EncodeNpyHeader("<i8", absl::MakeConstSpan(&length, 1));
  for (int64_t value : values) {
    const uint64_t v = static_cast<uint64_t>(value);
    for (int b = 0; b < 8; ++b) out.push_back(static_cast<char>(v >> (8 * b)));
  }
  return out;
}

}  // namespace engram::internal

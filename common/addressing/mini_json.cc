#include "common/addressing/mini_json.h"

#include <cctype>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

#include "absl/base/internal/raw_logging.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace engram::internal {

class JsonParser {
 public:
  explicit JsonParser(std::string_view text) : text_(text) {}

  absl::StatusOr<JsonValue> ParseDocument() {
    JsonValue value;
    if (absl::Status s = ParseValue(value, 0); !s.ok()) return s;
    SkipSpace();
    if (pos_ != text_.size()) return Error("trailing characters");
    return value;
  }

 private:
  static constexpr int kMaxDepth = 64;

  absl::Status Error(absl::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat("JSON: ", what, " at offset ", pos_));
  }

  void SkipSpace() {
    while (pos_ < text_.size() &&
           (text_[pos_] == ' ' || text_[pos_] == '\n' || text_[pos_] == '\r' ||
            text_[pos_] == '\t')) {
      ++pos_;
    }
  }

  bool Consume(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  absl::Status ParseValue(JsonValue& out, int depth) {
    if (depth > kMaxDepth) return Error("nesting too deep");
    SkipSpace();
    if (pos_ >= text_.size()) return Error("unexpected end");
    const char c = text_[pos_];
    if (c == '{') return ParseObject(out, depth);
    if (c == '[') return ParseArray(out, depth);
    if (c == '"') {
      out.kind_ = JsonValue::Kind::kString;
      return ParseString(out.text_);
    }
    if (Consume("null")) {
      out.kind_ = JsonValue::Kind::kNull;
      return absl::OkStatus();
    }
    if (Consume("true") || Consume("false")) {
      out.kind_ = JsonValue::Kind::kBool;
      out.bool_ = text_[pos_ - 1] == 'e' && text_[pos_ - 2] == 'u';
      return absl::OkStatus();
    }
    return ParseNumber(out);
  }

  absl::Status ParseNumber(JsonValue& out) {
    const size_t begin = pos_;
    if (pos_ < text_.size() && text_[pos_] == '-') ++pos_;
    while (pos_ < text_.size() &&
           (std::isdigit(static_cast<unsigned char>(text_[pos_])) ||
            text_[pos_] == '.' || text_[pos_] == 'e' || text_[pos_] == 'E' ||
            text_[pos_] == '+' || text_[pos_] == '-')) {
      ++pos_;
    }
    if (pos_ == begin) return Error("unexpected character");
    out.kind_ = JsonValue::Kind::kNumber;
    out.text_ = std::string(text_.substr(begin, pos_ - begin));
    return absl::OkStatus();
  }

  absl::Status ParseString(std::string& out) {
    ++pos_;  // opening quote
    out.clear();
    while (pos_ < text_.size() && text_[pos_] != '"') {
      char c = text_[pos_++];
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      if (pos_ >= text_.size()) break;
      c = text_[pos_++];
      switch (c) {
        case 'n':
          out.push_back('\n');
          break;
        case 't':
          out.push_back('\t');
          break;
        case 'r':
          out.push_back('\r');
          break;
        case 'b':
          out.push_back('\b');
          break;
        case 'f':
          out.push_back('\f');
          break;
        case 'u': {
          uint32_t code = 0;
          if (pos_ + 4 > text_.size()) return Error("bad \\u escape");
          for (int i = 0; i < 4; ++i) {
            const char h = text_[pos_++];
            code <<= 4;
            if (h >= '0' && h <= '9')
              code |= h - '0';
            else if (h >= 'a' && h <= 'f')
              code |= h - 'a' + 10;
            else if (h >= 'A' && h <= 'F')
              code |= h - 'A' + 10;
            else
              return Error("bad \\u escape");
          }
          if (code >= 0x80) return Error("non-ASCII \\u escape unsupported");
          out.push_back(static_cast<char>(code));
          break;
        }
        default:
          out.push_back(c);
          break;
      }
    }
    if (pos_ >= text_.size()) return Error("unterminated string");
    ++pos_;  // closing quote
    return absl::OkStatus();
  }

  absl::Status ParseArray(JsonValue& out, int depth) {
    out.kind_ = JsonValue::Kind::kArray;
    ++pos_;
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == ']') {
      ++pos_;
      return absl::OkStatus();
    }
    while (true) {
      out.items_.emplace_back();
      if (absl::Status s = ParseValue(out.items_.back(), depth + 1); !s.ok()) {
        return s;
      }
      SkipSpace();
      if (pos_ < text_.size() && text_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < text_.size() && text_[pos_] == ']') {
        ++pos_;
        return absl::OkStatus();
      }
      return Error("expected ',' or ']'");
    }
  }

  absl::Status ParseObject(JsonValue& out, int depth) {
    out.kind_ = JsonValue::Kind::kObject;
    ++pos_;
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == '}') {
      ++pos_;
      return absl::OkStatus();
    }
    while (true) {
      SkipSpace();
      if (pos_ >= text_.size() || text_[pos_] != '"') {
        return Error("expected a key");
      }
      std::string key;
      if (absl::Status s = ParseString(key); !s.ok()) return s;
      SkipSpace();
      if (pos_ >= text_.size() || text_[pos_] != ':') {
        return Error("expected ':'");
      }
      ++pos_;
      out.members_.emplace_back(std::move(key), JsonValue());
      if (absl::Status s = ParseValue(out.members_.back().second, depth + 1);
          !s.ok()) {
        return s;
      }
      SkipSpace();
      if (pos_ < text_.size() && text_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < text_.size() && text_[pos_] == '}') {
        ++pos_;
        return absl::OkStatus();
      }
      return Error("expected ',' or '}'");
    }
  }

  std::string_view text_;
  size_t pos_ = 0;
};

bool JsonValue::AsBool() const {
  ABSL_RAW_CHECK(kind_ == Kind::kBool, "JSON value is not a bool");
  return bool_;
}

int64_t JsonValue::AsInt64() const {
  ABSL_RAW_CHECK(kind_ == Kind::kNumber || kind_ == Kind::kString,
                 "JSON value is not a number");
  int64_t value = 0;
  ABSL_RAW_CHECK(absl::SimpleAtoi(text_, &value), "not an int64");
  return value;
}

uint64_t JsonValue::AsUint64() const {
  ABSL_RAW_CHECK(kind_ == Kind::kNumber || kind_ == Kind::kString,
                 "JSON value is not a number");
  uint64_t value = 0;
  ABSL_RAW_CHECK(absl::SimpleAtoi(text_, &value), "not a uint64");
  return value;
}

double JsonValue::AsDouble() const {
  ABSL_RAW_CHECK(kind_ == Kind::kNumber, "JSON value is not a number");
  double value = 0;
  ABSL_RAW_CHECK(absl::SimpleAtod(text_, &value), "not a double");
  return value;
}

const std::string& JsonValue::AsString() const {
  ABSL_RAW_CHECK(kind_ == Kind::kString, "JSON value is not a string");
  return text_;
}

size_t JsonValue::size() const {
  ABSL_RAW_CHECK(kind_ == Kind::kArray || kind_ == Kind::kObject,
                 "JSON value is not an array or object");
  return kind_ == Kind::kArray ? items_.size() : members_.size();
}

const JsonValue& JsonValue::operator[](size_t index) const {
  ABSL_RAW_CHECK(kind_ == Kind::kArray, "JSON value is not an array");
  ABSL_RAW_CHECK(index < items_.size(), "JSON array index out of range");
  return items_[index];
}

const std::vector<JsonValue>& JsonValue::items() const {
  ABSL_RAW_CHECK(kind_ == Kind::kArray, "JSON value is not an array");
  return items_;
}

std::vector<int64_t> JsonValue::FlattenInt64() const {
  std::vector<int64_t> out;
  if (kind_ != Kind::kArray) {
    out.push_back(AsInt64());
    return out;
  }
  for (const JsonValue& item : items_) {
    std::vector<int64_t> inner = item.FlattenInt64();
    out.insert(out.end(), inner.begin(), inner.end());
  }
  return out;
}

bool JsonValue::Has(std::string_view key) const {
  if (kind_ != Kind::kObject) return false;
  for (const auto& [name, value] : members_) {
    if (name == key) return true;
  }
  return false;
}

const JsonValue& JsonValue::operator[](std::string_view key) const {
  ABSL_RAW_CHECK(kind_ == Kind::kObject, "JSON value is not an object");
  for (const auto& [name, value] : members_) {
    if (name == key) return value;
  }
  ABSL_RAW_LOG(FATAL, "JSON object has no key '%s'", std::string(key).c_str());
  return *this;  // not reached
}

const std::vector<std::pair<std::string, JsonValue>>& JsonValue::members()
    const {
  ABSL_RAW_CHECK(kind_ == Kind::kObject, "JSON value is not an object");
  return members_;
}

absl::StatusOr<JsonValue> ParseJson(std::string_view text) {
  return JsonParser(text).ParseDocument();
}

absl::StatusOr<JsonValue> ReadJsonFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  absl::StatusOr<JsonValue> value = ParseJson(buffer.str());
  if (!value.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", value.status().message()));
  }
  return value;
}

}  // namespace engram::internal

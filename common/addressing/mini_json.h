// A small JSON reader for the addressing tests and vector checker.
//
// No JSON library is installed, and the test vectors hold 64-bit integers
// that a double-based reader (e.g. protobuf's Struct) would round: this
// reader keeps each number's text and converts it exactly on request.
//
//   absl::StatusOr<internal::JsonValue> doc = internal::ParseJson(text);
//   int64_t seed = (*doc)["config"]["seed"].AsInt64();
//
// Accessors on a value of the wrong kind, or a missing key, CHECK-fail via
// absl's internal raw logging: this is a test helper, a malformed vector file
// should stop the test loudly.
#ifndef ENGRAM_COMMON_ADDRESSING_MINI_JSON_H_
#define ENGRAM_COMMON_ADDRESSING_MINI_JSON_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace engram::internal {

// JsonValue is one parsed JSON value.
class JsonValue {
 public:
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject };

  Kind kind() const { return kind_; }
  bool is_null() const { return kind_ == Kind::kNull; }

  bool AsBool() const;
  // AsInt64 / AsUint64 convert an integer number (or a string of decimal
  // digits, which the generators use for values beyond int64) exactly.
  int64_t AsInt64() const;
  uint64_t AsUint64() const;
  double AsDouble() const;
  const std::string& AsString() const;

  // Arrays.
  size_t size() const;
  const JsonValue& operator[](size_t index) const;
  const std::vector<JsonValue>& items() const;
  // Flattens an array of (arrays of ...) integers, row-major.
  std::vector<int64_t> FlattenInt64() const;

  // Objects; members keep their order in the text.
  bool Has(std::string_view key) const;
  const JsonValue& operator[](std::string_view key) const;
  const std::vector<std::pair<std::string, JsonValue>>& members() const;

 private:
  friend class JsonParser;
  Kind kind_ = Kind::kNull;
  bool bool_ = false;
  std::string text_;  // number text or string contents
  std::vector<JsonValue> items_;
  std::vector<std::pair<std::string, JsonValue>> members_;
};

// ParseJson parses a whole document.
// Errors: InvalidArgument with the byte offset of the first syntax error.
absl::StatusOr<JsonValue> ParseJson(std::string_view text);

// ReadJsonFile reads and parses a file.
// Errors: NotFound when unreadable; parse errors as ParseJson.
absl::StatusOr<JsonValue> ReadJsonFile(const std::string& path);

}  // namespace engram::internal

#endif  // ENGRAM_COMMON_ADDRESSING_MINI_JSON_H_

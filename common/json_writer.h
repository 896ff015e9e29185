// A small streaming JSON writer for the CLI and benchmark output.
//
//   JsonWriter json;
//   json.BeginObject();
//   json.Key("rows").Uint(42);
//   json.Key("dtype").String("bf16");
//   json.EndObject();
//   std::cout << json.str();
//
// Integers are written exactly (no detour through double). Commas are
// inserted automatically; the caller keeps Begin/End calls balanced.
#ifndef ENGRAM_COMMON_JSON_WRITER_H_
#define ENGRAM_COMMON_JSON_WRITER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace engram {

class JsonWriter {
 public:
  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  // Writes an object key; the next call writes its value.
  JsonWriter& Key(absl::string_view key);
  JsonWriter& String(absl::string_view value);
  JsonWriter& Int(int64_t value);
  JsonWriter& Uint(uint64_t value);
  // Non-finite values are written as null, which JSON requires.
  JsonWriter& Double(double value);
  JsonWriter& Bool(bool value);

  const std::string& str() const { return out_; }

 private:
  // Writes the separator owed before a value or key at the current depth.
  void BeforeValue();

  std::string out_;
  // One entry per open container: whether it already holds an element.
  std::vector<bool> has_element_;
  bool after_key_ = false;
};

}  // namespace engram

#endif  // ENGRAM_COMMON_JSON_WRITER_H_

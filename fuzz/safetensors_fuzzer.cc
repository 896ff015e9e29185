// Fuzzes the .safetensors reader of imports and model weights: the header
// parser, tensor lookup, and the rows of the file's tensors as one table.
// Bad bytes must end in a status, never a crash.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "common/safetensors_header.h"
#include "common/table_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  const auto header = engram::internal::ParseSafetensorsHeader(bytes);
  if (!header.ok()) return 0;
  std::vector<std::string> names;
  for (const auto& [name, entry] : header->tensors.fields()) {
    if (name == "__metadata__") continue;
    names.push_back(name);
    const auto tensor = engram::internal::FindTensor(*header, name);
    if (!tensor.ok()) continue;
    (void)engram::internal::TensorDataOffset(*header, *tensor,
                                             tensor->end - tensor->begin, size);
  }
  (void)engram::SourceFromSafetensors(bytes, size, names, std::nullopt);
  if (!names.empty()) {
    (void)engram::SourceFromSafetensors(bytes, size, {names.front()},
                                        engram::ElementType::kOpaque);
  }
  return 0;
}

#include "common/addressing/vector_json.h"

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/addressing/addresser.h"
#include "common/addressing/sha256.h"
#include "common/status_macros.h"

namespace engram {
namespace {

template <typename T>
void AppendList(std::string& out, absl::Span<const T> values) {
  out.push_back('[');
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out.append(", ");
    absl::StrAppend(&out, values[i]);
  }
  out.push_back(']');
}

// Appends values [outer][inner...] as nested lists; `dims` are the sizes.
void AppendNested(std::string& out, const int64_t* values,
                  absl::Span<const int64_t> dims) {
  if (dims.size() == 1) {
    AppendList<int64_t>(out, absl::MakeConstSpan(values, dims[0]));
    return;
  }
  int64_t stride = 1;
  for (size_t i = 1; i < dims.size(); ++i) stride *= dims[i];
  out.push_back('[');
  for (int64_t i = 0; i < dims[0]; ++i) {
    if (i > 0) out.append(", ");
    AppendNested(out, values + i * stride, dims.subspan(1));
  }
  out.push_back(']');
}

}  // namespace

absl::StatusOr<std::string> AddressesToJson(const HashSpec& spec,
                                            absl::Span<const int64_t> tokens,
                                            int batch, int time,
                                            absl::Span<const int32_t> lengths) {
  const int64_t outputs =
      static_cast<int64_t>(batch) * time * spec.rows_per_token();
  std::vector<int64_t> rows(std::max<int64_t>(outputs, 0));
  std::vector<int64_t> hashes(rows.size());

  const HashSpecConfig& config = spec.config();
  std::string out = "{\"config\": {";
  absl::StrAppend(&out, "\"seed\": ", config.seed, ", \"layer_ids\": ");
  AppendList<int64_t>(out, config.layer_ids);
  out.append(", \"vocab_sizes\": ");
  AppendList<int64_t>(out, config.vocab_sizes);
  absl::StrAppend(&out, ", \"max_ngram\": ", config.max_ngram,
                  ", \"heads_per_ngram\": ", config.heads_per_ngram,
                  ", \"pad_id\": ", config.pad_id,
                  ", \"tokenizer_vocab\": ", config.tokenizer_vocab);
  if (const CompressionMap* map = spec.compression()) {
    absl::StrAppend(&out, ", \"compression_raw_vocab\": ", map->raw_vocab(),
                    ", \"compression_sha256\": \"",
                    internal::Sha256::ToHex(map->content_digest()), "\"");
  }
  out.append("}, \"tokens\": ");
  AppendNested(out, tokens.data(), {batch, time});

  bool padded = false;
  for (int32_t length : lengths) padded |= length != time;
  if (padded) {
    out.append(", \"padding\": \"left\", \"lengths\": ");
    AppendList<int32_t>(out, lengths);
  }
  out.append(", \"layers\": {");
  for (int layer = 0; layer < spec.num_layers(); ++layer) {
    ENGRAM_RETURN_IF_ERROR(ComputeRowIds(spec, layer, tokens, batch, time,
                                         lengths, absl::MakeSpan(rows),
                                         absl::MakeSpan(hashes)));
    if (layer > 0) out.append(", ");
    absl::StrAppend(&out, "\"", spec.layer_id(layer), "\": {\"multipliers\": ");
    AppendList<int64_t>(out, spec.multipliers(layer));
    out.append(", \"head_sizes\": ");
    AppendList<int64_t>(out, spec.head_sizes(layer));
    const int64_t dims[] = {batch, time, spec.rows_per_token()};
    out.append(", \"hash_ids\": ");
    AppendNested(out, hashes.data(), dims);
    out.append(", \"row_ids\": ");
    AppendNested(out, rows.data(), dims);
    out.push_back('}');
  }
  out.append("}}");
  return out;
}

}  // namespace engram

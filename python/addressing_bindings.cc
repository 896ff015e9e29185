#include "python/addressing_bindings.h"

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "common/addressing/addresser.h"
#include "common/addressing/compression_map.h"
#include "common/engram_model_config.h"
#include "pybind11/numpy.h"
#include "pybind11/stl.h"
#include "python/numpy_arrays.h"
#include "python/status_error.h"

namespace engram::python {
namespace py = pybind11;
std::shared_ptr<const CompressionMap> CompressionFromLookup(
    const TokenArray& lookup, int64_t compressed_vocab) {
  if (lookup.ndim() != 1) {
    throw py::value_error("compression must be a 1-D int64 lookup");
  }
  std::vector<int64_t> values(lookup.data(), lookup.data() + lookup.size());
  return ValueOrThrow(CompressionMap::FromLookup(
      std::move(values), {.compressed_vocab = compressed_vocab}));
}

py::array_t<int64_t> LookupArray(const CompressionMap& map) {
  const absl::Span<const int64_t> lookup = map.lookup();
  return py::array_t<int64_t>(static_cast<py::ssize_t>(lookup.size()),
                              lookup.data());
}

namespace {

PyHashSpec MakeSpec(int64_t seed, std::vector<int64_t> layer_ids,
                    std::vector<int64_t> vocab_sizes, int max_ngram,
                    int heads_per_ngram, int64_t n_embed_per_ngram,
                    int64_t pad_id, int64_t tokenizer_vocab,
                    std::optional<TokenArray> compression) {
  HashSpecConfig config;
  config.seed = seed;
  config.layer_ids = std::move(layer_ids);
  config.vocab_sizes = std::move(vocab_sizes);
  config.max_ngram = max_ngram;
  config.heads_per_ngram = heads_per_ngram;
  config.n_embed_per_ngram = n_embed_per_ngram;
  config.pad_id = pad_id;
  config.tokenizer_vocab = tokenizer_vocab;
  if (compression.has_value()) {
    config.compression = CompressionFromLookup(*compression, tokenizer_vocab);
  }
  return {std::make_shared<const HashSpec>(
      ValueOrThrow(HashSpec::FromConfig(config)))};
}

int CheckLayer(const HashSpec& spec, int layer) {
  if (layer < 0 || layer >= spec.num_layers()) {
    throw py::index_error(absl::StrCat("layer index ", layer, " not in [0, ",
                                       spec.num_layers(), ")"));
  }
  return layer;
}

// tokens as [batch, time] (a 1-D array is one sequence).
std::pair<int, int> BatchShape(const TokenArray& tokens) {
  if (tokens.ndim() == 1) return {1, static_cast<int>(tokens.shape(0))};
  if (tokens.ndim() == 2) {
    return {static_cast<int>(tokens.shape(0)),
            static_cast<int>(tokens.shape(1))};
  }
  throw py::value_error("tokens must be [batch, time] (or [time])");
}

py::array_t<int64_t> Addresses(const PyHashSpec& py_spec,
                               const TokenArray& tokens,
                               std::optional<LengthArray> lengths,
                               std::optional<int> layer) {
  const HashSpec& spec = *py_spec.spec;
  const auto [batch, time] = BatchShape(tokens);
  absl::Span<const int32_t> length_span;
  if (lengths.has_value()) {
    length_span = absl::MakeConstSpan(lengths->data(), lengths->size());
  }
  const py::ssize_t rows = spec.rows_per_token();
  std::vector<py::ssize_t> shape = {batch, time, rows};
  if (!layer.has_value()) shape.insert(shape.begin(), spec.num_layers());
  py::array_t<int64_t> out(shape);
  const absl::Span<int64_t> out_span(out.mutable_data(), out.size());
  const absl::Span<const int64_t> token_span(tokens.data(), tokens.size());
  absl::Status status;
  {
    py::gil_scoped_release release;
    status = layer.has_value()
                 ? ComputeRowIds(spec, CheckLayer(spec, *layer), token_span,
                                 batch, time, length_span, out_span)
                 : ComputeRowIdsAllLayers(spec, token_span, batch, time,
                                          length_span, out_span);
  }
  ThrowIfError(status);
  return out;
}

}  // namespace

void RegisterAddressing(py::module_& module) {
  const HashSpecConfig defaults;
  py::class_<PyHashSpec>(
      module, "HashSpec",
      "An Engram model's addressing: the reference's NgramHashMapping "
      "arguments and what it derives from them. Immutable.")
      .def(py::init(&MakeSpec), py::kw_only(), py::arg("seed") = defaults.seed,
           py::arg("layer_ids") = defaults.layer_ids,
           py::arg("vocab_sizes") = defaults.vocab_sizes,
           py::arg("max_ngram") = defaults.max_ngram,
           py::arg("heads_per_ngram") = defaults.heads_per_ngram,
           py::arg("n_embed_per_ngram") = defaults.n_embed_per_ngram,
           py::arg("pad_id") = defaults.pad_id,
           py::arg("tokenizer_vocab") = defaults.tokenizer_vocab,
           py::arg("compression") = py::none(),
           "Derives the spec as the reference does; compression is an "
           "optional raw id -> compressed id lookup (int64). Error "
           "(INVALID_ARGUMENT) naming a bad field.")
      .def_static(
          "from_model_config",
          [](const std::string& path) {
            return PyHashSpec{std::make_shared<const HashSpec>(ValueOrThrow(
                HashSpec::FromConfig(ValueOrThrow(LoadEngramConfig(path)))))};
          },
          py::arg("path"),
          "The addressing of engram-worker's model config JSON `path`: its "
          "engram section over the defaults above, its compression_map "
          "loaded. Error: NOT_FOUND for an unreadable file or map, "
          "INVALID_ARGUMENT naming the file and the problem.")
      .def_property_readonly(
          "digest", [](const PyHashSpec& s) { return s.spec->Digest(); },
          "Stable hex id: equal digests address alike.")
      .def_property_readonly(
          "compression",
          [](const PyHashSpec& s) -> py::object {
            const CompressionMap* map = s.spec->compression();
            if (map == nullptr) return py::none();
            return LookupArray(*map);
          },
          "The raw id -> compressed id lookup (int64), or None: what "
          "Client.prefetcher(compression=) takes.")
      .def_property_readonly(
          "num_layers",
          [](const PyHashSpec& s) { return s.spec->num_layers(); })
      .def_property_readonly(
          "layer_ids",
          [](const PyHashSpec& s) { return s.spec->config().layer_ids; })
      .def_property_readonly(
          "max_ngram", [](const PyHashSpec& s) { return s.spec->max_ngram(); })
      .def_property_readonly(
          "heads_per_ngram",
          [](const PyHashSpec& s) { return s.spec->heads_per_ngram(); })
      .def_property_readonly(
          "rows_per_token",
          [](const PyHashSpec& s) { return s.spec->rows_per_token(); },
          "(max_ngram - 1) * heads_per_ngram")
      .def_property_readonly(
          "head_dim", [](const PyHashSpec& s) { return s.spec->head_dim(); })
      .def(
          "rows_in_layer",
          [](const PyHashSpec& s, int layer) {
            return s.spec->rows_in_layer(CheckLayer(*s.spec, layer));
          },
          py::arg("layer"), "Height of layer `layer`'s table (an index).")
      .def(
          "multipliers",
          [](const PyHashSpec& s, int layer) {
            const auto values = s.spec->multipliers(CheckLayer(*s.spec, layer));
            return std::vector<int64_t>(values.begin(), values.end());
          },
          py::arg("layer"))
      .def(
          "head_sizes",
          [](const PyHashSpec& s, int layer) {
            const auto values = s.spec->head_sizes(CheckLayer(*s.spec, layer));
            return std::vector<int64_t>(values.begin(), values.end());
          },
          py::arg("layer"))
      .def("__repr__", [](const PyHashSpec& s) {
        return absl::StrCat("HashSpec(layers=", s.spec->num_layers(),
                            ", max_ngram=", s.spec->max_ngram(),
                            ", heads_per_ngram=", s.spec->heads_per_ngram(),
                            ", digest='", s.spec->Digest().substr(0, 12),
                            "...')");
      });

  module.def(
      "addresses", &Addresses, py::arg("spec"), py::arg("tokens"),
      py::arg("lengths") = py::none(), py::arg("layer") = py::none(),
      "Engram row ids of raw token ids `tokens` [batch, time] (sequence b's "
      "real tokens its last lengths[b] positions; lengths None: all full): "
      "int64 [layers, batch, time, rows_per_token], or [batch, time, "
      "rows_per_token] for one layer index. Error (INVALID_ARGUMENT) for "
      "bad shapes or a token outside the vocabulary.");
}

}  // namespace engram::python

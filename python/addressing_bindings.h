// Python bindings of the reference Engram addressing (common/addressing):
// HashSpec and addresses(), bit-identical to the C++ addresser (and so to
// DeepSeek's engram_demo_v1.py).
//
//   spec = engram_client.HashSpec(seed=0, layer_ids=[1, 15],
//                                 vocab_sizes=[646400, 646400])
//   rows = engram_client.addresses(spec, tokens)   # int64 [L, B, T, R]
//   rows = engram_client.addresses(spec, tokens, layer=0)  # [B, T, R]
#ifndef ENGRAM_PYTHON_ADDRESSING_BINDINGS_H_
#define ENGRAM_PYTHON_ADDRESSING_BINDINGS_H_

#include <cstdint>
#include <memory>

#include "common/addressing/compression_map.h"
#include "common/addressing/hash_spec.h"
#include "pybind11/numpy.h"
#include "pybind11/pybind11.h"
#include "python/numpy_arrays.h"

namespace engram::python {

// The Python HashSpec: an immutable spec, shared with the C++ objects that
// hold it (a table description's, a prefetcher's layer's).
struct PyHashSpec {
  std::shared_ptr<const HashSpec> spec;
};

// A compression map from a 1-D int64 lookup (raw id -> compressed id)
// whose values lie in [0, compressed_vocab). Raises ValueError otherwise.
std::shared_ptr<const CompressionMap> CompressionFromLookup(
    const TokenArray& lookup, int64_t compressed_vocab);

// `map`'s lookup (raw id -> compressed id) as a new 1-D int64 array.
pybind11::array_t<int64_t> LookupArray(const CompressionMap& map);

void RegisterAddressing(pybind11::module_& module);

}  // namespace engram::python

#endif  // ENGRAM_PYTHON_ADDRESSING_BINDINGS_H_

// How the Python client takes arrays: the argument types its functions
// declare (pybind11 converts lists and other dtypes to them, copying only
// then), and the checks on buffers it writes or reads in place.
#ifndef ENGRAM_PYTHON_NUMPY_ARRAYS_H_
#define ENGRAM_PYTHON_NUMPY_ARRAYS_H_

#include <cstdint>

#include "pybind11/numpy.h"
#include "pybind11/pybind11.h"

namespace engram::python {

// Row ids (uint64), raw token ids (int64) and sequence lengths (int32),
// C-contiguous.
using IdArray = pybind11::array_t<uint64_t, pybind11::array::c_style |
                                                pybind11::array::forcecast>;
using TokenArray = pybind11::array_t<int64_t, pybind11::array::c_style |
                                                  pybind11::array::forcecast>;
using LengthArray = pybind11::array_t<int32_t, pybind11::array::c_style |
                                                   pybind11::array::forcecast>;

// Raises ValueError naming `what` unless `view` is C-contiguous (so that
// its bytes are one span).
void CheckCContiguous(const pybind11::buffer_info& view, const char* what);

}  // namespace engram::python

#endif  // ENGRAM_PYTHON_NUMPY_ARRAYS_H_

#include "python/numpy_arrays.h"

#include <string>

namespace engram::python {
namespace py = pybind11;

void CheckCContiguous(const py::buffer_info& view, const char* what) {
  py::ssize_t stride = view.itemsize;
  for (py::ssize_t i = view.ndim; i-- > 0;) {
    // A dimension of one element may have any stride.
    if (view.shape[i] > 1 && view.strides[i] != stride) {
      throw py::value_error(std::string(what) + " must be C-contiguous");
    }
    stride *= view.shape[i];
  }
}

}  // namespace engram::python

// RowBuffer: memory rows are fetched into, owned by C++ and handed to
// numpy (buffer protocol) and torch (DLPack) without a copy.
//
//   std::shared_ptr<RowBuffer> rows =
//       RowBuffer::Create(ElementType::kBf16, {4096, 64});
//   client->Lookup(table, ids, rows->span());   // GIL released meanwhile
//   py::array array = ToNumpy(rows);            // views rows, keeps it alive
//   py::object tensor = ToTorch(rows);          // torch.bfloat16, no copy
//
// A buffer lives as long as the last array, tensor or DLPack capsule over
// it, so results stay valid after the call that filled them returns. Its
// memory is 64-byte aligned and never moves. numpy has no bfloat16 or fp8:
// those arrays are uint16 and uint8 bit patterns (their torch tensors are
// typed: bfloat16, and uint8 for fp8); opaque rows are uint8 bytes.
//
// Thread-safety: the memory is written by the client's threads only while
// the Python call or step that fills it runs; reading it then is a race
// (the step's wait() returns the arrays only once they are written).
#ifndef ENGRAM_PYTHON_ROW_BUFFER_H_
#define ENGRAM_PYTHON_ROW_BUFFER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/types/span.h"
#include "common/element_type.h"
#include "pybind11/numpy.h"
#include "pybind11/pybind11.h"

namespace engram::python {

class RowBuffer {
 public:
  // A buffer of `shape` elements of `type` (kOpaque: bytes). The memory is
  // not initialised. Throws std::bad_alloc.
  static std::shared_ptr<RowBuffer> Create(ElementType type,
                                           std::vector<int64_t> shape);
  ~RowBuffer();
  RowBuffer(const RowBuffer&) = delete;
  RowBuffer& operator=(const RowBuffer&) = delete;

  ElementType element_type() const { return type_; }
  const std::vector<int64_t>& shape() const { return shape_; }
  char* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  absl::Span<char> span() const { return absl::MakeSpan(data_, bytes_); }

 private:
  RowBuffer(ElementType type, std::vector<int64_t> shape, char* data,
            size_t bytes)
      : type_(type), shape_(std::move(shape)), data_(data), bytes_(bytes) {}

  const ElementType type_;
  const std::vector<int64_t> shape_;
  char* const data_;
  const size_t bytes_;
};

// The shape of one row in elements: a table's dims when they add up to
// row_bytes, else [row_bytes / element size] ([row_bytes] for opaque or
// sizes that do not divide).
std::vector<int64_t> RowShape(ElementType type, uint32_t row_bytes,
                              const std::vector<uint32_t>& dims);

// The numpy dtype arrays of `type` have (see the banner).
pybind11::dtype NumpyDtype(ElementType type);

// An ndarray over `buffer`'s memory, its base the buffer.
pybind11::array ToNumpy(const std::shared_ptr<RowBuffer>& buffer);

// A torch tensor over `buffer`'s memory (torch.from_dlpack). Raises
// ImportError when torch cannot be imported.
pybind11::object ToTorch(const std::shared_ptr<RowBuffer>& buffer);

// Adds the RowBuffer class (buffer protocol, __dlpack__, shape,
// element_type, numpy(), torch()) to `module`.
void RegisterRowBuffer(pybind11::module_& module);

}  // namespace engram::python

#endif  // ENGRAM_PYTHON_ROW_BUFFER_H_

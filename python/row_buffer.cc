#include "python/row_buffer.h"

#include <algorithm>
#include <cstdlib>
#include <new>
#include <string>
#include <utility>

#include "dlpack/dlpack.h"

namespace engram::python {
namespace py = pybind11;
namespace {

// Cache lines, and what vectorised consumers (torch kernels) like best.
constexpr size_t kAlignment = 64;

// The capsule name of the DLPack protocol (a consumer renames the capsule
// to "used_dltensor" once it owns the tensor).
constexpr char kDlpackCapsule[] = "dltensor";

size_t ElementSize(ElementType type) {
  const size_t bytes = ElementBytes(type);
  return bytes == 0 ? 1 : bytes;  // kOpaque: bytes
}

DLDataType DlpackType(ElementType type) {
  switch (type) {
    case ElementType::kF32:
      return {kDLFloat, 32, 1};
    case ElementType::kF16:
      return {kDLFloat, 16, 1};
    case ElementType::kBf16:
      return {kDLBfloat, 16, 1};
    case ElementType::kFp8E4m3:
    case ElementType::kFp8E5m2:
    case ElementType::kOpaque:
      break;
  }
  return {kDLUInt, 8, 1};
}

// What a DLPack consumer owns: the tensor and a reference to its buffer.
struct DlpackContext {
  DLManagedTensor managed;
  std::shared_ptr<RowBuffer> buffer;
  std::vector<int64_t> shape;
};

void DeleteDlpackContext(DLManagedTensor* managed) {
  // Consumers may call this from any thread and without the GIL: it touches
  // no Python object.
  delete static_cast<DlpackContext*>(managed->manager_ctx);
}

// The capsule's destructor: frees the tensor unless a consumer took it.
void DlpackCapsuleDestructor(PyObject* capsule) {
  if (!PyCapsule_IsValid(capsule, kDlpackCapsule)) return;  // consumed
  auto* managed = static_cast<DLManagedTensor*>(
      PyCapsule_GetPointer(capsule, kDlpackCapsule));
  if (managed != nullptr && managed->deleter != nullptr) {
    managed->deleter(managed);
  }
}

py::capsule ToDlpack(const std::shared_ptr<RowBuffer>& buffer) {
  auto context = std::make_unique<DlpackContext>();
  context->buffer = buffer;
  context->shape = buffer->shape();
  DLTensor& tensor = context->managed.dl_tensor;
  tensor.data = buffer->data();
  tensor.device = {kDLCPU, 0};
  tensor.ndim = static_cast<int>(context->shape.size());
  tensor.dtype = DlpackType(buffer->element_type());
  tensor.shape = context->shape.data();
  tensor.strides = nullptr;  // compact, row-major
  tensor.byte_offset = 0;
  context->managed.manager_ctx = context.get();
  context->managed.deleter = DeleteDlpackContext;
  PyObject* capsule =
      PyCapsule_New(&context->managed, kDlpackCapsule, DlpackCapsuleDestructor);
  if (capsule == nullptr) throw py::error_already_set();
  context.release();  // The capsule, then its consumer, own it now.
  return py::reinterpret_steal<py::capsule>(capsule);
}

}  // namespace

std::shared_ptr<RowBuffer> RowBuffer::Create(ElementType type,
                                             std::vector<int64_t> shape) {
  size_t bytes = ElementSize(type);
  for (int64_t dim : shape) bytes *= static_cast<size_t>(dim);
  // aligned_alloc wants a multiple of the alignment, and a 0-byte buffer
  // still needs a distinct, valid pointer for numpy.
  const size_t allocated =
      std::max(kAlignment, (bytes + kAlignment - 1) / kAlignment * kAlignment);
  char* data = static_cast<char*>(std::aligned_alloc(kAlignment, allocated));
  if (data == nullptr) throw std::bad_alloc();
  return std::shared_ptr<RowBuffer>(
      new RowBuffer(type, std::move(shape), data, bytes));
}

RowBuffer::~RowBuffer() { std::free(data_); }

std::vector<int64_t> RowShape(ElementType type, uint32_t row_bytes,
                              const std::vector<uint32_t>& dims) {
  const size_t element = ElementBytes(type);
  if (element == 0 || row_bytes % element != 0) return {row_bytes};
  uint64_t values = 1;
  for (uint32_t dim : dims) values *= dim;
  if (!dims.empty() && values * element == row_bytes) {
    return std::vector<int64_t>(dims.begin(), dims.end());
  }
  return {static_cast<int64_t>(row_bytes / element)};
}

py::dtype NumpyDtype(ElementType type) {
  switch (type) {
    case ElementType::kF32:
      return py::dtype("<f4");
    case ElementType::kF16:
      return py::dtype("<f2");
    case ElementType::kBf16:
      return py::dtype("<u2");
    case ElementType::kFp8E4m3:
    case ElementType::kFp8E5m2:
    case ElementType::kOpaque:
      break;
  }
  return py::dtype("u1");
}

py::array ToNumpy(const std::shared_ptr<RowBuffer>& buffer) {
  const std::vector<py::ssize_t> shape(buffer->shape().begin(),
                                       buffer->shape().end());
  return py::array(NumpyDtype(buffer->element_type()), shape, buffer->data(),
                   py::cast(buffer));
}

py::object ToTorch(const std::shared_ptr<RowBuffer>& buffer) {
  py::module_ dlpack = py::module_::import("torch.utils.dlpack");
  return dlpack.attr("from_dlpack")(ToDlpack(buffer));
}

void RegisterRowBuffer(py::module_& module) {
  py::class_<RowBuffer, std::shared_ptr<RowBuffer>>(
      module, "RowBuffer", py::buffer_protocol(),
      "Rows fetched by the client, in memory the client owns. numpy arrays "
      "and torch tensors over it share that memory and keep it alive.")
      .def_buffer([](RowBuffer& buffer) {
        const py::dtype dtype = NumpyDtype(buffer.element_type());
        std::vector<py::ssize_t> shape(buffer.shape().begin(),
                                       buffer.shape().end());
        std::vector<py::ssize_t> strides(shape.size());
        py::ssize_t stride = dtype.itemsize();
        for (size_t i = shape.size(); i-- > 0;) {
          strides[i] = stride;
          stride *= shape[i];
        }
        return py::buffer_info(buffer.data(), dtype.itemsize(),
                               py::str(dtype.attr("char")).cast<std::string>(),
                               static_cast<py::ssize_t>(shape.size()), shape,
                               strides);
      })
      .def_property_readonly("shape",
                             [](const RowBuffer& buffer) {
                               return py::tuple(py::cast(buffer.shape()));
                             })
      .def_property_readonly(
          "element_type",
          [](const RowBuffer& buffer) {
            return std::string(ElementTypeName(buffer.element_type()));
          },
          "The rows' element type: f32, bf16, f16, fp8_e4m3, fp8_e5m2 or "
          "opaque.")
      .def_property_readonly("nbytes", &RowBuffer::bytes)
      .def(
          "numpy",
          [](const std::shared_ptr<RowBuffer>& buffer) {
            return ToNumpy(buffer);
          },
          "An ndarray over the rows (no copy).")
      .def(
          "torch",
          [](const std::shared_ptr<RowBuffer>& buffer) {
            return ToTorch(buffer);
          },
          "A torch tensor over the rows (DLPack, no copy); bf16 rows are "
          "torch.bfloat16.")
      .def(
          "__dlpack__",
          [](const std::shared_ptr<RowBuffer>& buffer, py::object stream) {
            if (!stream.is_none()) {
              throw py::value_error("CPU rows take no stream");
            }
            return ToDlpack(buffer);
          },
          py::arg("stream") = py::none())
      .def("__dlpack_device__", [](const RowBuffer&) {
        return py::make_tuple(static_cast<int>(kDLCPU), 0);
      });
}

}  // namespace engram::python

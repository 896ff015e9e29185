#include "python/status_error.h"

#include <string>

#include "absl/status/status.h"

namespace engram::python {
namespace py = pybind11;

void RegisterStatusError(py::module_& module) {
  py::enum_<absl::StatusCode>(module, "StatusCode", py::arithmetic(),
                              "gRPC status codes (absl::StatusCode).")
      .value("OK", absl::StatusCode::kOk)
      .value("CANCELLED", absl::StatusCode::kCancelled)
      .value("UNKNOWN", absl::StatusCode::kUnknown)
      .value("INVALID_ARGUMENT", absl::StatusCode::kInvalidArgument)
      .value("DEADLINE_EXCEEDED", absl::StatusCode::kDeadlineExceeded)
      .value("NOT_FOUND", absl::StatusCode::kNotFound)
      .value("ALREADY_EXISTS", absl::StatusCode::kAlreadyExists)
      .value("PERMISSION_DENIED", absl::StatusCode::kPermissionDenied)
      .value("RESOURCE_EXHAUSTED", absl::StatusCode::kResourceExhausted)
      .value("FAILED_PRECONDITION", absl::StatusCode::kFailedPrecondition)
      .value("ABORTED", absl::StatusCode::kAborted)
      .value("OUT_OF_RANGE", absl::StatusCode::kOutOfRange)
      .value("UNIMPLEMENTED", absl::StatusCode::kUnimplemented)
      .value("INTERNAL", absl::StatusCode::kInternal)
      .value("UNAVAILABLE", absl::StatusCode::kUnavailable)
      .value("DATA_LOSS", absl::StatusCode::kDataLoss)
      .value("UNAUTHENTICATED", absl::StatusCode::kUnauthenticated);

  // A plain Python class (not a pybind11 one) so that it behaves like any
  // exception: picklable args, subclassable, str() is the message.
  static py::exception<StatusError> error(module, "Error", PyExc_RuntimeError);
  error.doc() =
      "An engram call failed. Attributes: code (StatusCode), code_name "
      "(e.g. 'NOT_FOUND') and message (the server's text).";
  py::register_exception_translator([](std::exception_ptr thrown) {
    try {
      if (thrown) std::rethrow_exception(thrown);
    } catch (const StatusError& e) {
      const absl::Status& status = e.status();
      const std::string message(status.message());
      const std::string code_name = absl::StatusCodeToString(status.code());
      // Called as a class, not through py::exception's operator() (which
      // only sets a message), so the instance can carry attributes.
      py::object instance = py::reinterpret_borrow<py::object>(error.ptr())(
          code_name + ": " + message);
      instance.attr("code") = py::cast(status.code());
      instance.attr("code_name") = py::str(code_name);
      instance.attr("message") = py::str(message);
      PyErr_SetObject(error.ptr(), instance.ptr());
    }
  });
}

}  // namespace engram::python

// Status errors for the Python client: absl::Status becomes the Python
// exception engram_client.Error, carrying the gRPC status code and message.
//
//   ThrowIfError(client->ReleasePin(pin));              // Error on failure
//   TableDescription d = ValueOrThrow(client->DescribeTable(name));
//
//   # Python
//   try:
//       client.lookup("nope", [1])
//   except engram_client.Error as e:
//       assert e.code == engram_client.StatusCode.NOT_FOUND
//
// The C++ side throws StatusError; one translator, registered by
// RegisterStatusError, turns it into the Python exception. The statuses
// already are the server's gRPC statuses (the client converts them once,
// in common/grpc_status), so the codes are gRPC's.
#ifndef ENGRAM_PYTHON_STATUS_ERROR_H_
#define ENGRAM_PYTHON_STATUS_ERROR_H_

#include <exception>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pybind11/pybind11.h"

namespace engram::python {

// A non-OK status on its way to Python.
class StatusError : public std::exception {
 public:
  explicit StatusError(absl::Status status)
      : status_(std::move(status)), what_(status_.ToString()) {}
  const absl::Status& status() const { return status_; }
  const char* what() const noexcept override { return what_.c_str(); }

 private:
  absl::Status status_;
  std::string what_;
};

// Throws StatusError for a non-OK `status`.
inline void ThrowIfError(absl::Status status) {
  if (!status.ok()) throw StatusError(std::move(status));
}

template <typename T>
T ValueOrThrow(absl::StatusOr<T> value) {
  if (!value.ok()) throw StatusError(std::move(value).status());
  return *std::move(value);
}

// Adds `StatusCode` (an IntEnum-like enum of absl/gRPC codes) and `Error`
// (attributes code, code_name, message) to `module`, and the translator.
void RegisterStatusError(pybind11::module_& module);

}  // namespace engram::python

#endif  // ENGRAM_PYTHON_STATUS_ERROR_H_

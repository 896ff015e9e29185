#include "common/addressing/cuda_status.h"

#include <cuda_runtime_api.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace engram {

absl::Status CudaErrorToStatus(cudaError_t error, const char* expression,
                               const char* file, int line) {
  const std::string message =
      absl::StrCat(expression, " failed: ", cudaGetErrorName(error), " (",
                   cudaGetErrorString(error), ") at ", file, ":", line);
  switch (error) {
    case cudaSuccess:
      return absl::OkStatus();
    case cudaErrorMemoryAllocation:
      return absl::ResourceExhaustedError(message);
    case cudaErrorNoDevice:
    case cudaErrorInsufficientDriver:
    case cudaErrorDevicesUnavailable:
    case cudaErrorInvalidDevice:
      return absl::UnavailableError(message);
    case cudaErrorInvalidValue:
      return absl::InvalidArgumentError(message);
    default:
      return absl::InternalError(message);
  }
}

bool CudaDeviceAvailable() {
  int count = 0;
  const cudaError_t error = cudaGetDeviceCount(&count);
  if (error != cudaSuccess) {
    cudaGetLastError();  // clear the (non-sticky) error for later calls
    return false;
  }
  return count > 0;
}

}  // namespace engram

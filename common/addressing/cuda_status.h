// The one place where CUDA runtime errors become absl::Status.
//
//   ENGRAM_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(dst, src, n, kind, stream));
//   if (!CudaDeviceAvailable()) return;  // CPU fallback
//
// Thread-safe.
#ifndef ENGRAM_COMMON_ADDRESSING_CUDA_STATUS_H_
#define ENGRAM_COMMON_ADDRESSING_CUDA_STATUS_H_

#include <cuda_runtime_api.h>

#include "absl/status/status.h"

namespace engram {

// CudaErrorToStatus maps a cudaError_t (not cudaSuccess) to a Status whose
// message names the failed expression, the CUDA error and the source line:
// out of memory -> ResourceExhausted; no device / driver -> Unavailable;
// invalid value -> InvalidArgument; anything else -> Internal.
absl::Status CudaErrorToStatus(cudaError_t error, const char* expression,
                               const char* file, int line);

// CudaDeviceAvailable reports whether at least one CUDA device can be used.
// Never crashes: without a driver or a GPU it returns false.
bool CudaDeviceAvailable();

}  // namespace engram

// Evaluates a CUDA runtime call and returns its error as a Status.
#define ENGRAM_CUDA_RETURN_IF_ERROR(expr)                                     \
  do {                                                                        \
    const cudaError_t engram_cuda_error_ = (expr);                            \
    if (engram_cuda_error_ != cudaSuccess) {                                  \
      return ::engram::CudaErrorToStatus(engram_cuda_error_, #expr, __FILE__, \
                                         __LINE__);                           \
    }                                                                         \
  } while (false)

#endif  // ENGRAM_COMMON_ADDRESSING_CUDA_STATUS_H_

#include "gpu_model/backend.h"

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gpu_model/cpu_backend.h"
#if ENGRAM_HAVE_CUDA
#include "common/addressing/cuda_status.h"
#include "gpu_model/cuda_backend.h"
#endif

namespace engram::gpu {

absl::StatusOr<BackendKind> ParseBackendKind(const std::string& name) {
  if (name == "auto") return BackendKind::kAuto;
  if (name == "cpu") return BackendKind::kCpu;
  if (name == "cuda") return BackendKind::kCuda;
  return absl::InvalidArgumentError(
      absl::StrCat("device must be auto, cpu or cuda, not \"", name, "\""));
}

absl::StatusOr<std::unique_ptr<Backend>> CreateBackend(BackendKind kind) {
  if (kind == BackendKind::kCpu) return CreateCpuBackend();
#if ENGRAM_HAVE_CUDA
  if (kind == BackendKind::kCuda || CudaDeviceAvailable()) {
    return CreateCudaBackend(/*device=*/0);
  }
  return CreateCpuBackend();
#else
  if (kind == BackendKind::kCuda) {
    return absl::UnavailableError(
        "this engram-worker was built without CUDA (no nvcc at build time)");
  }
  return CreateCpuBackend();
#endif
}

}  // namespace engram::gpu

// The CUDA Backend: backend.h's operations queued on one stream of one GPU,
// with cuBLAS (fp32, no TF32) for Linear and hand-written kernels
// (cuda_backend_kernels.cu) for the rest.
//
//   ENGRAM_ASSIGN_OR_RETURN(std::unique_ptr<Backend> gpu,
//                           CreateCudaBackend(/*device=*/0));
//   ENGRAM_ASSIGN_OR_RETURN(float* x, gpu->Allocate(rows * dim));
//   gpu->CopyToDevice(host_x, rows * dim, x);
//   ENGRAM_RETURN_IF_ERROR(gpu->Synchronize());
//
// Operations return once queued. The first CUDA or cuBLAS failure is kept,
// later operations are skipped, and Synchronize (or CopyToHost, ArgmaxRows)
// returns it. Built only when ENGRAM_HAVE_CUDA.
#ifndef ENGRAM_GPU_MODEL_CUDA_BACKEND_H_
#define ENGRAM_GPU_MODEL_CUDA_BACKEND_H_

#include <memory>

#include "absl/status/statusor.h"
#include "gpu_model/backend.h"

namespace engram::gpu {

// CreateCudaBackend makes a backend on CUDA device `device` and makes that
// device current on the calling thread, which must be the thread that
// drives the backend. Unavailable when no CUDA device is usable; other
// CUDA/cuBLAS setup errors as their Status (see cuda_status.h).
absl::StatusOr<std::unique_ptr<Backend>> CreateCudaBackend(int device);

}  // namespace engram::gpu

#endif  // ENGRAM_GPU_MODEL_CUDA_BACKEND_H_

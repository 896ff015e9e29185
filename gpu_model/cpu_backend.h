// The CPU Backend: backend.h's operations as plain loops over host memory,
// for machines without a GPU (CI, laptops) and as the reference the CUDA
// backend is tested against.
//
//   std::unique_ptr<Backend> cpu = CreateCpuBackend();
//
// Operations run when called; Linear and Attention split their work over
// the machine's cores.
#ifndef ENGRAM_GPU_MODEL_CPU_BACKEND_H_
#define ENGRAM_GPU_MODEL_CPU_BACKEND_H_

#include <memory>

#include "gpu_model/backend.h"

namespace engram::gpu {

std::unique_ptr<Backend> CreateCpuBackend();

}  // namespace engram::gpu

#endif  // ENGRAM_GPU_MODEL_CPU_BACKEND_H_

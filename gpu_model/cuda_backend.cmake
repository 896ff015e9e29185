# The CUDA Backend (cuda_backend.h), include()d from gpu_model/CMakeLists.txt
# only when ENGRAM_HAVE_CUDA. The kernels live in a .cu with a plain-C++
# interface (cuda_backend_kernels.h) so nvcc never parses Abseil; the
# Backend itself is host C++.
#
# Targets:
#   engram_gpu_cuda_backend       CreateCudaBackend
# Tests:
#   engram_gpu_cuda_backend_test  CUDA vs CPU backend (skips without a GPU)

add_library(engram_gpu_cuda_backend
  ${CMAKE_CURRENT_SOURCE_DIR}/cuda_backend.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/cuda_backend.h
  ${CMAKE_CURRENT_SOURCE_DIR}/cuda_backend_kernels.cu
  ${CMAKE_CURRENT_SOURCE_DIR}/cuda_backend_kernels.h)
# engram_addressing_cuda provides CudaErrorToStatus / CudaDeviceAvailable
# (common/addressing/cuda_status.h), which users of this library call too.
target_link_libraries(engram_gpu_cuda_backend
  PUBLIC absl::status absl::statusor engram_common engram_addressing_cuda
         CUDA::cudart
  PRIVATE CUDA::cublas absl::strings)
# CMake 3.25 has no CUDA20 dialect flag for nvcc; the kernels need only C++17.
set_target_properties(engram_gpu_cuda_backend PROPERTIES CUDA_STANDARD 17)
target_compile_options(engram_gpu_cuda_backend PRIVATE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra>
  $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall,-Wextra>)

engram_test(engram_gpu_cuda_backend_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/cuda_backend_test.cc
  LIBS engram_gpu_backend engram_gpu_cuda_backend)

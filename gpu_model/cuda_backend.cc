// CudaBackend queues every operation on one non-blocking stream; cuBLAS
// runs on the same stream, so stream order is the only ordering needed.
//
// Invariants:
//  - error_ holds the first failure since the last Synchronize; while it
//    is set, operations queue nothing (Run skips them).
//  - The internal device buffers (ids_, rows_, argmax_) are only read by
//    work queued on stream_, so reusing them in a later operation is safe
//    by stream order; replacing one (GrowDevice) first waits for the stream.
//  - staging_ (pinned) is read by at most one queued copy, the one before
//    staging_copied_; it is rewritten only after that event has completed.
#include "gpu_model/cuda_backend.h"

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/addressing/cuda_status.h"
#include "common/element_type.h"
#include "common/status_macros.h"
#include "gpu_model/backend.h"
#include "gpu_model/cuda_backend_kernels.h"

namespace engram::gpu {
namespace {

// The one place where cuBLAS statuses become absl::Status, as
// CudaErrorToStatus does for the runtime.
absl::Status CublasStatusToStatus(cublasStatus_t status, const char* expression,
                                  const char* file, int line) {
  const std::string message =
      absl::StrCat(expression, " failed: ", cublasGetStatusName(status), " (",
                   cublasGetStatusString(status), ") at ", file, ":", line);
  switch (status) {
    case CUBLAS_STATUS_SUCCESS:
      return absl::OkStatus();
    case CUBLAS_STATUS_ALLOC_FAILED:
      return absl::ResourceExhaustedError(message);
    case CUBLAS_STATUS_NOT_INITIALIZED:
    case CUBLAS_STATUS_ARCH_MISMATCH:
      return absl::UnavailableError(message);
    case CUBLAS_STATUS_INVALID_VALUE:
      return absl::InvalidArgumentError(message);
    default:
      return absl::InternalError(message);
  }
}

#define ENGRAM_CUBLAS_RETURN_IF_ERROR(expr)                               \
  do {                                                                    \
    const cublasStatus_t engram_cublas_status_ = (expr);                  \
    if (engram_cublas_status_ != CUBLAS_STATUS_SUCCESS) {                 \
      return CublasStatusToStatus(engram_cublas_status_, #expr, __FILE__, \
                                  __LINE__);                              \
    }                                                                     \
  } while (false)

// Host-to-device copies up to this size go through pinned staging and
// return at once; larger ones (weights, at load time) wait for the copy,
// which keeps the staging buffer small.
constexpr size_t kMaxStagedBytes = size_t{4} << 20;

// Device memory owned by the backend for its own use, grown on demand.
struct DeviceBuffer {
  void* data = nullptr;
  size_t bytes = 0;
};

class CudaBackend final : public Backend {
 public:
  static absl::StatusOr<std::unique_ptr<CudaBackend>> Create(int device) {
    std::unique_ptr<CudaBackend> backend(new CudaBackend(device));
    ENGRAM_RETURN_IF_ERROR(backend->Init());
    return backend;
  }

  ~CudaBackend() override {
    // Nothing can be reported from here; free what was made, in the
    // reverse order of Init, after the queued work is done with it.
    if (cudaSetDevice(device_) != cudaSuccess) return;
    if (stream_ != nullptr) cudaStreamSynchronize(stream_);
    if (cublas_ != nullptr) cublasDestroy(cublas_);
    for (void* data : device_allocations_) cudaFree(data);
    for (char* data : host_allocations_) cudaFreeHost(data);
    for (DeviceBuffer* buffer : {&ids_, &rows_, &argmax_}) {
      if (buffer->data != nullptr) cudaFree(buffer->data);
    }
    if (staging_ != nullptr) cudaFreeHost(staging_);
    if (staging_copied_ != nullptr) cudaEventDestroy(staging_copied_);
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
  }

  CudaBackend(const CudaBackend&) = delete;
  CudaBackend& operator=(const CudaBackend&) = delete;

  std::string device_name() const override { return name_; }

  absl::StatusOr<float*> Allocate(size_t count) override {
    if (count > std::numeric_limits<size_t>::max() / sizeof(float)) {
      return absl::ResourceExhaustedError(
          absl::StrCat("cannot allocate ", count, " floats of device memory"));
    }
    // cudaMalloc of 0 bytes gives null, which callers could not tell from
    // a missing buffer.
    const size_t bytes = std::max<size_t>(count, 1) * sizeof(float);
    void* data = nullptr;
    ENGRAM_RETURN_IF_ERROR(Malloc(bytes, &data));
    device_allocations_.push_back(data);
    const cudaError_t error = cudaMemsetAsync(data, 0, bytes, stream_);
    if (error != cudaSuccess) {
      cudaGetLastError();  // reported here, not by the next launch
      return CudaErrorToStatus(error, "cudaMemsetAsync", __FILE__, __LINE__);
    }
    return static_cast<float*>(data);
  }

  absl::StatusOr<char*> AllocateHostStaging(size_t bytes) override {
    void* data = nullptr;
    ENGRAM_RETURN_IF_ERROR(HostAlloc(std::max<size_t>(bytes, 1), &data));
    host_allocations_.push_back(static_cast<char*>(data));
    std::memset(data, 0, bytes);
    return static_cast<char*>(data);
  }

  void CopyToDevice(const float* host, size_t count, float* out) override {
    Run([&]() -> absl::Status {
      const size_t bytes = count * sizeof(float);
      if (bytes == 0) return absl::OkStatus();
      if (bytes <= kMaxStagedBytes) return StageToDevice(host, bytes, out);
      // The host memory may be reused on return: wait for the copy.
      ENGRAM_CUDA_RETURN_IF_ERROR(
          cudaMemcpyAsync(out, host, bytes, cudaMemcpyHostToDevice, stream_));
      ENGRAM_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_));
      return absl::OkStatus();
    });
  }

  absl::Status CopyToHost(const float* in, size_t count, float* host) override {
    Run([&]() -> absl::Status {
      if (count == 0) return absl::OkStatus();
      ENGRAM_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(
          host, in, count * sizeof(float), cudaMemcpyDeviceToHost, stream_));
      ENGRAM_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_));
      return absl::OkStatus();
    });
    return error_;
  }

  absl::Status Synchronize() override {
    // Waits even after a failure: the caller may free host memory that
    // queued copies still read.
    const cudaError_t error = cudaStreamSynchronize(stream_);
    if (error_.ok() && error != cudaSuccess) {
      error_ = CudaErrorToStatus(error, "cudaStreamSynchronize(stream_)",
                                 __FILE__, __LINE__);
    }
    return std::exchange(error_, absl::OkStatus());
  }

  void EmbedTokens(const int32_t* host_ids, int count, const float* table,
                   int dim, int copies, float* out) override {
    Run([&]() -> absl::Status {
      if (count <= 0) return absl::OkStatus();
      const size_t bytes = static_cast<size_t>(count) * sizeof(int32_t);
      ENGRAM_RETURN_IF_ERROR(GrowDevice(bytes, &ids_));
      const auto* ids = static_cast<const int32_t*>(ids_.data);
      if (bytes <= kMaxStagedBytes) {
        ENGRAM_RETURN_IF_ERROR(StageToDevice(host_ids, bytes, ids_.data));
      } else {
        ENGRAM_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(
            ids_.data, host_ids, bytes, cudaMemcpyHostToDevice, stream_));
        ENGRAM_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_));
      }
      ENGRAM_CUDA_RETURN_IF_ERROR(internal::LaunchEmbedTokens(
          ids, count, table, dim, copies, out, stream_));
      return absl::OkStatus();
    });
  }

  void RmsNorm(const float* x, int rows, int dim, int in_stride,
               const float* weight, float eps, float* out,
               int out_stride) override {
    Run([&]() -> absl::Status {
      ENGRAM_CUDA_RETURN_IF_ERROR(internal::LaunchRmsNorm(
          x, rows, dim, in_stride, weight, eps, out, out_stride, stream_));
      return absl::OkStatus();
    });
  }

  void Linear(const float* x, int m, int k, const float* w, const float* bias,
              int n, float* y) override {
    Run([&]() -> absl::Status {
      if (m <= 0 || n <= 0) return absl::OkStatus();
      if (k <= 0) {
        // An empty sum: cuBLAS rejects lda = 0.
        ENGRAM_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(
            y, 0, static_cast<size_t>(m) * n * sizeof(float), stream_));
      } else {
        // Row-major y [m][n] is column-major y^T [n][m]; y^T = w x^T with
        // w row-major [n][k] read as column-major [k][n] and transposed.
        const float one = 1.0f;
        const float zero = 0.0f;
        ENGRAM_CUBLAS_RETURN_IF_ERROR(cublasSgemm(cublas_, CUBLAS_OP_T,
                                                  CUBLAS_OP_N, n, m, k, &one, w,
                                                  k, x, k, &zero, y, n));
      }
      if (bias != nullptr) {
        ENGRAM_CUDA_RETURN_IF_ERROR(
            internal::LaunchAddBias(y, bias, m, n, stream_));
      }
      return absl::OkStatus();
    });
  }

  void Add(float* a, const float* b, size_t count) override {
    Run([&]() -> absl::Status {
      ENGRAM_CUDA_RETURN_IF_ERROR(internal::LaunchAdd(a, b, count, stream_));
      return absl::OkStatus();
    });
  }

  void MeanOfBranches(const float* x, int rows, int branches, int dim,
                      float* out) override {
    Run([&]() -> absl::Status {
      ENGRAM_CUDA_RETURN_IF_ERROR(
          internal::LaunchMeanOfBranches(x, rows, branches, dim, out, stream_));
      return absl::OkStatus();
    });
  }

  void AddToBranches(float* x, const float* y, int rows, int branches,
                     int dim) override {
    Run([&]() -> absl::Status {
      ENGRAM_CUDA_RETURN_IF_ERROR(
          internal::LaunchAddToBranches(x, y, rows, branches, dim, stream_));
      return absl::OkStatus();
    });
  }

  void Rotary(float* x, int batch, int time, int heads, int head_dim, int start,
              float theta) override {
    Run([&]() -> absl::Status {
      ENGRAM_CUDA_RETURN_IF_ERROR(internal::LaunchRotary(
          x, batch, time, heads, head_dim, start, theta, stream_));
      return absl::OkStatus();
    });
  }

  void WriteKvCache(const float* k, const float* v, int batch, int time,
                    int heads, int head_dim, int start, int max_seq,
                    float* k_cache, float* v_cache) override {
    Run([&]() -> absl::Status {
      ENGRAM_CUDA_RETURN_IF_ERROR(internal::LaunchWriteKvCache(
          k, v, batch, time, heads, head_dim, start, max_seq, k_cache, v_cache,
          stream_));
      return absl::OkStatus();
    });
  }

  void Attention(const float* q, const float* k_cache, const float* v_cache,
                 int batch, int time, int heads, int head_dim, int start,
                 int max_seq, float* out) override {
    Run([&]() -> absl::Status {
      ENGRAM_CUDA_RETURN_IF_ERROR(
          internal::LaunchAttention(q, k_cache, v_cache, batch, time, heads,
                                    head_dim, start, max_seq, out, stream_));
      return absl::OkStatus();
    });
  }

  void SiluMul(const float* gate, const float* up, size_t count,
               float* out) override {
    Run([&]() -> absl::Status {
      ENGRAM_CUDA_RETURN_IF_ERROR(
          internal::LaunchSiluMul(gate, up, count, out, stream_));
      return absl::OkStatus();
    });
  }

  void EngramGate(const float* key, const float* query, const float* value,
                  int rows, int dim, int branch, int branches,
                  float* out) override {
    Run([&]() -> absl::Status {
      ENGRAM_CUDA_RETURN_IF_ERROR(internal::LaunchEngramGate(
          key, query, value, rows, dim, branch, branches, out, stream_));
      return absl::OkStatus();
    });
  }

  void ShortConvSilu(const float* x, int batch, int time, int channels,
                     const float* weight, int kernel, int dilation,
                     float* history, float* out) override {
    Run([&]() -> absl::Status {
      ENGRAM_CUDA_RETURN_IF_ERROR(internal::LaunchShortConvSilu(
          x, batch, time, channels, weight, kernel, dilation, history, out,
          stream_));
      return absl::OkStatus();
    });
  }

  void RowsToFloat(const char* host_rows, size_t count, ElementType type,
                   float* out) override {
    Run([&]() -> absl::Status {
      if (count == 0) return absl::OkStatus();
      if (type == ElementType::kF32) {
        // host_rows stays unchanged until the next Synchronize, so the
        // copy need not be waited for.
        ENGRAM_CUDA_RETURN_IF_ERROR(
            cudaMemcpyAsync(out, host_rows, count * sizeof(float),
                            cudaMemcpyHostToDevice, stream_));
        return absl::OkStatus();
      }
      if (type != ElementType::kBf16 && type != ElementType::kF16) {
        return absl::InvalidArgumentError(
            absl::StrCat("RowsToFloat decodes f32, bf16 or f16, not ",
                         ElementTypeName(type)));
      }
      const size_t bytes = count * sizeof(uint16_t);
      ENGRAM_RETURN_IF_ERROR(GrowDevice(bytes, &rows_));
      ENGRAM_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(
          rows_.data, host_rows, bytes, cudaMemcpyHostToDevice, stream_));
      ENGRAM_CUDA_RETURN_IF_ERROR(internal::LaunchHalfToFloat(
          static_cast<const uint16_t*>(rows_.data), count,
          type == ElementType::kBf16 ? internal::HalfType::kBf16
                                     : internal::HalfType::kF16,
          out, stream_));
      return absl::OkStatus();
    });
  }

  absl::Status ArgmaxRows(const float* x, int rows, int cols, int stride,
                          int32_t* host_out) override {
    Run([&]() -> absl::Status {
      if (rows <= 0) return absl::OkStatus();
      const size_t bytes = static_cast<size_t>(rows) * sizeof(int32_t);
      ENGRAM_RETURN_IF_ERROR(GrowDevice(bytes, &argmax_));
      auto* indices = static_cast<int32_t*>(argmax_.data);
      ENGRAM_CUDA_RETURN_IF_ERROR(
          internal::LaunchArgmaxRows(x, rows, cols, stride, indices, stream_));
      ENGRAM_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(
          host_out, indices, bytes, cudaMemcpyDeviceToHost, stream_));
      ENGRAM_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_));
      return absl::OkStatus();
    });
    return error_;
  }

 private:
  explicit CudaBackend(int device) : device_(device) {}

  absl::Status Init() {
    ENGRAM_CUDA_RETURN_IF_ERROR(cudaSetDevice(device_));
    cudaDeviceProp properties;
    ENGRAM_CUDA_RETURN_IF_ERROR(cudaGetDeviceProperties(&properties, device_));
    name_ = properties.name;
    // Non-blocking: work other code queues on the legacy default stream
    // does not serialise with the model's.
    ENGRAM_CUDA_RETURN_IF_ERROR(
        cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    ENGRAM_CUDA_RETURN_IF_ERROR(
        cudaEventCreateWithFlags(&staging_copied_, cudaEventDisableTiming));
    ENGRAM_CUBLAS_RETURN_IF_ERROR(cublasCreate(&cublas_));
    ENGRAM_CUBLAS_RETURN_IF_ERROR(cublasSetStream(cublas_, stream_));
    // Plain fp32 products: TF32 (10-bit mantissas) would put Linear ~1e-3
    // away from the CPU backend.
    ENGRAM_CUBLAS_RETURN_IF_ERROR(
        cublasSetMathMode(cublas_, CUBLAS_DEFAULT_MATH));
    // The kernel launchers report cudaGetLastError(); drop anything setup
    // left there so the first launch reports only its own failure.
    cudaGetLastError();
    return absl::OkStatus();
  }

  // Run performs `op` (returning absl::Status) unless an error is kept, and
  // keeps its error. The runtime's own copy of a (non-sticky) error is
  // cleared, so that after the Synchronize that reports it the next
  // launch check does not report it again.
  template <typename Op>
  void Run(Op&& op) {
    if (!error_.ok()) return;
    error_ = op();
    if (!error_.ok()) cudaGetLastError();
  }

  // Malloc and HostAlloc clear the runtime's last error on failure: a
  // refused allocation is reported here, not again by the next launch.
  absl::Status Malloc(size_t bytes, void** data) {
    const cudaError_t error = cudaMalloc(data, bytes);
    if (error == cudaSuccess) return absl::OkStatus();
    cudaGetLastError();
    return CudaErrorToStatus(
        error, absl::StrCat("cudaMalloc(", bytes, " bytes)").c_str(), __FILE__,
        __LINE__);
  }

  absl::Status HostAlloc(size_t bytes, void** data) {
    const cudaError_t error = cudaHostAlloc(data, bytes, cudaHostAllocDefault);
    if (error == cudaSuccess) return absl::OkStatus();
    cudaGetLastError();
    return CudaErrorToStatus(
        error, absl::StrCat("cudaHostAlloc(", bytes, " bytes)").c_str(),
        __FILE__, __LINE__);
  }

  // Makes `buffer` hold at least `bytes`, waiting for the stream before
  // freeing the old memory, which queued work may still use. Grows
  // geometrically so that slowly rising sizes do not wait every time.
  absl::Status GrowDevice(size_t bytes, DeviceBuffer* buffer) {
    if (buffer->bytes >= bytes) return absl::OkStatus();
    ENGRAM_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_));
    if (buffer->data != nullptr) {
      ENGRAM_CUDA_RETURN_IF_ERROR(cudaFree(buffer->data));
      buffer->data = nullptr;
      buffer->bytes = 0;
    }
    const size_t grown = std::max(bytes, 2 * buffer->bytes);
    ENGRAM_RETURN_IF_ERROR(Malloc(grown, &buffer->data));
    buffer->bytes = grown;
    return absl::OkStatus();
  }

  // Copies `bytes` (<= kMaxStagedBytes) of pageable host memory to device
  // memory `device` through staging_, so that `host` may be reused at once
  // and the copy still runs in stream order. Waits only for the previous
  // staged copy (normally long done).
  absl::Status StageToDevice(const void* host, size_t bytes, void* device) {
    ENGRAM_CUDA_RETURN_IF_ERROR(cudaEventSynchronize(staging_copied_));
    if (staging_bytes_ < bytes) {
      const size_t grown =
          std::min(kMaxStagedBytes,
                   std::max({bytes, 2 * staging_bytes_, size_t{64} << 10}));
      if (staging_ != nullptr) {
        // The event above says no queued copy reads it any more.
        ENGRAM_CUDA_RETURN_IF_ERROR(cudaFreeHost(staging_));
        staging_ = nullptr;
        staging_bytes_ = 0;
      }
      void* data = nullptr;
      ENGRAM_RETURN_IF_ERROR(HostAlloc(grown, &data));
      staging_ = static_cast<char*>(data);
      staging_bytes_ = grown;
    }
    std::memcpy(staging_, host, bytes);
    ENGRAM_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(
        device, staging_, bytes, cudaMemcpyHostToDevice, stream_));
    ENGRAM_CUDA_RETURN_IF_ERROR(cudaEventRecord(staging_copied_, stream_));
    return absl::OkStatus();
  }

  const int device_;
  std::string name_;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  absl::Status error_;  // the first failure since the last Synchronize

  std::vector<void*> device_allocations_;  // from Allocate
  std::vector<char*> host_allocations_;    // from AllocateHostStaging

  DeviceBuffer ids_;     // EmbedTokens' ids
  DeviceBuffer rows_;    // RowsToFloat's 16-bit elements
  DeviceBuffer argmax_;  // ArgmaxRows' indices

  char* staging_ = nullptr;  // pinned, staging_bytes_ long
  size_t staging_bytes_ = 0;
  cudaEvent_t staging_copied_ = nullptr;  // after the last copy from staging_
};

}  // namespace

absl::StatusOr<std::unique_ptr<Backend>> CreateCudaBackend(int device) {
  if (!CudaDeviceAvailable()) {
    return absl::UnavailableError("no usable CUDA device (or driver)");
  }
  ENGRAM_ASSIGN_OR_RETURN(std::unique_ptr<CudaBackend> backend,
                          CudaBackend::Create(device));
  return std::unique_ptr<Backend>(std::move(backend));
}

}  // namespace engram::gpu

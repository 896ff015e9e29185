// CudaAddresser: the row addressing of addresser.h on a CUDA device, with
// identical results (the kernels share fast_mod.h with the CPU code).
//
//   if (CudaDeviceAvailable()) {
//     ENGRAM_ASSIGN_OR_RETURN(std::unique_ptr<CudaAddresser> gpu,
//                             CudaAddresser::Create(spec, /*device=*/0));
//     ENGRAM_RETURN_IF_ERROR(gpu->ComputeRowIds(0, tokens, batch, time,
//                                               lengths, rows));
//   }
//
// Create copies the spec's per-layer constants (and compression lookup) to
// the device once. The host-memory methods copy in, run and copy out on a
// private stream; the *OnDevice methods take device pointers and a stream.
// Token validation happens on the device; because the Status must report it,
// every call synchronises its stream before returning. Scratch memory is
// stream-ordered (cudaMallocAsync), so the device must support memory pools.
// Inputs, outputs and their meaning (left padding, decode windows) are those of
// addresser.h; on error the outputs are unspecified.
//
// Thread-safe: the device tables are immutable; calls on different streams
// may run concurrently. Each call makes `device` current on its thread.
#ifndef ENGRAM_COMMON_ADDRESSING_ADDRESSER_CUDA_H_
#define ENGRAM_COMMON_ADDRESSING_ADDRESSER_CUDA_H_

#include <cuda_runtime_api.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/addressing/addresser_cuda_kernels.h"
#include "common/addressing/cuda_status.h"
#include "common/addressing/hash_spec.h"

namespace engram {

class CudaAddresser {
 public:
  // Create uploads `spec` to `device`.
  // Errors: Unavailable without a usable device; ResourceExhausted when
  // device memory runs out; Internal for other CUDA errors.
  static absl::StatusOr<std::unique_ptr<CudaAddresser>> Create(
      std::shared_ptr<const HashSpec> spec, int device = 0);

  ~CudaAddresser();
  CudaAddresser(const CudaAddresser&) = delete;
  CudaAddresser& operator=(const CudaAddresser&) = delete;

  const HashSpec& spec() const { return *spec_; }
  int device() const { return device_; }

  // Host memory in and out; the contract of engram::ComputeRowIds.
  absl::Status ComputeRowIds(int layer_index, absl::Span<const int64_t> tokens,
                             int batch, int time,
                             absl::Span<const int32_t> lengths,
                             absl::Span<int64_t> out_row_ids,
                             absl::Span<int64_t> out_hash_ids = {}) const;

  // Host memory in and out; the contract of engram::ComputeDecodeRowIds.
  absl::Status ComputeDecodeRowIds(int layer_index,
                                   absl::Span<const int64_t> windows, int batch,
                                   absl::Span<const int32_t> window_lengths,
                                   absl::Span<int64_t> out_row_ids,
                                   absl::Span<int64_t> out_hash_ids = {}) const;

  // Device memory: d_tokens [batch][time], d_lengths [batch] or null,
  // d_out_row_ids [batch][time][rows_per_token], d_out_hash_ids same or null.
  absl::Status ComputeRowIdsOnDevice(int layer_index, const int64_t* d_tokens,
                                     int batch, int time,
                                     const int32_t* d_lengths,
                                     int64_t* d_out_row_ids,
                                     int64_t* d_out_hash_ids,
                                     cudaStream_t stream) const;

  // Device memory: d_windows [batch][max_ngram], d_window_lengths [batch] or
  // null, outputs [batch][rows_per_token].
  absl::Status ComputeDecodeRowIdsOnDevice(int layer_index,
                                           const int64_t* d_windows, int batch,
                                           const int32_t* d_window_lengths,
                                           int64_t* d_out_row_ids,
                                           int64_t* d_out_hash_ids,
                                           cudaStream_t stream) const;

 private:
  CudaAddresser(std::shared_ptr<const HashSpec> spec, int device);
  absl::Status Upload();
  absl::Status Run(int layer_index, const int64_t* d_tokens, int batch,
                   int time, const int32_t* d_lengths, int min_length,
                   int t_begin, int64_t* d_out_row_ids, int64_t* d_out_hash_ids,
                   cudaStream_t stream) const;
  absl::Status RunFromHost(int layer_index, absl::Span<const int64_t> tokens,
                           int batch, int time,
                           absl::Span<const int32_t> lengths, int min_length,
                           int t_begin, absl::Span<int64_t> out_row_ids,
                           absl::Span<int64_t> out_hash_ids) const;

  std::shared_ptr<const HashSpec> spec_;
  int device_;
  // Device allocations owned by this object, freed by the destructor.
  std::vector<void*> allocations_;
  std::vector<internal::DeviceLayer> layers_;
  const int64_t* d_lookup_ = nullptr;  // null: identity
};

}  // namespace engram

#endif  // ENGRAM_COMMON_ADDRESSING_ADDRESSER_CUDA_H_

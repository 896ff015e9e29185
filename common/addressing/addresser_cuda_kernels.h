// Plain-C++ interface of the addressing kernels (addresser_cuda_kernels.cu),
// kept free of Abseil so that only this and fast_mod.h pass through nvcc.
// Use CudaAddresser (addresser_cuda.h) instead of calling these directly.
#ifndef ENGRAM_COMMON_ADDRESSING_ADDRESSER_CUDA_KERNELS_H_
#define ENGRAM_COMMON_ADDRESSING_ADDRESSER_CUDA_KERNELS_H_

#include <cuda_runtime_api.h>

#include <cstdint>

#include "common/addressing/fast_mod.h"

namespace engram::internal {

// No error recorded in a DeviceErrors slot.
inline constexpr unsigned long long kNoDeviceError = ~0ULL;

// Device pointers to one layer's constants (see internal::LayerTables).
struct DeviceLayer {
  const uint64_t* multipliers;  // max_ngram
  const FloorModulus* moduli;   // rows_per_token
  const int64_t* offsets;       // rows_per_token
};

// Validation + compression of a left-padded [batch][time] batch of raw ids.
struct CompressArgs {
  const int64_t* raw;      // [batch][time]
  const int32_t* lengths;  // [batch] or null (all full)
  int batch;
  int time;
  int min_length;         // 0 for prefill, 1 for decode windows
  const int64_t* lookup;  // [raw_vocab] or null (identity)
  int64_t raw_vocab;      // valid raw ids: [0, raw_vocab)
  int64_t pad;            // compressed pad id
  int64_t* compressed;    // out [batch][time]; filler and bad ids -> pad
  // out: smallest flat index of an invalid token, smallest batch index of an
  // invalid length; both must be set to kNoDeviceError before the launch.
  unsigned long long* first_bad_token;
  unsigned long long* first_bad_length;
};

// Row addressing of positions [t_begin, time) of compressed ids.
struct AddressArgs {
  DeviceLayer layer;
  const int64_t* compressed;  // [batch][time]
  int batch;
  int time;
  int t_begin;
  int max_ngram;
  int heads;
  int64_t pad;
  int64_t* out_rows;  // [batch][time - t_begin][rows_per_token]
  int64_t* out_hash;  // same shape, or null
};

cudaError_t LaunchCompressTokens(const CompressArgs& args, cudaStream_t stream);
cudaError_t LaunchAddressRows(const AddressArgs& args, cudaStream_t stream);

}  // namespace engram::internal

#endif  // ENGRAM_COMMON_ADDRESSING_ADDRESSER_CUDA_KERNELS_H_

// CUDA twins of the CPU addresser (addresser.cc): same arithmetic, through
// the shared fast_mod.h, so the two agree bit for bit.
#include <cuda_runtime.h>

#include <cstdint>

#include "common/addressing/addresser_cuda_kernels.h"
#include "common/addressing/fast_mod.h"

namespace engram::internal {
namespace {

constexpr int kThreadsPerBlock = 256;
constexpr int64_t kMaxBlocks = 65535;

int BlocksFor(int64_t count) {
  const int64_t blocks = (count + kThreadsPerBlock - 1) / kThreadsPerBlock;
  return static_cast<int>(blocks < kMaxBlocks ? blocks : kMaxBlocks);
}

__global__ void CompressTokensKernel(CompressArgs args) {
  const int64_t count = static_cast<int64_t>(args.batch) * args.time;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
       i < count; i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int b = static_cast<int>(i / args.time);
    const int t = static_cast<int>(i % args.time);
    int length = args.time;
    if (args.lengths != nullptr) {
      length = args.lengths[b];
      if (length < args.min_length || length > args.time) {
        atomicMin(args.first_bad_length, static_cast<unsigned long long>(b));
        length = args.time;
      }
    }
    int64_t out = args.pad;
    if (t >= args.time - length) {
      const int64_t id = args.raw[i];
      if (id < 0 || id >= args.raw_vocab) {
        atomicMin(args.first_bad_token, static_cast<unsigned long long>(i));
      } else {
        out = args.lookup != nullptr ? args.lookup[id] : id;
      }
    }
    args.compressed[i] = out;
  }
}

// One thread per output row id: consecutive threads write consecutive rows.
__global__ void AddressRowsKernel(AddressArgs args) {
  const int rows_per_token = (args.max_ngram - 1) * args.heads;
  const int out_time = args.time - args.t_begin;
  const int64_t count =
      static_cast<int64_t>(args.batch) * out_time * rows_per_token;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
       i < count; i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int r = static_cast<int>(i % rows_per_token);
    const int64_t position = i / rows_per_token;
    const int b = static_cast<int>(position / out_time);
    const int t = args.t_begin + static_cast<int>(position % out_time);
    const int order = r / args.heads + 2;  // n-gram order of this head
    const int64_t* seq = args.compressed + static_cast<int64_t>(b) * args.time;
    uint64_t mix = 0;
    for (int k = 0; k < order; ++k) {
      const int64_t token = t - k >= 0 ? seq[t - k] : args.pad;
      mix ^= static_cast<uint64_t>(token) * args.layer.multipliers[k];
    }
    const int64_t h = FloorMod(static_cast<int64_t>(mix), args.layer.moduli[r]);
    args.out_rows[i] = args.layer.offsets[r] + h;
    if (args.out_hash != nullptr) args.out_hash[i] = h;
  }
}

}  // namespace

cudaError_t LaunchCompressTokens(const CompressArgs& args,
                                 cudaStream_t stream) {
  const int64_t count = static_cast<int64_t>(args.batch) * args.time;
  if (count == 0) return cudaSuccess;
  CompressTokensKernel<<<BlocksFor(count), kThreadsPerBlock, 0, stream>>>(args);
  return cudaGetLastError();
}

cudaError_t LaunchAddressRows(const AddressArgs& args, cudaStream_t stream) {
  const int64_t count = static_cast<int64_t>(args.batch) *
                        (args.time - args.t_begin) * (args.max_ngram - 1) *
                        args.heads;
  if (count == 0) return cudaSuccess;
  AddressRowsKernel<<<BlocksFor(count), kThreadsPerBlock, 0, stream>>>(args);
  return cudaGetLastError();
}

}  // namespace engram::internal

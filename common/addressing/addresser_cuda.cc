#include "common/addressing/addresser_cuda.h"

#include <cuda_runtime_api.h>

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/addressing/addresser.h"
#include "common/addressing/addresser_cuda_kernels.h"
#include "common/addressing/cuda_status.h"
#include "common/addressing/hash_spec.h"
#include "common/status_macros.h"

namespace engram {
namespace {

// Frees a stream-ordered allocation when it goes out of scope.
class AsyncBuffer {
 public:
  explicit AsyncBuffer(cudaStream_t stream) : stream_(stream) {}
  ~AsyncBuffer() {
    if (ptr_ != nullptr) cudaFreeAsync(ptr_, stream_);
  }
  AsyncBuffer(const AsyncBuffer&) = delete;
  AsyncBuffer& operator=(const AsyncBuffer&) = delete;

  absl::Status Allocate(size_t bytes) {
    ENGRAM_CUDA_RETURN_IF_ERROR(
        cudaMallocAsync(&ptr_, bytes > 0 ? bytes : 1, stream_));
    return absl::OkStatus();
  }
  template <typename T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }

 private:
  cudaStream_t stream_;
  void* ptr_ = nullptr;
};

// Owns a stream for the host-memory entry points; synchronises before
// destroying it so that AsyncBuffers freed earlier have completed.
class OwnedStream {
 public:
  ~OwnedStream() {
    if (stream_ != nullptr) {
      cudaStreamSynchronize(stream_);
      cudaStreamDestroy(stream_);
    }
  }
  absl::Status Create() {
    ENGRAM_CUDA_RETURN_IF_ERROR(
        cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    return absl::OkStatus();
  }
  cudaStream_t get() const { return stream_; }

 private:
  cudaStream_t stream_ = nullptr;
};

absl::Status CheckSize(absl::string_view what, size_t actual,
                       int64_t expected) {
  if (static_cast<int64_t>(actual) != expected) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " has ", actual, " values, expected ", expected));
  }
  return absl::OkStatus();
}

}  // namespace

CudaAddresser::CudaAddresser(std::shared_ptr<const HashSpec> spec, int device)
    : spec_(std::move(spec)), device_(device) {}

CudaAddresser::~CudaAddresser() {
  if (cudaSetDevice(device_) != cudaSuccess) return;
  for (void* ptr : allocations_) cudaFree(ptr);
}

absl::StatusOr<std::unique_ptr<CudaAddresser>> CudaAddresser::Create(
    std::shared_ptr<const HashSpec> spec, int device) {
  if (spec == nullptr) {
    return absl::InvalidArgumentError("CudaAddresser: spec is null");
  }
  std::unique_ptr<CudaAddresser> addresser(
      new CudaAddresser(std::move(spec), device));
  ENGRAM_RETURN_IF_ERROR(addresser->Upload());
  return addresser;
}

absl::Status CudaAddresser::Upload() {
  ENGRAM_CUDA_RETURN_IF_ERROR(cudaSetDevice(device_));
  auto upload = [this](const void* host, size_t bytes,
                       void** device) -> absl::Status {
    ENGRAM_CUDA_RETURN_IF_ERROR(cudaMalloc(device, bytes > 0 ? bytes : 1));
    allocations_.push_back(*device);
    ENGRAM_CUDA_RETURN_IF_ERROR(
        cudaMemcpy(*device, host, bytes, cudaMemcpyHostToDevice));
    return absl::OkStatus();
  };
  for (int layer = 0; layer < spec_->num_layers(); ++layer) {
    const internal::LayerTables& tables = spec_->layer_tables(layer);
    internal::DeviceLayer device_layer{};
    void* ptr = nullptr;
    ENGRAM_RETURN_IF_ERROR(upload(tables.multipliers.data(),
                                  tables.multipliers.size() * sizeof(int64_t),
                                  &ptr));
    device_layer.multipliers = static_cast<const uint64_t*>(ptr);
    ENGRAM_RETURN_IF_ERROR(
        upload(tables.moduli.data(),
               tables.moduli.size() * sizeof(internal::FloorModulus), &ptr));
    device_layer.moduli = static_cast<const internal::FloorModulus*>(ptr);
    ENGRAM_RETURN_IF_ERROR(upload(tables.head_offsets.data(),
                                  tables.head_offsets.size() * sizeof(int64_t),
                                  &ptr));
    device_layer.offsets = static_cast<const int64_t*>(ptr);
    layers_.push_back(device_layer);
  }
  if (const CompressionMap* map = spec_->compression()) {
    void* ptr = nullptr;
    ENGRAM_RETURN_IF_ERROR(upload(
        map->lookup().data(), map->lookup().size() * sizeof(int64_t), &ptr));
    d_lookup_ = static_cast<const int64_t*>(ptr);
  }
  return absl::OkStatus();
}

absl::Status CudaAddresser::Run(int layer_index, const int64_t* d_tokens,
                                int batch, int time, const int32_t* d_lengths,
                                int min_length, int t_begin,
                                int64_t* d_out_row_ids, int64_t* d_out_hash_ids,
                                cudaStream_t stream) const {
  if (layer_index < 0 || layer_index >= spec_->num_layers()) {
    return absl::InvalidArgumentError(absl::StrCat("layer_index ", layer_index,
                                                   " is outside [0, ",
                                                   spec_->num_layers(), ")"));
  }
  if (batch < 0 || time < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "batch and time must be >= 0, got ", batch, " and ", time));
  }
  const int64_t count = static_cast<int64_t>(batch) * time;
  if (count == 0) return absl::OkStatus();
  ENGRAM_CUDA_RETURN_IF_ERROR(cudaSetDevice(device_));

  // Scratch: two error slots, then the compressed ids.
  constexpr size_t kErrorBytes = 2 * sizeof(unsigned long long);
  AsyncBuffer scratch(stream);
  ENGRAM_RETURN_IF_ERROR(
      scratch.Allocate(kErrorBytes + count * sizeof(int64_t)));
  unsigned long long* d_errors = scratch.as<unsigned long long>();
  int64_t* d_compressed =
      reinterpret_cast<int64_t*>(scratch.as<char>() + kErrorBytes);
  ENGRAM_CUDA_RETURN_IF_ERROR(
      cudaMemsetAsync(d_errors, 0xFF, kErrorBytes, stream));

  internal::CompressArgs compress{};
  compress.raw = d_tokens;
  compress.lengths = d_lengths;
  compress.batch = batch;
  compress.time = time;
  compress.min_length = min_length;
  compress.lookup = d_lookup_;
  compress.raw_vocab = spec_->raw_vocab();
  compress.pad = spec_->pad_id();
  compress.compressed = d_compressed;
  compress.first_bad_token = d_errors;
  compress.first_bad_length = d_errors + 1;
  ENGRAM_CUDA_RETURN_IF_ERROR(internal::LaunchCompressTokens(compress, stream));

  internal::AddressArgs address{};
  address.layer = layers_[layer_index];
  address.compressed = d_compressed;
  address.batch = batch;
  address.time = time;
  address.t_begin = t_begin;
  address.max_ngram = spec_->max_ngram();
  address.heads = spec_->heads_per_ngram();
  address.pad = spec_->pad_id();
  address.out_rows = d_out_row_ids;
  address.out_hash = d_out_hash_ids;
  ENGRAM_CUDA_RETURN_IF_ERROR(internal::LaunchAddressRows(address, stream));

  unsigned long long errors[2];
  ENGRAM_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(errors, d_errors, kErrorBytes,
                                              cudaMemcpyDeviceToHost, stream));
  ENGRAM_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream));

  if (errors[1] != internal::kNoDeviceError) {
    const int b = static_cast<int>(errors[1]);
    int32_t length = 0;
    ENGRAM_CUDA_RETURN_IF_ERROR(cudaMemcpy(
        &length, d_lengths + b, sizeof(length), cudaMemcpyDeviceToHost));
    return internal::InvalidLengthError(b, length, min_length, time);
  }
  if (errors[0] != internal::kNoDeviceError) {
    const int64_t i = static_cast<int64_t>(errors[0]);
    int64_t id = 0;
    ENGRAM_CUDA_RETURN_IF_ERROR(
        cudaMemcpy(&id, d_tokens + i, sizeof(id), cudaMemcpyDeviceToHost));
    return internal::InvalidTokenError(*spec_, id, static_cast<int>(i / time),
                                       static_cast<int>(i % time));
  }
  return absl::OkStatus();
}

absl::Status CudaAddresser::RunFromHost(
    int layer_index, absl::Span<const int64_t> tokens, int batch, int time,
    absl::Span<const int32_t> lengths, int min_length, int t_begin,
    absl::Span<int64_t> out_row_ids, absl::Span<int64_t> out_hash_ids) const {
  if (batch < 0 || time < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "batch and time must be >= 0, got ", batch, " and ", time));
  }
  ENGRAM_RETURN_IF_ERROR(
      CheckSize("tokens", tokens.size(), static_cast<int64_t>(batch) * time));
  if (!lengths.empty()) {
    ENGRAM_RETURN_IF_ERROR(CheckSize("lengths", lengths.size(), batch));
  }
  const int64_t outputs =
      static_cast<int64_t>(batch) * (time - t_begin) * spec_->rows_per_token();
  ENGRAM_RETURN_IF_ERROR(CheckSize("out_row_ids", out_row_ids.size(), outputs));
  if (!out_hash_ids.empty()) {
    ENGRAM_RETURN_IF_ERROR(
        CheckSize("out_hash_ids", out_hash_ids.size(), outputs));
  }
  if (tokens.empty()) {
    if (layer_index < 0 || layer_index >= spec_->num_layers()) {
      return absl::InvalidArgumentError(
          absl::StrCat("layer_index ", layer_index, " is outside [0, ",
                       spec_->num_layers(), ")"));
    }
    return absl::OkStatus();
  }
  ENGRAM_CUDA_RETURN_IF_ERROR(cudaSetDevice(device_));
  OwnedStream stream;
  ENGRAM_RETURN_IF_ERROR(stream.Create());
  const size_t token_bytes = tokens.size() * sizeof(int64_t);
  const size_t length_bytes = lengths.size() * sizeof(int32_t);
  const size_t out_bytes = out_row_ids.size() * sizeof(int64_t);
  AsyncBuffer d_tokens(stream.get()), d_lengths(stream.get()),
      d_rows(stream.get()), d_hashes(stream.get());
  ENGRAM_RETURN_IF_ERROR(d_tokens.Allocate(token_bytes));
  ENGRAM_RETURN_IF_ERROR(d_rows.Allocate(out_bytes));
  if (!lengths.empty()) {
    ENGRAM_RETURN_IF_ERROR(d_lengths.Allocate(length_bytes));
    ENGRAM_CUDA_RETURN_IF_ERROR(
        cudaMemcpyAsync(d_lengths.as<void>(), lengths.data(), length_bytes,
                        cudaMemcpyHostToDevice, stream.get()));
  }
  if (!out_hash_ids.empty()) {
    ENGRAM_RETURN_IF_ERROR(d_hashes.Allocate(out_bytes));
  }
  ENGRAM_CUDA_RETURN_IF_ERROR(
      cudaMemcpyAsync(d_tokens.as<void>(), tokens.data(), token_bytes,
                      cudaMemcpyHostToDevice, stream.get()));
  ENGRAM_RETURN_IF_ERROR(Run(
      layer_index, d_tokens.as<int64_t>(), batch, time,
      lengths.empty() ? nullptr : d_lengths.as<int32_t>(), min_length, t_begin,
      d_rows.as<int64_t>(),
      out_hash_ids.empty() ? nullptr : d_hashes.as<int64_t>(), stream.get()));
  ENGRAM_CUDA_RETURN_IF_ERROR(
      cudaMemcpyAsync(out_row_ids.data(), d_rows.as<void>(), out_bytes,
                      cudaMemcpyDeviceToHost, stream.get()));
  if (!out_hash_ids.empty()) {
    ENGRAM_CUDA_RETURN_IF_ERROR(
        cudaMemcpyAsync(out_hash_ids.data(), d_hashes.as<void>(), out_bytes,
                        cudaMemcpyDeviceToHost, stream.get()));
  }
  ENGRAM_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream.get()));
  return absl::OkStatus();
}

absl::Status CudaAddresser::ComputeRowIds(
    int layer_index, absl::Span<const int64_t> tokens, int batch, int time,
    absl::Span<const int32_t> lengths, absl::Span<int64_t> out_row_ids,
    absl::Span<int64_t> out_hash_ids) const {
  return RunFromHost(layer_index, tokens, batch, time, lengths,
                     /*min_length=*/0, /*t_begin=*/0, out_row_ids,
                     out_hash_ids);
}

absl::Status CudaAddresser::ComputeDecodeRowIds(
    int layer_index, absl::Span<const int64_t> windows, int batch,
    absl::Span<const int32_t> window_lengths, absl::Span<int64_t> out_row_ids,
    absl::Span<int64_t> out_hash_ids) const {
  const int window = spec_->max_ngram();
  return RunFromHost(layer_index, windows, batch, window, window_lengths,
                     /*min_length=*/1, /*t_begin=*/window - 1, out_row_ids,
                     out_hash_ids);
}

absl::Status CudaAddresser::ComputeRowIdsOnDevice(
    int layer_index, const int64_t* d_tokens, int batch, int time,
    const int32_t* d_lengths, int64_t* d_out_row_ids, int64_t* d_out_hash_ids,
    cudaStream_t stream) const {
  return Run(layer_index, d_tokens, batch, time, d_lengths, /*min_length=*/0,
             /*t_begin=*/0, d_out_row_ids, d_out_hash_ids, stream);
}

absl::Status CudaAddresser::ComputeDecodeRowIdsOnDevice(
    int layer_index, const int64_t* d_windows, int batch,
    const int32_t* d_window_lengths, int64_t* d_out_row_ids,
    int64_t* d_out_hash_ids, cudaStream_t stream) const {
  const int window = spec_->max_ngram();
  return Run(layer_index, d_windows, batch, window, d_window_lengths,
             /*min_length=*/1, /*t_begin=*/window - 1, d_out_row_ids,
             d_out_hash_ids, stream);
}

}  // namespace engram

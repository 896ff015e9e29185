#include "common/addressing/addresser.h"

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/addressing/fast_mod.h"
#include "common/addressing/hash_spec.h"
#include "common/status_macros.h"

namespace engram {
namespace {

absl::Status CheckLayerIndex(const HashSpec& spec, int layer_index) {
  if (layer_index < 0 || layer_index >= spec.num_layers()) {
    return absl::InvalidArgumentError(absl::StrCat("layer_index ", layer_index,
                                                   " is outside [0, ",
                                                   spec.num_layers(), ")"));
  }
  return absl::OkStatus();
}

absl::Status CheckSize(absl::string_view what, size_t actual,
                       int64_t expected) {
  if (static_cast<int64_t>(actual) != expected) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " has ", actual, " values, expected ", expected));
  }
  return absl::OkStatus();
}

// Checks shapes shared by every entry point and turns lengths into starts
// (first real position per sequence).
absl::Status CheckBatch(int batch, int time, absl::Span<const int64_t> tokens,
                        absl::Span<const int32_t> lengths, int min_length,
                        std::vector<int32_t>& starts) {
  if (batch < 0 || time < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "batch and time must be >= 0, got ", batch, " and ", time));
  }
  ENGRAM_RETURN_IF_ERROR(
      CheckSize("tokens", tokens.size(), static_cast<int64_t>(batch) * time));
  starts.clear();
  if (lengths.empty()) return absl::OkStatus();
  ENGRAM_RETURN_IF_ERROR(CheckSize("lengths", lengths.size(), batch));
  starts.resize(batch);
  for (int b = 0; b < batch; ++b) {
    if (lengths[b] < min_length || lengths[b] > time) {
      return internal::InvalidLengthError(b, lengths[b], min_length, time);
    }
    starts[b] = time - lengths[b];
  }
  return absl::OkStatus();
}

// Validates the real tokens; when `compressed` is non-null also writes the
// compressed ids there (filler positions get the compressed pad id).
absl::Status ValidateAndCompress(const HashSpec& spec,
                                 absl::Span<const int64_t> tokens, int batch,
                                 int time, const std::vector<int32_t>& starts,
                                 int64_t* compressed) {
  const CompressionMap* map = spec.compression();
  const int64_t raw_vocab = spec.raw_vocab();
  for (int b = 0; b < batch; ++b) {
    const int start = starts.empty() ? 0 : starts[b];
    const int64_t* row = tokens.data() + static_cast<int64_t>(b) * time;
    int64_t* out =
        compressed ? compressed + static_cast<int64_t>(b) * time : nullptr;
    for (int t = 0; t < start && out != nullptr; ++t) out[t] = spec.pad_id();
    for (int t = start; t < time; ++t) {
      const int64_t id = row[t];
      if (id < 0 || id >= raw_vocab) {
        return internal::InvalidTokenError(spec, id, b, t);
      }
      if (out != nullptr) out[t] = map != nullptr ? map->Compress(id) : id;
    }
  }
  return absl::OkStatus();
}

// kNonNegativeMix: the caller validated the ids, so every product is below
// 2^63 (HashSpec bounds the multipliers by INT64_MAX / tokenizer_vocab) and
// so is their XOR; the floor modulo is then a plain unsigned one.
template <bool kWriteHash, bool kNonNegativeMix>
void AddressImpl(const internal::LayerTables& tables, int max_ngram, int heads,
                 int64_t pad, const int64_t* compressed, int batch, int time,
                 const int32_t* starts, int t_begin, int64_t* out_rows,
                 int64_t* out_hash) {
  const int rows_per_token = (max_ngram - 1) * heads;
  uint64_t multipliers[HashSpec::kMaxNgram];
  for (int k = 0; k < max_ngram; ++k) {
    multipliers[k] = static_cast<uint64_t>(tables.multipliers[k]);
  }
  const internal::FloorModulus* moduli = tables.moduli.data();
  const int64_t* offsets = tables.head_offsets.data();
  const int64_t out_time = time - t_begin;
  for (int b = 0; b < batch; ++b) {
    const int64_t* seq = compressed + static_cast<int64_t>(b) * time;
    const int start = starts != nullptr ? starts[b] : 0;
    int64_t* rows = out_rows + b * out_time * rows_per_token;
    int64_t* hashes =
        kWriteHash ? out_hash + b * out_time * rows_per_token : nullptr;
    for (int t = t_begin; t < time; ++t) {
      // Products in uint64 wrap exactly like numpy's int64 multiply.
      uint64_t products[HashSpec::kMaxNgram];
      for (int k = 0; k < max_ngram; ++k) {
        const int64_t token = t - k >= start ? seq[t - k] : pad;
        products[k] = static_cast<uint64_t>(token) * multipliers[k];
      }
      uint64_t mix = products[0];
      int r = 0;
      for (int n = 1; n < max_ngram; ++n) {
        mix ^= products[n];
        for (int j = 0; j < heads; ++j, ++r) {
          int64_t h;
          if constexpr (kNonNegativeMix) {
            h = static_cast<int64_t>(internal::ModU64(mix, moduli[r]));
          } else {
            h = internal::FloorMod(static_cast<int64_t>(mix), moduli[r]);
          }
          rows[r] = offsets[r] + h;
          if constexpr (kWriteHash) hashes[r] = h;
        }
      }
      rows += rows_per_token;
      if constexpr (kWriteHash) hashes += rows_per_token;
    }
  }
}

// AddressNonNegativeReciprocal is AddressImpl<*, true> with the quotient
// of each head's floor modulo taken from a double reciprocal:
// q = trunc(mix * (1 / p)) is within one of floor(mix / p) for mix < 2^63
// and p >= kMinReciprocalModulus, so r = mix - q * p lands in [-p, 2p) and
// two corrections make it exact. Unlike the 128-bit multiply of
// FloorModulus, this vectorises: with AVX-512DQ one instruction sequence
// does eight heads. The body is compiled twice, for AVX-512DQ and for the
// baseline, and AddressNonNegativeReciprocal picks by the CPU at run time.
__attribute__((always_inline)) inline void AddressReciprocalBody(
    const internal::LayerTables& tables, int max_ngram, int heads, int64_t pad,
    const int64_t* compressed, int batch, int time, const int32_t* starts,
    int t_begin, int64_t* out_rows, int64_t* out_hash) {
  const int rows_per_token = (max_ngram - 1) * heads;
  const int64_t* sizes = tables.head_sizes.data();
  const double* reciprocals = tables.reciprocals.data();
  const int64_t* offsets = tables.head_offsets.data();
  const int64_t out_time = time - t_begin;
  // Hash ids go to a scratch row when the caller wants none, keeping the
  // inner loop free of branches.
  int64_t scratch[HashSpec::kMaxNgram * HashSpec::kMaxHeadsPerNgram];
  for (int b = 0; b < batch; ++b) {
    const int64_t* seq = compressed + static_cast<int64_t>(b) * time;
    const int start = starts != nullptr ? starts[b] : 0;
    int64_t* rows = out_rows + b * out_time * rows_per_token;
    int64_t* hashes = out_hash != nullptr
                          ? out_hash + b * out_time * rows_per_token
                          : scratch;
    for (int t = t_begin; t < time; ++t) {
      int64_t mix = 0;
      int r = 0;
      for (int n = 0; n < max_ngram; ++n) {
        const int64_t token = t - n >= start ? seq[t - n] : pad;
        mix ^=
            static_cast<int64_t>(static_cast<uint64_t>(token) *
                                 static_cast<uint64_t>(tables.multipliers[n]));
        if (n == 0) continue;
        const double mix_double = static_cast<double>(mix);
        for (int j = 0; j < heads; ++j) {
          const int64_t p = sizes[r + j];
          const int64_t q =
              static_cast<int64_t>(mix_double * reciprocals[r + j]);
          int64_t h = mix - q * p;
          h += h < 0 ? p : 0;
          h -= h >= p ? p : 0;
          rows[r + j] = offsets[r + j] + h;
          hashes[r + j] = h;
        }
        r += heads;
      }
      rows += rows_per_token;
      if (out_hash != nullptr) hashes += rows_per_token;
    }
  }
}

using ReciprocalKernel = void (*)(const internal::LayerTables&, int, int,
                                  int64_t, const int64_t*, int, int,
                                  const int32_t*, int, int64_t*, int64_t*);

__attribute__((target("avx512f,avx512dq"))) void AddressReciprocalAvx512(
    const internal::LayerTables& tables, int max_ngram, int heads, int64_t pad,
    const int64_t* compressed, int batch, int time, const int32_t* starts,
    int t_begin, int64_t* out_rows, int64_t* out_hash) {
  AddressReciprocalBody(tables, max_ngram, heads, pad, compressed, batch, time,
                        starts, t_begin, out_rows, out_hash);
}

void AddressReciprocalBaseline(const internal::LayerTables& tables,
                               int max_ngram, int heads, int64_t pad,
                               const int64_t* compressed, int batch, int time,
                               const int32_t* starts, int t_begin,
                               int64_t* out_rows, int64_t* out_hash) {
  AddressReciprocalBody(tables, max_ngram, heads, pad, compressed, batch, time,
                        starts, t_begin, out_rows, out_hash);
}

void AddressNonNegativeReciprocal(const internal::LayerTables& tables,
                                  int max_ngram, int heads, int64_t pad,
                                  const int64_t* compressed, int batch,
                                  int time, const int32_t* starts, int t_begin,
                                  int64_t* out_rows, int64_t* out_hash) {
  static const ReciprocalKernel kernel = __builtin_cpu_supports("avx512dq")
                                             ? AddressReciprocalAvx512
                                             : AddressReciprocalBaseline;
  kernel(tables, max_ngram, heads, pad, compressed, batch, time, starts,
         t_begin, out_rows, out_hash);
}

template <bool kNonNegativeMix>
void Address(const HashSpec& spec, int layer_index, const int64_t* compressed,
             int batch, int time, const int32_t* starts, int t_begin,
             int64_t* out_rows, int64_t* out_hash) {
  const internal::LayerTables& tables = spec.layer_tables(layer_index);
  if (kNonNegativeMix && tables.reciprocal_mod_exact) {
    AddressNonNegativeReciprocal(
        tables, spec.max_ngram(), spec.heads_per_ngram(), spec.pad_id(),
        compressed, batch, time, starts, t_begin, out_rows, out_hash);
    return;
  }
  if (out_hash != nullptr) {
    AddressImpl<true, kNonNegativeMix>(
        tables, spec.max_ngram(), spec.heads_per_ngram(), spec.pad_id(),
        compressed, batch, time, starts, t_begin, out_rows, out_hash);
  } else {
    AddressImpl<false, kNonNegativeMix>(
        tables, spec.max_ngram(), spec.heads_per_ngram(), spec.pad_id(),
        compressed, batch, time, starts, t_begin, out_rows, nullptr);
  }
}

// AddressValidated is AddressCompressed for ids that passed
// ValidateAndCompress.
void AddressValidated(const HashSpec& spec, int layer_index,
                      const int64_t* compressed, int batch, int time,
                      const int32_t* starts, int t_begin, int64_t* out_rows,
                      int64_t* out_hash) {
  Address<true>(spec, layer_index, compressed, batch, time, starts, t_begin,
                out_rows, out_hash);
}

}  // namespace

namespace internal {

absl::Status InvalidTokenError(const HashSpec& spec, int64_t id, int batch,
                               int position) {
  if (spec.compression() == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("token ", id, " at batch ", batch, ", position ", position,
                     " is outside the vocabulary [0, ", spec.raw_vocab(), ")"));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "raw token ", id, " at batch ", batch, ", position ", position,
      " is outside the compression map's raw vocabulary [0, ", spec.raw_vocab(),
      ")"));
}

absl::Status InvalidLengthError(int batch, int64_t length, int min_length,
                                int time) {
  return absl::InvalidArgumentError(
      absl::StrCat("lengths[", batch, "] = ", length, " is outside [",
                   min_length, ", ", time, "]"));
}

void AddressCompressed(const HashSpec& spec, int layer_index,
                       const int64_t* compressed, int batch, int time,
                       const int32_t* starts, int t_begin, int64_t* out_rows,
                       int64_t* out_hash) {
  Address<false>(spec, layer_index, compressed, batch, time, starts, t_begin,
                 out_rows, out_hash);
}

}  // namespace internal

absl::Status CompressTokens(const HashSpec& spec,
                            absl::Span<const int64_t> tokens, int batch,
                            int time, absl::Span<const int32_t> lengths,
                            absl::Span<int64_t> out_compressed) {
  std::vector<int32_t> starts;
  ENGRAM_RETURN_IF_ERROR(CheckBatch(batch, time, tokens, lengths, 0, starts));
  ENGRAM_RETURN_IF_ERROR(CheckSize("out_compressed", out_compressed.size(),
                                   static_cast<int64_t>(batch) * time));
  return ValidateAndCompress(spec, tokens, batch, time, starts,
                             out_compressed.data());
}

absl::Status ComputeRowIds(const HashSpec& spec, int layer_index,
                           absl::Span<const int64_t> tokens, int batch,
                           int time, absl::Span<const int32_t> lengths,
                           absl::Span<int64_t> out_row_ids,
                           absl::Span<int64_t> out_hash_ids) {
  ENGRAM_RETURN_IF_ERROR(CheckLayerIndex(spec, layer_index));
  std::vector<int32_t> starts;
  ENGRAM_RETURN_IF_ERROR(CheckBatch(batch, time, tokens, lengths, 0, starts));
  const int64_t outputs =
      static_cast<int64_t>(batch) * time * spec.rows_per_token();
  ENGRAM_RETURN_IF_ERROR(CheckSize("out_row_ids", out_row_ids.size(), outputs));
  if (!out_hash_ids.empty()) {
    ENGRAM_RETURN_IF_ERROR(
        CheckSize("out_hash_ids", out_hash_ids.size(), outputs));
  }
  std::vector<int64_t> compressed;
  if (spec.compression() != nullptr) {
    compressed.resize(tokens.size());
  }
  ENGRAM_RETURN_IF_ERROR(
      ValidateAndCompress(spec, tokens, batch, time, starts,
                          compressed.empty() ? nullptr : compressed.data()));
  AddressValidated(
      spec, layer_index, compressed.empty() ? tokens.data() : compressed.data(),
      batch, time, starts.empty() ? nullptr : starts.data(), /*t_begin=*/0,
      out_row_ids.data(), out_hash_ids.empty() ? nullptr : out_hash_ids.data());
  return absl::OkStatus();
}

absl::Status ComputeRowIdsAllLayers(const HashSpec& spec,
                                    absl::Span<const int64_t> tokens, int batch,
                                    int time, absl::Span<const int32_t> lengths,
                                    absl::Span<int64_t> out_row_ids) {
  std::vector<int32_t> starts;
  ENGRAM_RETURN_IF_ERROR(CheckBatch(batch, time, tokens, lengths, 0, starts));
  const int64_t per_layer =
      static_cast<int64_t>(batch) * time * spec.rows_per_token();
  ENGRAM_RETURN_IF_ERROR(CheckSize("out_row_ids", out_row_ids.size(),
                                   per_layer * spec.num_layers()));
  std::vector<int64_t> compressed;
  if (spec.compression() != nullptr) compressed.resize(tokens.size());
  ENGRAM_RETURN_IF_ERROR(
      ValidateAndCompress(spec, tokens, batch, time, starts,
                          compressed.empty() ? nullptr : compressed.data()));
  for (int layer = 0; layer < spec.num_layers(); ++layer) {
    AddressValidated(spec, layer,
                     compressed.empty() ? tokens.data() : compressed.data(),
                     batch, time, starts.empty() ? nullptr : starts.data(), 0,
                     out_row_ids.data() + layer * per_layer, nullptr);
  }
  return absl::OkStatus();
}

absl::Status ComputeDecodeRowIds(const HashSpec& spec, int layer_index,
                                 absl::Span<const int64_t> windows, int batch,
                                 absl::Span<const int32_t> window_lengths,
                                 absl::Span<int64_t> out_row_ids,
                                 absl::Span<int64_t> out_hash_ids) {
  ENGRAM_RETURN_IF_ERROR(CheckLayerIndex(spec, layer_index));
  const int window = spec.max_ngram();
  std::vector<int32_t> starts;
  ENGRAM_RETURN_IF_ERROR(
      CheckBatch(batch, window, windows, window_lengths, 1, starts));
  const int64_t outputs = static_cast<int64_t>(batch) * spec.rows_per_token();
  ENGRAM_RETURN_IF_ERROR(CheckSize("out_row_ids", out_row_ids.size(), outputs));
  if (!out_hash_ids.empty()) {
    ENGRAM_RETURN_IF_ERROR(
        CheckSize("out_hash_ids", out_hash_ids.size(), outputs));
  }
  std::vector<int64_t> compressed;
  if (spec.compression() != nullptr) compressed.resize(windows.size());
  ENGRAM_RETURN_IF_ERROR(
      ValidateAndCompress(spec, windows, batch, window, starts,
                          compressed.empty() ? nullptr : compressed.data()));
  AddressValidated(spec, layer_index,
                   compressed.empty() ? windows.data() : compressed.data(),
                   batch, window, starts.empty() ? nullptr : starts.data(),
                   /*t_begin=*/window - 1, out_row_ids.data(),
                   out_hash_ids.empty() ? nullptr : out_hash_ids.data());
  return absl::OkStatus();
}

}  // namespace engram

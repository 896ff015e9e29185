// CPU row addressing: token ids -> Engram table rows, bit-identical to the
// reference (engram_demo_v1.py; steps in
// /work/shared/reference/engram-addressing.md).
//
// Prefill: a [batch, time] array of raw token ids, each sequence left-padded
// on its own: sequence b's lengths[b] real tokens occupy its *last*
// lengths[b] positions, positions before them are filler whose contents are
// ignored and treated as pad. Every position gets (max_ngram-1)*heads rows
// per layer; those of a real position equal the reference run on that
// sequence alone (the reference pads shifted positions t-k < 0 with pad_id),
// those of a filler position are what the reference gives for pad tokens
// there. (Right padding needs nothing: rows never depend on later tokens.)
//
//   std::vector<int64_t> rows(batch * time * spec.rows_per_token());
//   ENGRAM_RETURN_IF_ERROR(ComputeRowIds(spec, /*layer_index=*/0, tokens,
//                                        batch, time, lengths, rows));
//   // rows[(b * time + t) * spec.rows_per_token() + head]
//
// Decode: per sequence a window of max_ngram raw ids whose last entry is the
// new token, preceded by up to max_ngram-1 history tokens (right-aligned;
// window_lengths[b] counts the real ones). The rows equal the prefill rows
// of that position.
//
// Token ids: raw ids must be in [0, spec.raw_vocab()); after compression
// they are in [0, tokenizer_vocab). Ids outside are rejected with
// InvalidArgument naming the position (the reference would let negative or
// too-large ids wrap around in int64; see the .md step 5). The arithmetic
// itself is the reference's: wrapping int64 products, XOR, floor modulo.
//
// Row ids are within the layer's own table: head h's rows start at
// spec.head_offsets(layer)[h]; the table has spec.rows_in_layer(layer) rows.
//
// Thread-safe: functions only read the spec; no allocation per row (one
// buffer per call when a compression map is set).
#ifndef ENGRAM_COMMON_ADDRESSING_ADDRESSER_H_
#define ENGRAM_COMMON_ADDRESSING_ADDRESSER_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "common/addressing/hash_spec.h"

namespace engram {

// ComputeRowIds fills out_row_ids [batch][time][rows_per_token] for one
// layer, and out_hash_ids (same shape, per-head hash before the offset) when
// it is non-empty. `lengths` has `batch` values in [0, time], or is empty
// for all sequences full.
// Errors: InvalidArgument for a bad layer_index, shapes or span sizes, a
// length outside [0, time], or a real token outside the valid range (the
// message names batch, position and value).
absl::Status ComputeRowIds(const HashSpec& spec, int layer_index,
                           absl::Span<const int64_t> tokens, int batch,
                           int time, absl::Span<const int32_t> lengths,
                           absl::Span<int64_t> out_row_ids,
                           absl::Span<int64_t> out_hash_ids = {});

// ComputeRowIdsAllLayers fills out_row_ids
// [num_layers][batch][time][rows_per_token], validating and compressing the
// tokens once. Errors: as ComputeRowIds.
absl::Status ComputeRowIdsAllLayers(const HashSpec& spec,
                                    absl::Span<const int64_t> tokens, int batch,
                                    int time, absl::Span<const int32_t> lengths,
                                    absl::Span<int64_t> out_row_ids);

// ComputeDecodeRowIds fills out_row_ids [batch][rows_per_token] (and
// out_hash_ids when non-empty) for the last position of each window.
// `windows` is [batch][max_ngram] raw ids; window_lengths has `batch` values
// in [1, max_ngram] (the real tokens at the right end of the window), or is
// empty for full windows.
// Errors: as ComputeRowIds.
absl::Status ComputeDecodeRowIds(const HashSpec& spec, int layer_index,
                                 absl::Span<const int64_t> windows, int batch,
                                 absl::Span<const int32_t> window_lengths,
                                 absl::Span<int64_t> out_row_ids,
                                 absl::Span<int64_t> out_hash_ids = {});

// CompressTokens validates the real tokens of a left-padded batch and writes
// their compressed ids to out_compressed [batch][time] (filler positions get
// the compressed pad id). Errors: as ComputeRowIds.
absl::Status CompressTokens(const HashSpec& spec,
                            absl::Span<const int64_t> tokens, int batch,
                            int time, absl::Span<const int32_t> lengths,
                            absl::Span<int64_t> out_compressed);

namespace internal {

// InvalidTokenError is the error for a real token outside the valid raw
// range, shared by the CPU and CUDA addressers.
absl::Status InvalidTokenError(const HashSpec& spec, int64_t id, int batch,
                               int position);

// InvalidLengthError is the error for lengths[batch] outside
// [min_length, time].
absl::Status InvalidLengthError(int batch, int64_t length, int min_length,
                                int time);

// AddressCompressed is the unchecked kernel. `compressed` is [batch][time]
// compressed ids (any int64: the arithmetic wraps exactly like numpy's);
// starts[b] is sequence b's first real position (earlier ones read as pad;
// null means 0). Writes positions [t_begin, time) of each sequence to
// out_rows [batch][time - t_begin][rows_per_token], and to out_hash when it
// is non-null.
void AddressCompressed(const HashSpec& spec, int layer_index,
                       const int64_t* compressed, int batch, int time,
                       const int32_t* starts, int t_begin, int64_t* out_rows,
                       int64_t* out_hash);

}  // namespace internal
}  // namespace engram

#endif  // ENGRAM_COMMON_ADDRESSING_ADDRESSER_H_

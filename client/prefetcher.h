// Prefetcher: the Engram rows of every layer of a model, fetched as soon as
// the tokens that address them are known, so that they arrive while the
// layers before each Engram layer compute.
//
//   ENGRAM_ASSIGN_OR_RETURN(
//       std::unique_ptr<Prefetcher> prefetcher,
//       Prefetcher::Create(client, {.tables = {"layer_1", "layer_15"}}));
//   // Prefill: every token known; out[l] holds [batch][time][heads] rows.
//   ENGRAM_ASSIGN_OR_RETURN(std::unique_ptr<PrefetchStep> step,
//                           prefetcher->Prefill(tokens, batch, time, lengths,
//                                               {out_1, out_15}));
//   ... the layers before layer 1 ...
//   ENGRAM_RETURN_IF_ERROR(step->Wait(0, absl::Now() + absl::Milliseconds(2)));
//   // Decode: one new token per sequence; the prefetcher keeps each
//   // sequence's last max_ngram - 1 tokens. out[l]: [batch][heads] rows.
//   ENGRAM_ASSIGN_OR_RETURN(step, prefetcher->Decode(new_tokens, {o1, o15}));
//
// Each layer's table must carry its hash spec (DescribeTable's); the
// addresses are computed here, the reference's bit for bit. Within a step,
// a row wanted at several positions is fetched once. Steps are independent:
// several may be in flight. A Prefetcher's Prefill and Decode calls must
// not overlap (they share the sequences' history); its steps may be waited
// on from any thread.
#ifndef ENGRAM_CLIENT_PREFETCHER_H_
#define ENGRAM_CLIENT_PREFETCHER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "client/engram_client.h"
#include "common/addressing/compression_map.h"
#include "common/addressing/hash_spec.h"

namespace engram::client {

struct PrefetcherOptions {
  // One table per Engram layer, in the order the outputs are given.
  std::vector<std::string> tables;
  // Applied to every lookup: deadline, version or pin (not output_type:
  // rows arrive as stored; each layer's lookups name its own table's
  // hash_spec_digest).
  LookupOptions lookup;
  // The model's token compression (the reference's CompressedTokenizer),
  // for tables whose hash spec hashes compressed ids: raw ids go through
  // it first. Must be the map the tables' specs name. Null: the map the
  // server keeps for them (GetCompressionMap), if they name one.
  std::shared_ptr<const CompressionMap> compression;
};

// The lookups of one step, one per layer.
class PrefetchStep {
 public:
  // Waits for the destination buffers to be no longer written.
  ~PrefetchStep();

  // Blocks until layer `layer`'s rows are in its buffer or `deadline`
  // passes (DeadlineExceeded; the lookup goes on). The lookup's error
  // otherwise. May be called again.
  absl::Status Wait(int layer, absl::Time deadline) const;

  // Rows fetched (distinct within the step) and wanted, over all layers.
  uint64_t rows_fetched() const { return rows_fetched_; }
  uint64_t rows_wanted() const { return rows_wanted_; }

 private:
  friend class Prefetcher;
  struct Layer;
  PrefetchStep() = default;

  std::vector<std::shared_ptr<Layer>> layers_;
  uint64_t rows_fetched_ = 0;
  uint64_t rows_wanted_ = 0;
};

class Prefetcher {
 public:
  // Describes each table (and fetches their compression map when none is
  // given). InvalidArgument for a table without a hash spec, layers whose
  // specs disagree on max_ngram, or a map that is not the one a table's
  // spec names (or names none); FailedPrecondition when the tables name a
  // map the server does not hold and none is given; the client's errors.
  // `client` must outlive the prefetcher and its steps.
  static absl::StatusOr<std::unique_ptr<Prefetcher>> Create(
      EngramClient* client, PrefetcherOptions options);

  int num_layers() const { return static_cast<int>(layers_.size()); }
  // Rows per token of layer `layer` ((max_ngram - 1) * heads) and bytes
  // per row.
  int rows_per_token(int layer) const;
  uint32_t row_bytes(int layer) const {
    return layers_[layer].format.row_bytes;
  }
  // The element type of layer `layer`'s rows, and the one-layer hash spec
  // that addresses them (DescribeTable's).
  ElementType element_type(int layer) const {
    return layers_[layer].format.element_type;
  }
  const HashSpec& hash_spec(int layer) const { return *layers_[layer].spec; }
  // The map raw token ids are compressed with first; null if none.
  const CompressionMap* compression() const {
    return options_.compression.get();
  }

  // Starts fetching the rows of a prefill batch: `tokens` [batch][time] raw
  // ids (compressed with options.compression first, when set), sequence
  // b's real tokens its last lengths[b] positions (`lengths`
  // empty: all full). `out[l]` receives layer l's rows [batch][time]
  // [rows_per_token(l)], and must stay valid while the step lives. Starts
  // the sequences' decode history afresh from these tokens.
  // `request_id`, when not empty, is the x-request-id of every lookup of
  // the step (so that the servers' log lines of one step share it) in place
  // of options.lookup's. InvalidArgument for bad shapes or buffer sizes, a
  // token outside the vocabulary, or a request id CheckRequestId refuses;
  // nothing is fetched then.
  absl::StatusOr<std::unique_ptr<PrefetchStep>> Prefill(
      absl::Span<const int64_t> tokens, int batch, int time,
      absl::Span<const int32_t> lengths, std::vector<absl::Span<char>> out,
      absl::string_view request_id = "");

  // Starts fetching the rows of one decode step: `new_tokens` has one token
  // per sequence of the last Prefill (or, without one, starts that many
  // empty sequences); out[l] receives [batch][rows_per_token(l)] rows.
  // `request_id` as Prefill's. InvalidArgument as Prefill, or for a batch
  // that differs from the history's.
  absl::StatusOr<std::unique_ptr<PrefetchStep>> Decode(
      absl::Span<const int64_t> new_tokens, std::vector<absl::Span<char>> out,
      absl::string_view request_id = "");

 private:
  struct LayerTable {
    std::string name;
    std::shared_ptr<const HashSpec> spec;
    // Sent with every lookup: a server whose table is addressed by another
    // spec (replaced since) refuses instead of serving other rows.
    std::string hash_spec_digest;
    RowFormat format;
  };

  Prefetcher(EngramClient* client, PrefetcherOptions options,
             std::vector<LayerTable> layers, int history);

  // `tokens` as the specs hash them: compressed when options.compression
  // is set. InvalidArgument for a raw id outside the map.
  absl::StatusOr<std::vector<int64_t>> HashedTokens(
      absl::Span<const int64_t> tokens) const;
  // Checks out[l] holds `positions` positions' rows of every layer.
  absl::Status CheckOutputs(const std::vector<absl::Span<char>>& out,
                            uint64_t positions) const;
  // Fetches, per layer, the rows `row_ids[l]` names into out[l], with
  // options.lookup and `request_id` (if not empty).
  std::unique_ptr<PrefetchStep> Fetch(std::vector<std::vector<int64_t>> row_ids,
                                      std::vector<absl::Span<char>> out,
                                      absl::string_view request_id);

  EngramClient* const client_;
  const PrefetcherOptions options_;
  const std::vector<LayerTable> layers_;
  // Tokens each sequence keeps: max_ngram - 1.
  const int history_;
  // [batch][history_], right-aligned, and how many of each are real.
  std::vector<int64_t> history_tokens_;
  std::vector<int32_t> history_lengths_;
};

}  // namespace engram::client

#endif  // ENGRAM_CLIENT_PREFETCHER_H_

#include "client/prefetcher.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/algorithm/container.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "common/addressing/addresser.h"
#include "common/hash_spec_proto.h"
#include "common/request_id.h"
#include "common/status_context.h"
#include "common/status_macros.h"

namespace engram::client {

// One layer's lookup: the distinct ids it fetches and where each wanted
// row lands.
struct PrefetchStep::Layer {
  RowFormat format;
  absl::Span<char> out;
  std::vector<uint64_t> distinct;
  // Wanted position i is distinct[slot[i]]; empty when every id is
  // distinct and the rows land straight in `out`.
  std::vector<uint32_t> slot;
  std::unique_ptr<char[]> fetched;
  absl::Notification done;
  absl::Status status;  // Written before `done` is notified.
};

PrefetchStep::~PrefetchStep() {
  for (const std::shared_ptr<Layer>& layer : layers_) {
    layer->done.WaitForNotification();
  }
}

absl::Status PrefetchStep::Wait(int layer, absl::Time deadline) const {
  if (layer < 0 || layer >= static_cast<int>(layers_.size())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "layer ", layer, " of a step of ", layers_.size(), " layers"));
  }
  const Layer& state = *layers_[layer];
  if (!state.done.WaitForNotificationWithDeadline(deadline)) {
    return absl::DeadlineExceededError(
        absl::StrCat("the rows of layer ", layer, " are not in yet"));
  }
  return state.status;
}

namespace {

// When `compression` is null and a table of `tables` names a map, the map
// the server keeps for it. How the prefetcher came by its map, for errors.
absl::StatusOr<std::string> FetchCompressionIfMissing(
    EngramClient& client, const std::vector<TableDescription>& tables,
    std::shared_ptr<const CompressionMap>& compression) {
  if (compression != nullptr) return "was given";
  const auto compressed =
      absl::c_find_if(tables, [](const TableDescription& table) {
        return !table.compression_digest.empty();
      });
  if (compressed == tables.end()) return "was given";
  absl::StatusOr<std::shared_ptr<const CompressionMap>> held =
      client.GetCompressionMap(compressed->name);
  ENGRAM_RETURN_IF_ERROR(Annotate(
      held.status(), "",
      "; give the prefetcher the model's map (its compression option)"));
  compression = *std::move(held);
  return absl::StrCat("fetched, for table '", compressed->name, "',");
}

}  // namespace

absl::StatusOr<std::unique_ptr<Prefetcher>> Prefetcher::Create(
    EngramClient* client, PrefetcherOptions options) {
  if (options.tables.empty()) {
    return absl::InvalidArgumentError("a prefetcher needs at least one table");
  }
  if (options.lookup.output_type.has_value()) {
    return absl::InvalidArgumentError(
        "a prefetcher fetches rows as stored; output_type is not supported");
  }
  std::vector<TableDescription> tables;
  for (const std::string& name : options.tables) {
    ENGRAM_ASSIGN_OR_RETURN(TableDescription table,
                            client->DescribeTable(name));
    if (table.hash_spec == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("table '", name,
                       "' has no hash spec, so its rows cannot be "
                       "addressed from tokens"));
    }
    if (!tables.empty() &&
        table.hash_spec->max_ngram() != tables.front().hash_spec->max_ngram()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "table '", name, "' hashes ", table.hash_spec->max_ngram(),
          "-grams but '", tables.front().name, "' ",
          tables.front().hash_spec->max_ngram(), "-grams"));
    }
    tables.push_back(std::move(table));
  }
  ENGRAM_ASSIGN_OR_RETURN(
      const std::string compression_source,
      FetchCompressionIfMissing(*client, tables, options.compression));
  const std::string given = CompressionDigest(options.compression.get());
  std::vector<LayerTable> layers;
  for (const TableDescription& table : tables) {
    if (table.compression_digest != given) {
      return absl::InvalidArgumentError(absl::StrCat(
          "table '", table.name, "' hashes ",
          table.compression_digest.empty()
              ? "raw token ids"
              : absl::StrCat("token ids compressed by map ",
                             table.compression_digest),
          " but the prefetcher ", compression_source, " ",
          given.empty() ? "no compression map"
                        : absl::StrCat("compression map ", given)));
    }
    layers.push_back({table.name,
                      table.hash_spec,
                      table.hash_spec_digest,
                      {table.row_bytes, table.element_type}});
  }
  const int history = layers.front().spec->max_ngram() - 1;
  return std::unique_ptr<Prefetcher>(
      new Prefetcher(client, std::move(options), std::move(layers), history));
}

Prefetcher::Prefetcher(EngramClient* client, PrefetcherOptions options,
                       std::vector<LayerTable> layers, int history)
    : client_(client),
      options_(std::move(options)),
      layers_(std::move(layers)),
      history_(history) {}

int Prefetcher::rows_per_token(int layer) const {
  return layers_[layer].spec->rows_per_token();
}

absl::Status Prefetcher::CheckOutputs(const std::vector<absl::Span<char>>& out,
                                      uint64_t positions) const {
  if (out.size() != layers_.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        out.size(), " output buffers for ", layers_.size(), " layers"));
  }
  for (size_t l = 0; l < layers_.size(); ++l) {
    const uint64_t needed =
        positions * rows_per_token(l) * layers_[l].format.row_bytes;
    if (out[l].size() < needed) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the buffer of layer ", l, " ('", layers_[l].name, "') holds ",
          out[l].size(), " bytes; ", needed, " needed"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<int64_t>> Prefetcher::HashedTokens(
    absl::Span<const int64_t> tokens) const {
  std::vector<int64_t> hashed(tokens.begin(), tokens.end());
  if (options_.compression != nullptr) {
    ENGRAM_RETURN_IF_ERROR(
        options_.compression->CompressInPlace(absl::MakeSpan(hashed)));
  }
  return hashed;
}

absl::StatusOr<std::unique_ptr<PrefetchStep>> Prefetcher::Prefill(
    absl::Span<const int64_t> raw_tokens, int batch, int time,
    absl::Span<const int32_t> lengths, std::vector<absl::Span<char>> out,
    absl::string_view request_id) {
  ENGRAM_RETURN_IF_ERROR(CheckOptionalRequestId(request_id));
  ENGRAM_RETURN_IF_ERROR(CheckOutputs(out, uint64_t(batch) * time));
  ENGRAM_ASSIGN_OR_RETURN(const std::vector<int64_t> tokens,
                          HashedTokens(raw_tokens));
  std::vector<std::vector<int64_t>> row_ids(layers_.size());
  for (size_t l = 0; l < layers_.size(); ++l) {
    row_ids[l].resize(size_t(batch) * time * rows_per_token(l));
    ENGRAM_RETURN_IF_ERROR(ComputeRowIds(*layers_[l].spec, 0, tokens, batch,
                                         time, lengths,
                                         absl::MakeSpan(row_ids[l])));
  }
  // Each sequence's last real tokens become its decode history.
  history_tokens_.assign(size_t(batch) * history_, 0);
  history_lengths_.assign(batch, 0);
  for (int b = 0; b < batch; ++b) {
    const int real = lengths.empty() ? time : lengths[b];
    const int kept = std::min(real, history_);
    for (int k = 0; k < kept; ++k) {
      history_tokens_[size_t(b) * history_ + history_ - kept + k] =
          tokens[size_t(b) * time + time - kept + k];
    }
    history_lengths_[b] = kept;
  }
  return Fetch(std::move(row_ids), std::move(out), request_id);
}

absl::StatusOr<std::unique_ptr<PrefetchStep>> Prefetcher::Decode(
    absl::Span<const int64_t> raw_new_tokens, std::vector<absl::Span<char>> out,
    absl::string_view request_id) {
  ENGRAM_RETURN_IF_ERROR(CheckOptionalRequestId(request_id));
  const int batch = static_cast<int>(raw_new_tokens.size());
  if (history_lengths_.empty()) {
    history_tokens_.assign(size_t(batch) * history_, 0);
    history_lengths_.assign(batch, 0);
  }
  if (static_cast<int>(history_lengths_.size()) != batch) {
    return absl::InvalidArgumentError(
        absl::StrCat("a decode step of ", batch, " tokens for ",
                     history_lengths_.size(), " sequences"));
  }
  ENGRAM_RETURN_IF_ERROR(CheckOutputs(out, batch));
  ENGRAM_ASSIGN_OR_RETURN(const std::vector<int64_t> new_tokens,
                          HashedTokens(raw_new_tokens));
  const int window = history_ + 1;
  std::vector<int64_t> windows(size_t(batch) * window);
  std::vector<int32_t> window_lengths(batch);
  for (int b = 0; b < batch; ++b) {
    std::copy_n(history_tokens_.begin() + size_t(b) * history_, history_,
                windows.begin() + size_t(b) * window);
    windows[size_t(b) * window + history_] = new_tokens[b];
    window_lengths[b] = history_lengths_[b] + 1;
  }
  std::vector<std::vector<int64_t>> row_ids(layers_.size());
  for (size_t l = 0; l < layers_.size(); ++l) {
    row_ids[l].resize(size_t(batch) * rows_per_token(l));
    ENGRAM_RETURN_IF_ERROR(ComputeDecodeRowIds(*layers_[l].spec, 0, windows,
                                               batch, window_lengths,
                                               absl::MakeSpan(row_ids[l])));
  }
  for (int b = 0; b < batch; ++b) {
    int64_t* kept = history_tokens_.data() + size_t(b) * history_;
    std::copy(windows.begin() + size_t(b) * window + 1,
              windows.begin() + size_t(b) * window + window, kept);
    history_lengths_[b] = std::min(history_lengths_[b] + 1, history_);
  }
  return Fetch(std::move(row_ids), std::move(out), request_id);
}

std::unique_ptr<PrefetchStep> Prefetcher::Fetch(
    std::vector<std::vector<int64_t>> row_ids,
    std::vector<absl::Span<char>> out, absl::string_view request_id) {
  LookupOptions lookup = options_.lookup;
  if (!request_id.empty()) lookup.request_id = std::string(request_id);
  std::unique_ptr<PrefetchStep> step(new PrefetchStep());
  for (size_t l = 0; l < layers_.size(); ++l) {
    auto layer = std::make_shared<PrefetchStep::Layer>();
    layer->format = layers_[l].format;
    layer->out = out[l];
    const std::vector<int64_t>& wanted = row_ids[l];
    absl::flat_hash_map<uint64_t, uint32_t> index;
    index.reserve(wanted.size());
    layer->slot.reserve(wanted.size());
    for (int64_t id : wanted) {
      const auto [it, inserted] =
          index.try_emplace(static_cast<uint64_t>(id),
                            static_cast<uint32_t>(layer->distinct.size()));
      if (inserted) layer->distinct.push_back(static_cast<uint64_t>(id));
      layer->slot.push_back(it->second);
    }
    absl::Span<char> destination = out[l];
    if (layer->distinct.size() == wanted.size()) {
      layer->slot.clear();
    } else {
      layer->fetched = std::make_unique_for_overwrite<char[]>(
          layer->distinct.size() * layer->format.row_bytes);
      destination =
          absl::MakeSpan(layer->fetched.get(),
                         layer->distinct.size() * layer->format.row_bytes);
    }
    step->rows_wanted_ += wanted.size();
    step->rows_fetched_ += layer->distinct.size();
    step->layers_.push_back(layer);
    lookup.hash_spec_digest = layers_[l].hash_spec_digest;
    client_->LookupAsync(
        layers_[l].name, layer->distinct, destination, lookup,
        [layer, table = layers_[l].name](absl::StatusOr<LookupResult> result) {
          layer->status = result.ok()
                              ? CheckRowFormat(table, *result, layer->format)
                              : result.status();
          if (layer->status.ok() && !layer->slot.empty()) {
            const uint32_t bytes = layer->format.row_bytes;
            for (size_t i = 0; i < layer->slot.size(); ++i) {
              std::memcpy(
                  layer->out.data() + i * bytes,
                  layer->fetched.get() + uint64_t{layer->slot[i]} * bytes,
                  bytes);
            }
          }
          layer->done.Notify();
        });
  }
  return step;
}

}  // namespace engram::client

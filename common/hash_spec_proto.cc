#include "common/hash_spec_proto.h"

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/addressing/sha256.h"
#include "common/status_context.h"

namespace engram {

std::string CompressionDigest(const CompressionMap* map) {
  return map == nullptr ? "" : internal::Sha256::ToHex(map->content_digest());
}

v1::HashSpec HashSpecLayerToProto(const HashSpec& spec, int layer_index) {
  const HashSpecConfig& config = spec.config();
  v1::HashSpec proto;
  proto.set_seed(config.seed);
  proto.set_layer_id(spec.layer_id(layer_index));
  proto.set_max_ngram(spec.max_ngram());
  proto.set_heads_per_ngram(spec.heads_per_ngram());
  proto.set_pad_id(spec.pad_id());
  proto.set_tokenizer_vocab(spec.tokenizer_vocab());
  for (int64_t size : config.vocab_sizes) proto.add_vocab_sizes(size);
  for (int64_t m : spec.multipliers(layer_index)) proto.add_multipliers(m);
  for (int64_t size : spec.head_sizes(layer_index)) proto.add_head_sizes(size);
  proto.set_digest(spec.Digest());
  proto.set_n_embed_per_ngram(spec.n_embed_per_ngram());
  proto.set_compression_digest(CompressionDigest(spec.compression()));
  return proto;
}

absl::StatusOr<HashSpec> HashSpecLayerFromProto(const v1::HashSpec& proto) {
  HashSpecConfig config;
  config.seed = proto.seed();
  config.layer_ids = {proto.layer_id()};
  config.max_ngram = proto.max_ngram();
  config.vocab_sizes.assign(proto.vocab_sizes().begin(),
                            proto.vocab_sizes().end());
  config.heads_per_ngram = proto.heads_per_ngram();
  config.n_embed_per_ngram = proto.n_embed_per_ngram();
  config.pad_id = proto.pad_id();
  config.tokenizer_vocab = proto.tokenizer_vocab();
  return HashSpec::FromManifest(
      config, {{proto.multipliers().begin(), proto.multipliers().end()}},
      {{proto.head_sizes().begin(), proto.head_sizes().end()}});
}

absl::StatusOr<std::optional<HashSpec>> TableHashSpec(
    const v1::TableInfo& info) {
  if (!info.has_hash_spec()) return std::nullopt;
  absl::StatusOr<HashSpec> spec = HashSpecLayerFromProto(info.hash_spec());
  if (!spec.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("table '", info.name(),
                     "' has a bad hash spec: ", spec.status().message()));
  }
  // A shard is addressed as the whole table is.
  const uint64_t rows =
      info.total_rows() != 0 ? info.total_rows() : info.rows();
  if (static_cast<uint64_t>(spec->rows_in_layer(0)) != rows) {
    return absl::InvalidArgumentError(absl::StrCat(
        "table '", info.name(), "' has ", rows,
        " rows but its hash spec addresses ", spec->rows_in_layer(0)));
  }
  // Opaque rows (e.g. FP8 with scales) have no values to count.
  if (info.element_type() != v1::ELEMENT_TYPE_OPAQUE) {
    uint64_t values = 1;
    for (const uint32_t dim : info.dims()) values *= dim;
    if (values != static_cast<uint64_t>(spec->head_dim())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "table '", info.name(), "' has ", values,
          " values per row but its hash spec's rows hold ", spec->head_dim(),
          " (n_embed_per_ngram ", spec->n_embed_per_ngram(), " / ",
          spec->heads_per_ngram(), " heads)"));
    }
  }
  return spec;
}

absl::StatusOr<std::shared_ptr<const CompressionMap>> TableCompressionMap(
    const v1::TableInfo& info, absl::string_view lookup) {
  const std::string& expected = info.hash_spec().compression_digest();
  if (expected.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("table '", info.name(),
                     "' hashes raw token ids, so it takes no compression map"));
  }
  absl::StatusOr<std::unique_ptr<CompressionMap>> map =
      CompressionMap::FromLittleEndian(
          lookup, {.compressed_vocab = info.hash_spec().tokenizer_vocab()});
  if (!map.ok()) {
    return Annotate(map.status(), absl::StrCat("table '", info.name(), "': "));
  }
  if (const std::string digest = CompressionDigest(map->get());
      digest != expected) {
    return absl::InvalidArgumentError(absl::StrCat(
        "table '", info.name(), "' hashes token ids compressed by map ",
        expected, "; the compression lookup given is map ", digest));
  }
  return std::shared_ptr<const CompressionMap>(*std::move(map));
}

absl::StatusOr<std::shared_ptr<const CompressionMap>> CompressionMapFromReply(
    absl::string_view table, const v1::CompressionLookup& reply) {
  absl::StatusOr<std::unique_ptr<CompressionMap>> map =
      CompressionMap::FromLittleEndian(
          reply.lookup(), {.compressed_vocab = reply.compressed_vocab()});
  if (!map.ok() || CompressionDigest(map->get()) != reply.digest()) {
    return absl::DataLossError(absl::StrCat(
        "the compression map of table '", table, "' came back damaged",
        map.ok()
            ? absl::StrCat(": it hashes to ", CompressionDigest(map->get()),
                           ", not ", reply.digest())
            : absl::StrCat(": ", map.status().message())));
  }
  return std::shared_ptr<const CompressionMap>(*std::move(map));
}

}  // namespace engram

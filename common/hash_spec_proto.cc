#include "common/hash_spec_proto.h"

namespace engram {

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

}  // namespace engram

// The Engram configuration engramctl's hash flags describe, shared by the
// commands that address tokens (addresses) and that attach a layer's
// addressing to a table (import --hash-layer):
//
//   --seed 0 --layer-ids 1,15 --vocab-sizes 646400,646400 --max-ngram 3
//   --heads 8 --pad-id 2 --tokenizer-vocab 129280 [--compression FILE.npy]
//   [--n-embed-per-ngram N]
//
// The defaults are the reference's demo configuration (engram_demo_v1.py).
#ifndef ENGRAM_CLI_HASH_SPEC_FLAGS_H_
#define ENGRAM_CLI_HASH_SPEC_FLAGS_H_

#include "absl/status/statusor.h"
#include "common/addressing/hash_spec.h"

namespace engram::cli {

// The flags' configuration; n_embed_per_ngram is --n-embed-per-ngram, 0
// when not given. InvalidArgument for unparsable lists; the compression
// map's errors.
absl::StatusOr<HashSpecConfig> HashSpecConfigFromFlags();

}  // namespace engram::cli

#endif  // ENGRAM_CLI_HASH_SPEC_FLAGS_H_

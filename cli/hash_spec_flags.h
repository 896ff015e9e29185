// The Engram configuration engramctl's hash flags describe, shared by the
// commands that address tokens (addresses) and that attach a layer's
// addressing to a table (import --hash-layer):
//
//   --seed 0 --layer-ids 1,15 --vocab-sizes 646400,646400 --max-ngram 3
//   --heads 8 --pad-id 2 --tokenizer-vocab 129280 [--compression FILE.npy]
//   [--n-embed-per-ngram N]
//
// or, in their place, the engram section of engram-worker's model config:
//
//   --model-config model.json
//
// or, for import, a table's spec as export wrote it:
//
//   --hash-spec SPEC.json [--compression MAP.npy]
//
// The defaults are the reference's demo configuration (engram_demo_v1.py).
#ifndef ENGRAM_CLI_HASH_SPEC_FLAGS_H_
#define ENGRAM_CLI_HASH_SPEC_FLAGS_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "cli/hash_spec_file.h"
#include "common/addressing/hash_spec.h"

namespace engram::cli {

// The flags' configuration; n_embed_per_ngram is --n-embed-per-ngram, 0
// when not given. With --model-config, the file's (LoadEngramConfig, its
// n_embed_per_ngram included). InvalidArgument for unparsable lists or an
// addressing flag given beside --model-config; the config file's and the
// compression map's errors.
absl::StatusOr<HashSpecConfig> HashSpecConfigFromFlags();

// The compression map file the flags name: --compression, or the
// --model-config's compression_map; empty for none. Errors as above.
absl::StatusOr<std::string> CompressionFileFromFlags();

// --hash-spec FILE.json [--compression MAP.npy]: the addressing `import`
// gives the table, as `export --hash-spec` wrote it (hash_spec_file.h);
// nullopt without --hash-spec. InvalidArgument for --model-config or a hash
// flag beside it, and LoadTableAddressing's errors.
absl::StatusOr<std::optional<TableAddressing>> TableAddressingFromFlags();

// Whether --compression or --model-config is given: flags that describe a
// table's addressing, meaningless to an import without --hash-layer or
// --hash-spec.
bool AddressingFlagsGiven();

}  // namespace engram::cli

#endif  // ENGRAM_CLI_HASH_SPEC_FLAGS_H_

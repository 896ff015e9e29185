// The Engram addressing in engram-worker's model config: the JSON file of
// engram.v1.ModelConfig (proto/engram/v1/model_config.proto) that
// `engram-worker --model-config` runs, read here so that engramctl can
// address and import tables from the very file the worker uses instead of
// repeating its values as flags.
//
//   ENGRAM_ASSIGN_OR_RETURN(HashSpecConfig config,
//                           LoadEngramConfig("model.json"));
//   ENGRAM_ASSIGN_OR_RETURN(HashSpec spec, HashSpec::FromConfig(config));
//
// Thread-safe (functions of their arguments and files).
#ifndef ENGRAM_COMMON_ENGRAM_MODEL_CONFIG_H_
#define ENGRAM_COMMON_ENGRAM_MODEL_CONFIG_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/addressing/hash_spec.h"
#include "engram/v1/model_config.pb.h"

namespace engram {

// The model config file `path`. NotFound "cannot read model config PATH"
// when it cannot be read; InvalidArgument naming the file and the problem
// for JSON that is not an engram.v1.ModelConfig (e.g. an unknown field).
absl::StatusOr<v1::ModelConfig> ReadModelConfigJson(const std::string& path);

// The file `engram`'s compression_map names (empty when none): as written
// when absolute, otherwise relative to the directory of the model config
// file `config_path`, so that a config and its map move together (a model
// directory, a mounted ConfigMap) whatever the working directory.
std::string CompressionMapPath(const std::string& config_path,
                               const v1::EngramModelConfig& engram);

// Copies the addressing fields `engram` (of model config file
// `config_path`) sets over `config` (conv_kernel is the model's, not the
// addressing's) and loads its compression_map (CompressionMapPath). The
// map's errors (NotFound, InvalidArgument).
absl::Status ApplyEngramModelConfig(const std::string& config_path,
                                    const v1::EngramModelConfig& engram,
                                    HashSpecConfig& config);

// The addressing of model config `path`: its engram fields over the demo
// model's (HashSpecConfig{}), exactly what engram-worker addresses with.
// The errors above, prefixed with the path.
absl::StatusOr<HashSpecConfig> LoadEngramConfig(const std::string& path);

}  // namespace engram

#endif  // ENGRAM_COMMON_ENGRAM_MODEL_CONFIG_H_

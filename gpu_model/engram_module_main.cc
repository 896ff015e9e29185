// engram-module-cpu: runs the worker's Engram module (EngramModule on the
// CPU backend, as engram-worker --device cpu does) over one prefill of
// given rows and weights, so that other implementations (the PyTorch
// example in python/examples/torch_engram.py) can be checked against the
// C++ path itself.
//
//   engram-module-cpu --dir DIR [--rows FILE --rows-dtype bf16]
//
// DIR is laid out as for tests/engram_module_reference.py (config.json and
// raw little-endian f32 weights, hidden.f32 and embeddings.f32). With
// --rows, the embeddings are the rows fetched for the batch instead
// ([batch][time][rows_per_token] rows of --rows-dtype, engram_dim values
// per token), decoded by the backend as the worker decodes the rows the
// prefetcher wrote. Writes DIR/cpu_output.f32: hidden + Engram(hidden, e),
// [batch][time][branches][hidden].
#include <cstdint>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/cli_flags.h"
#include "common/element_type.h"
#include "common/read_file.h"
#include "common/status_macros.h"
#include "common/write_file.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gpu_model/backend.h"
#include "gpu_model/cpu_backend.h"
#include "gpu_model/engram_module.h"

ABSL_FLAG(std::string, dir, "", "Directory of config.json and the inputs.");
ABSL_FLAG(std::string, rows, "",
          "Raw rows to decode into the embeddings; empty: embeddings.f32.");
ABSL_FLAG(std::string, rows_dtype, "bf16",
          "Element type of --rows: f32, bf16 or f16.");

namespace engram::gpu {
namespace {

absl::StatusOr<std::string> ReadBytes(const std::string& path,
                                      size_t expected) {
  ENGRAM_ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(path));
  if (bytes.size() != expected) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " holds ", bytes.size(), " bytes, not ", expected));
  }
  return bytes;
}

// A config.json value that must be a positive integer.
absl::StatusOr<int> IntField(const google::protobuf::Struct& config,
                             const std::string& key) {
  const auto it = config.fields().find(key);
  if (it == config.fields().end() || !it->second.has_number_value() ||
      it->second.number_value() <= 0 ||
      it->second.number_value() !=
          static_cast<int>(it->second.number_value())) {
    return absl::InvalidArgumentError(
        absl::StrCat("config.json: '", key, "' must be a positive integer"));
  }
  return static_cast<int>(it->second.number_value());
}

class Inputs {
 public:
  Inputs(Backend* backend, std::string dir)
      : backend_(backend), dir_(std::move(dir)) {}

  // `count` floats of file `name` in backend memory.
  absl::StatusOr<float*> Upload(const std::string& name, size_t count) {
    ENGRAM_ASSIGN_OR_RETURN(const std::string bytes,
                            ReadBytes(Path(name), count * sizeof(float)));
    ENGRAM_ASSIGN_OR_RETURN(float* device, backend_->Allocate(count));
    backend_->CopyToDevice(reinterpret_cast<const float*>(bytes.data()), count,
                           device);
    return device;
  }

  std::string Path(const std::string& name) const {
    return absl::StrCat(dir_, "/", name);
  }

 private:
  Backend* const backend_;
  const std::string dir_;
};

absl::Status Run() {
  const std::string dir = absl::GetFlag(FLAGS_dir);
  if (dir.empty()) return absl::InvalidArgumentError("--dir is required");
  ENGRAM_ASSIGN_OR_RETURN(const std::string text,
                          ReadFileToString(dir + "/config.json"));
  google::protobuf::Struct config;
  if (const auto parsed =
          google::protobuf::util::JsonStringToMessage(text, &config);
      !parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("config.json: ", parsed.ToString()));
  }
  EngramModuleShape shape;
  ENGRAM_ASSIGN_OR_RETURN(const int batch, IntField(config, "batch"));
  ENGRAM_ASSIGN_OR_RETURN(const int time, IntField(config, "time"));
  ENGRAM_ASSIGN_OR_RETURN(shape.hidden, IntField(config, "hidden"));
  ENGRAM_ASSIGN_OR_RETURN(shape.branches, IntField(config, "branches"));
  ENGRAM_ASSIGN_OR_RETURN(shape.engram_dim, IntField(config, "engram_dim"));
  ENGRAM_ASSIGN_OR_RETURN(shape.kernel, IntField(config, "kernel"));
  ENGRAM_ASSIGN_OR_RETURN(shape.dilation, IntField(config, "dilation"));
  // The epsilons stay the module's (the worker's): a config that names
  // others is not what the worker runs.
  for (const auto& [key, value] :
       {std::pair<std::string, float>{"gate_norm_eps", shape.gate_norm_eps},
        {"conv_norm_eps", shape.conv_norm_eps}}) {
    const auto it = config.fields().find(key);
    if (it != config.fields().end() &&
        static_cast<float>(it->second.number_value()) != value) {
      return absl::InvalidArgumentError(
          absl::StrCat("config.json: ", key, " must be the worker's, ", value));
    }
  }

  const std::unique_ptr<Backend> backend = CreateCpuBackend();
  Inputs inputs(backend.get(), dir);
  const size_t d = shape.hidden, g = shape.branches, e = shape.engram_dim;
  const size_t tokens = static_cast<size_t>(batch) * time;
  EngramModuleWeights weights;
  ENGRAM_ASSIGN_OR_RETURN(weights.value_proj_weight,
                          inputs.Upload("value_proj_weight.f32", d * e));
  ENGRAM_ASSIGN_OR_RETURN(weights.value_proj_bias,
                          inputs.Upload("value_proj_bias.f32", d));
  ENGRAM_ASSIGN_OR_RETURN(
      weights.conv_weight,
      inputs.Upload("conv_weight.f32", g * d * shape.kernel));
  // Per-branch tensors are stacked branch-major in one file each.
  const std::pair<std::vector<const float*> EngramModuleWeights::*, size_t>
      branch_tensors[] = {{&EngramModuleWeights::key_proj_weight, d * e},
                          {&EngramModuleWeights::key_proj_bias, d},
                          {&EngramModuleWeights::key_norm, d},
                          {&EngramModuleWeights::query_norm, d},
                          {&EngramModuleWeights::conv_norm, d}};
  const char* const branch_files[] = {"key_proj_weight.f32",
                                      "key_proj_bias.f32", "key_norm.f32",
                                      "query_norm.f32", "conv_norm.f32"};
  for (size_t t = 0; t < std::size(branch_tensors); ++t) {
    const auto [field, per_branch] = branch_tensors[t];
    ENGRAM_ASSIGN_OR_RETURN(const float* all,
                            inputs.Upload(branch_files[t], g * per_branch));
    for (size_t c = 0; c < g; ++c) {
      (weights.*field).push_back(all + c * per_branch);
    }
  }

  float* embeddings = nullptr;
  std::string rows;  // Host rows decoded below; must outlive the decode.
  if (const std::string rows_path = absl::GetFlag(FLAGS_rows);
      rows_path.empty()) {
    ENGRAM_ASSIGN_OR_RETURN(embeddings,
                            inputs.Upload("embeddings.f32", tokens * e));
  } else {
    ENGRAM_ASSIGN_OR_RETURN(const ElementType type,
                            ParseElementType(absl::GetFlag(FLAGS_rows_dtype)));
    ENGRAM_ASSIGN_OR_RETURN(
        rows, ReadBytes(rows_path, tokens * e * ElementBytes(type)));
    ENGRAM_ASSIGN_OR_RETURN(embeddings, backend->Allocate(tokens * e));
    backend->RowsToFloat(rows.data(), tokens * e, type, embeddings);
  }
  ENGRAM_ASSIGN_OR_RETURN(float* hidden,
                          inputs.Upload("hidden.f32", tokens * g * d));

  ENGRAM_ASSIGN_OR_RETURN(
      std::unique_ptr<EngramModule> module,
      EngramModule::Create(backend.get(), shape, std::move(weights), batch,
                           static_cast<int>(tokens)));
  module->ResetHistory();
  module->Forward(embeddings, batch, time, hidden);
  std::vector<float> result(tokens * g * d);
  ENGRAM_RETURN_IF_ERROR(
      backend->CopyToHost(hidden, result.size(), result.data()));
  const std::string out_path = inputs.Path("cpu_output.f32");
  return WriteFloatsToFile(out_path, result);
}

}  // namespace
}  // namespace engram::gpu

int main(int argc, char** argv) {
  const std::vector<std::string> args = engram::ParseCommandLine(
      argc, argv,
      "usage: engram-module-cpu --dir DIR [--rows FILE --rows-dtype bf16]",
      /*config_flag=*/false);
  if (!args.empty()) {
    std::cerr << "engram-module-cpu: unexpected argument " << args[0] << "\n";
    return 2;
  }
  if (const absl::Status status = engram::gpu::Run(); !status.ok()) {
    std::cerr << "engram-module-cpu: " << status << "\n";
    return 1;
  }
  return 0;
}

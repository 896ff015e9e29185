#include "gpu_model/model_weights.h"

#include <cmath>
#include <cstdint>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/json_writer.h"
#include "common/logging.h"
#include "common/read_file.h"
#include "common/safetensors_header.h"
#include "common/split_mix64.h"
#include "common/status_macros.h"

namespace engram::gpu {
namespace {

// FNV-1a: a tensor's random stream depends on its name, not on the order
// or number of tensors.
uint64_t NameHash(const std::string& name) {
  uint64_t hash = 0xcbf29ce484222325ull;
  for (const char c : name)
    hash = (hash ^ static_cast<uint8_t>(c)) * 0x100000001b3ull;
  return hash;
}

uint64_t Elements(const std::vector<uint64_t>& shape) {
  uint64_t count = 1;
  for (const uint64_t dim : shape) count *= dim;
  return count;
}

// Fills `values` for tensor `name`: norms 1; biases small; everything else
// uniform with standard deviation `scale` (sqrt(3) * scale is the bound).
void FillRandom(const std::string& name, const std::vector<uint64_t>& shape,
                uint64_t seed, std::vector<float>& values) {
  const bool is_norm = name.find("norm") != std::string::npos &&
                       name.find("proj") == std::string::npos;
  if (is_norm) {
    values.assign(values.size(), 1.0f);
    return;
  }
  float scale = 1.0f;
  if (absl::EndsWith(name, ".bias")) {
    scale = 0.02f;
  } else if (name.find("conv.weight") != std::string::npos) {
    scale = 0.5f;
  } else if (name != "embed_tokens.weight" && shape.size() == 2) {
    scale = 1.0f / std::sqrt(static_cast<float>(shape[1]));
  }
  const float bound = std::sqrt(3.0f) * scale;
  const uint64_t stream = SplitMix64(seed ^ NameHash(name));
  for (size_t i = 0; i < values.size(); ++i) {
    const uint64_t random = SplitMix64(stream + i);
    const float unit = static_cast<float>(random >> 40) * (1.0f / (1 << 24));
    values[i] = (2.0f * unit - 1.0f) * bound;
  }
}

absl::StatusOr<ModelWeights::Tensor> ReadTensor(
    const std::string& file, const internal::SafetensorsHeader& header,
    const std::string& name, const std::vector<uint64_t>& shape) {
  ENGRAM_ASSIGN_OR_RETURN(const internal::SafetensorsEntry entry,
                          internal::FindTensor(header, name));
  if (entry.shape != shape) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tensor '", name, "' has shape [", absl::StrJoin(entry.shape, ", "),
        "]; the model config needs [", absl::StrJoin(shape, ", "), "]"));
  }
  const internal::SafetensorsDtype* dtype =
      internal::FindSafetensorsDtype(entry.dtype);
  if (dtype == nullptr || !dtype->type.has_value() ||
      (*dtype->type != ElementType::kF32 &&
       *dtype->type != ElementType::kBf16 &&
       *dtype->type != ElementType::kF16)) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor '", name, "' has dtype ", entry.dtype,
                     "; weights must be F32, BF16 or F16"));
  }
  const uint64_t count = Elements(shape);
  ENGRAM_ASSIGN_OR_RETURN(
      const uint64_t offset,
      internal::TensorDataOffset(header, entry, count * dtype->item_size,
                                 file.size()));
  ModelWeights::Tensor tensor;
  tensor.shape = shape;
  tensor.values.resize(count);
  for (uint64_t i = 0; i < count; ++i) {
    tensor.values[i] = DecodeElement(
        *dtype->type, file.data() + offset + i * dtype->item_size);
  }
  return tensor;
}

}  // namespace

std::vector<std::pair<std::string, std::vector<uint64_t>>> ExpectedTensors(
    const ModelConfig& config) {
  const uint64_t d = config.hidden;
  const uint64_t a = static_cast<uint64_t>(config.heads) * config.head_dim;
  const uint64_t f = config.ffn_hidden;
  const uint64_t e = config.engram_dim();
  const uint64_t v = config.vocab_size;
  std::vector<std::pair<std::string, std::vector<uint64_t>>> tensors = {
      {"embed_tokens.weight", {v, d}},
      {"norm.weight", {d}},
      {"lm_head.weight", {v, d}},
  };
  for (int i = 0; i < config.layers; ++i) {
    const std::string layer = absl::StrCat("layers.", i, ".");
    tensors.push_back({layer + "attn_norm.weight", {d}});
    tensors.push_back({layer + "attn.q_proj.weight", {a, d}});
    tensors.push_back({layer + "attn.k_proj.weight", {a, d}});
    tensors.push_back({layer + "attn.v_proj.weight", {a, d}});
    tensors.push_back({layer + "attn.o_proj.weight", {d, a}});
    tensors.push_back({layer + "mlp_norm.weight", {d}});
    tensors.push_back({layer + "mlp.gate_proj.weight", {f, d}});
    tensors.push_back({layer + "mlp.up_proj.weight", {f, d}});
    tensors.push_back({layer + "mlp.down_proj.weight", {d, f}});
    bool has_engram = false;
    for (const int64_t id : config.engram.layer_ids) has_engram |= id == i;
    if (!has_engram) continue;
    const std::string engram = layer + "engram.";
    tensors.push_back({engram + "value_proj.weight", {d, e}});
    tensors.push_back({engram + "value_proj.bias", {d}});
    for (int c = 0; c < config.hc_mult; ++c) {
      tensors.push_back(
          {absl::StrCat(engram, "key_projs.", c, ".weight"), {d, e}});
      tensors.push_back({absl::StrCat(engram, "key_projs.", c, ".bias"), {d}});
      tensors.push_back({absl::StrCat(engram, "norm1.", c, ".weight"), {d}});
      tensors.push_back({absl::StrCat(engram, "norm2.", c, ".weight"), {d}});
      tensors.push_back(
          {absl::StrCat(engram, "short_conv.norms.", c, ".weight"), {d}});
    }
    tensors.push_back(
        {engram + "short_conv.conv.weight",
         {d * config.hc_mult, 1, static_cast<uint64_t>(config.conv_kernel)}});
  }
  return tensors;
}

ModelWeights ModelWeights::Random(const ModelConfig& config, uint64_t seed) {
  ModelWeights weights;
  for (auto& [name, shape] : ExpectedTensors(config)) {
    Tensor tensor;
    tensor.values.resize(Elements(shape));
    FillRandom(name, shape, seed, tensor.values);
    tensor.shape = std::move(shape);
    weights.order_.push_back(name);
    weights.tensors_.emplace(name, std::move(tensor));
  }
  return weights;
}

absl::StatusOr<ModelWeights> ModelWeights::Load(const std::string& path,
                                                const ModelConfig& config) {
  ENGRAM_ASSIGN_OR_RETURN(const std::string file, ReadFileToString(path));
  absl::StatusOr<internal::SafetensorsHeader> header =
      internal::ParseSafetensorsHeader(file);
  if (!header.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", header.status().message()));
  }
  ModelWeights weights;
  for (auto& [name, shape] : ExpectedTensors(config)) {
    absl::StatusOr<Tensor> tensor = ReadTensor(file, *header, name, shape);
    if (!tensor.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": ", tensor.status().message()));
    }
    weights.order_.push_back(name);
    weights.tensors_.emplace(name, *std::move(tensor));
  }
  return weights;
}

absl::Status ModelWeights::Save(const std::string& path) const {
  JsonWriter json;
  json.BeginObject();
  uint64_t offset = 0;
  for (const std::string& name : order_) {
    const Tensor& tensor = tensors_.at(name);
    const uint64_t bytes = tensor.values.size() * sizeof(float);
    json.Key(name).BeginObject();
    json.Key("dtype").String("F32");
    json.Key("shape").BeginArray();
    for (const uint64_t dim : tensor.shape) json.Uint(dim);
    json.EndArray();
    json.Key("data_offsets").BeginArray().Uint(offset).Uint(offset + bytes);
    json.EndArray().EndObject();
    offset += bytes;
  }
  json.EndObject();
  std::string header = json.str();
  // The format pads the header with spaces to a multiple of 8 bytes.
  header.append((8 - header.size() % 8) % 8, ' ');
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  uint64_t header_size = header.size();
  char size_bytes[8];
  for (int i = 0; i < 8; ++i)
    size_bytes[i] = static_cast<char>(header_size >> (8 * i));
  file.write(size_bytes, 8);
  file.write(header.data(), header.size());
  for (const std::string& name : order_) {
    const std::vector<float>& values = tensors_.at(name).values;
    file.write(reinterpret_cast<const char*>(values.data()),
               values.size() * sizeof(float));
  }
  file.close();
  if (!file) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

const ModelWeights::Tensor& ModelWeights::Get(const std::string& name) const {
  const auto it = tensors_.find(name);
  if (it == tensors_.end()) LOG(FATAL) << "no weight tensor " << name;
  return it->second;
}

}  // namespace engram::gpu

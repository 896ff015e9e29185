#include "gpu_model/engram_module.h"

#include <stdlib.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <limits>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "gpu_model/backend.h"
#include "gpu_model/cpu_backend.h"
#include "gtest/gtest.h"

namespace engram::gpu {
namespace {

// The reference script reads raw little-endian floats; the test writes the
// host's bytes as they are.
static_assert(std::endian::native == std::endian::little);

constexpr int kBatch = 2;
constexpr int kTime = 13;
constexpr int kHidden = 32;
constexpr int kEngramDim = 48;
// fp32 against the script's float64, relative to the largest expected
// magnitude of the tensor (so near-zero elements do not dominate).
constexpr double kTolerance = 1e-5;

// Chunkings of the kTime tokens into Forward calls.
const std::vector<int> kPrefill = {kTime};
// A prefill of 5 then single-token decode steps: the steps' conv reads
// reach back (kernel-1)*dilation = 9 tokens, into earlier calls.
const std::vector<int> kPrefillThenDecode = {5, 1, 1, 1, 1, 1, 1, 1, 1};

EngramModuleShape TestShape(int branches) {
  EngramModuleShape shape;
  shape.hidden = kHidden;
  shape.branches = branches;
  shape.engram_dim = kEngramDim;
  shape.kernel = 4;
  shape.dilation = 3;
  return shape;
}

std::vector<float> Uniform(std::mt19937& rng, size_t count, float low,
                           float high) {
  std::uniform_real_distribution<float> dist(low, high);
  std::vector<float> values(count);
  for (float& v : values) v = dist(rng);
  return values;
}

// Copies `host` to new backend memory.
absl::StatusOr<float*> Upload(Backend& backend,
                              const std::vector<float>& host) {
  ENGRAM_ASSIGN_OR_RETURN(float* device, backend.Allocate(host.size()));
  backend.CopyToDevice(host.data(), host.size(), device);
  return device;
}

// A module's random weights: the host copies (per-branch tensors stacked
// branch-major, the layout the reference script reads) and the uploaded
// pointers the module takes.
struct RandomWeights {
  std::vector<float> value_proj_weight;  // [hidden][engram_dim]
  std::vector<float> value_proj_bias;    // [hidden]
  std::vector<float> key_proj_weight;    // [branches][hidden][engram_dim]
  std::vector<float> key_proj_bias;      // [branches][hidden]
  std::vector<float> key_norm;           // [branches][hidden]
  std::vector<float> query_norm;         // [branches][hidden]
  std::vector<float> conv_norm;          // [branches][hidden]
  std::vector<float> conv_weight;        // [branches * hidden][kernel]
  EngramModuleWeights device;
};

// Scales keep the gates away from saturation: linear layers like PyTorch's
// init (so key and value entries are O(1)), norms near 1, so that
// sigmoid(sign(g) sqrt|g|) spreads over (0.2, 0.8) and a wrong gate shows.
absl::StatusOr<RandomWeights> MakeRandomWeights(Backend& backend,
                                                const EngramModuleShape& shape,
                                                uint32_t seed) {
  std::mt19937 rng(seed);
  const size_t d = shape.hidden;
  const size_t e = shape.engram_dim;
  const size_t g = shape.branches;
  const float bound = 1.0f / std::sqrt(static_cast<float>(e));
  RandomWeights w;
  w.value_proj_weight = Uniform(rng, d * e, -bound, bound);
  w.value_proj_bias = Uniform(rng, d, -bound, bound);
  w.key_proj_weight = Uniform(rng, g * d * e, -bound, bound);
  w.key_proj_bias = Uniform(rng, g * d, -bound, bound);
  w.key_norm = Uniform(rng, g * d, 0.9f, 1.1f);
  w.query_norm = Uniform(rng, g * d, 0.9f, 1.1f);
  w.conv_norm = Uniform(rng, g * d, 0.9f, 1.1f);
  w.conv_weight = Uniform(rng, g * d * shape.kernel, -0.5f, 0.5f);

  ENGRAM_ASSIGN_OR_RETURN(w.device.value_proj_weight,
                          Upload(backend, w.value_proj_weight));
  ENGRAM_ASSIGN_OR_RETURN(w.device.value_proj_bias,
                          Upload(backend, w.value_proj_bias));
  ENGRAM_ASSIGN_OR_RETURN(w.device.conv_weight, Upload(backend, w.conv_weight));
  ENGRAM_ASSIGN_OR_RETURN(const float* key_proj_weight,
                          Upload(backend, w.key_proj_weight));
  ENGRAM_ASSIGN_OR_RETURN(const float* key_proj_bias,
                          Upload(backend, w.key_proj_bias));
  ENGRAM_ASSIGN_OR_RETURN(const float* key_norm, Upload(backend, w.key_norm));
  ENGRAM_ASSIGN_OR_RETURN(const float* query_norm,
                          Upload(backend, w.query_norm));
  ENGRAM_ASSIGN_OR_RETURN(const float* conv_norm, Upload(backend, w.conv_norm));
  for (size_t c = 0; c < g; ++c) {
    w.device.key_proj_weight.push_back(key_proj_weight + c * d * e);
    w.device.key_proj_bias.push_back(key_proj_bias + c * d);
    w.device.key_norm.push_back(key_norm + c * d);
    w.device.query_norm.push_back(query_norm + c * d);
    w.device.conv_norm.push_back(conv_norm + c * d);
  }
  return w;
}

// A whole sequence batch: embeddings [batch][time][engram_dim] and the
// hidden state before the block, [batch][time][branches][hidden].
struct Inputs {
  std::vector<float> embeddings;
  std::vector<float> hidden;
};

Inputs MakeInputs(const EngramModuleShape& shape, uint32_t seed) {
  std::mt19937 rng(seed);
  const size_t tokens = static_cast<size_t>(kBatch) * kTime;
  return {Uniform(rng, tokens * shape.engram_dim, -1.0f, 1.0f),
          Uniform(rng, tokens * shape.branches * shape.hidden, -1.0f, 1.0f)};
}

// Feeds `inputs` to `module` in Forward calls of `chunks` tokens each (per
// sequence; they add up to kTime) and returns the new hidden state of all
// kTime tokens, [batch][time][branches][hidden]. Each call gets the
// original hidden state of its tokens, as in one whole-sequence prefill.
absl::StatusOr<std::vector<float>> RunModule(Backend& backend,
                                             EngramModule& module,
                                             const Inputs& inputs,
                                             const std::vector<int>& chunks) {
  const size_t e = module.shape().engram_dim;
  const size_t c = module.shape().branches * module.shape().hidden;
  const size_t tokens = static_cast<size_t>(kBatch) * kTime;
  ENGRAM_ASSIGN_OR_RETURN(float* embeddings, backend.Allocate(tokens * e));
  ENGRAM_ASSIGN_OR_RETURN(float* hidden, backend.Allocate(tokens * c));
  std::vector<float> result(tokens * c);
  std::vector<float> chunk_embeddings;
  std::vector<float> chunk_hidden;
  int start = 0;
  for (const int time : chunks) {
    chunk_embeddings.clear();
    chunk_hidden.clear();
    for (size_t b = 0; b < static_cast<size_t>(kBatch); ++b) {
      const size_t first = b * kTime + start;
      chunk_embeddings.insert(chunk_embeddings.end(),
                              inputs.embeddings.begin() + first * e,
                              inputs.embeddings.begin() + (first + time) * e);
      chunk_hidden.insert(chunk_hidden.end(), inputs.hidden.begin() + first * c,
                          inputs.hidden.begin() + (first + time) * c);
    }
    backend.CopyToDevice(chunk_embeddings.data(), chunk_embeddings.size(),
                         embeddings);
    backend.CopyToDevice(chunk_hidden.data(), chunk_hidden.size(), hidden);
    module.Forward(embeddings, kBatch, time, hidden);
    ENGRAM_RETURN_IF_ERROR(
        backend.CopyToHost(hidden, chunk_hidden.size(), chunk_hidden.data()));
    for (size_t b = 0; b < static_cast<size_t>(kBatch); ++b) {
      std::copy(chunk_hidden.begin() + b * time * c,
                chunk_hidden.begin() + (b + 1) * time * c,
                result.begin() + (b * kTime + start) * c);
    }
    start += time;
  }
  if (start != kTime) {
    return absl::InvalidArgumentError(
        absl::StrCat("chunks cover ", start, " tokens, not ", kTime));
  }
  return result;
}

// A fresh directory under ::testing::TempDir(), removed with its contents
// on destruction (ctest may run test binaries in parallel, so the name is
// made unique by mkdtemp).
class ScratchDir {
 public:
  static absl::StatusOr<ScratchDir> Create() {
    std::string path = ::testing::TempDir() + "engram_module_test_XXXXXX";
    if (mkdtemp(path.data()) == nullptr) {
      return absl::InternalError(absl::StrCat("mkdtemp(", path, ") failed"));
    }
    return ScratchDir(std::move(path));
  }
  ScratchDir(ScratchDir&& other) : path_(std::move(other.path_)) {
    other.path_.clear();
  }
  ScratchDir& operator=(ScratchDir&&) = delete;
  ~ScratchDir() {
    std::error_code ignored;
    if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  explicit ScratchDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

absl::Status WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  file.close();
  if (!file) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

absl::Status WriteFloats(const std::string& path,
                         const std::vector<float>& values) {
  return WriteFile(path,
                   std::string(reinterpret_cast<const char*>(values.data()),
                               values.size() * sizeof(float)));
}

absl::StatusOr<std::vector<float>> ReadFloats(const std::string& path,
                                              size_t count) {
  std::ifstream file(path, std::ios::binary);
  std::vector<float> values(count);
  file.read(reinterpret_cast<char*>(values.data()),
            static_cast<std::streamsize>(count * sizeof(float)));
  if (!file || file.peek() != std::ifstream::traits_type::eof()) {
    return absl::InternalError(
        absl::StrCat(path, " does not hold exactly ", count, " floats"));
  }
  return values;
}

// Full precision, so the script's epsilons are the module's floats.
std::string FloatText(float value) {
  std::ostringstream text;
  text << std::setprecision(std::numeric_limits<float>::max_digits10) << value;
  return text.str();
}

// What tests/engram_module_reference.py (numpy, float64, written from
// DeepSeek's engram_demo_v1.py) computes for the whole sequence at once:
// the new hidden state, [batch][time][branches][hidden].
absl::StatusOr<std::vector<float>> ReferenceOutput(
    const EngramModuleShape& shape, const RandomWeights& w,
    const Inputs& inputs) {
  ENGRAM_ASSIGN_OR_RETURN(ScratchDir dir, ScratchDir::Create());
  const std::string config = absl::StrCat(
      "{\"batch\": ", kBatch, ", \"time\": ", kTime,
      ", \"hidden\": ", shape.hidden, ", \"branches\": ", shape.branches,
      ", \"engram_dim\": ", shape.engram_dim, ", \"kernel\": ", shape.kernel,
      ", \"dilation\": ", shape.dilation,
      ", \"gate_norm_eps\": ", FloatText(shape.gate_norm_eps),
      ", \"conv_norm_eps\": ", FloatText(shape.conv_norm_eps), "}\n");
  const std::string& d = dir.path();
  ENGRAM_RETURN_IF_ERROR(WriteFile(d + "/config.json", config));
  ENGRAM_RETURN_IF_ERROR(WriteFloats(d + "/embeddings.f32", inputs.embeddings));
  ENGRAM_RETURN_IF_ERROR(WriteFloats(d + "/hidden.f32", inputs.hidden));
  ENGRAM_RETURN_IF_ERROR(
      WriteFloats(d + "/value_proj_weight.f32", w.value_proj_weight));
  ENGRAM_RETURN_IF_ERROR(
      WriteFloats(d + "/value_proj_bias.f32", w.value_proj_bias));
  ENGRAM_RETURN_IF_ERROR(
      WriteFloats(d + "/key_proj_weight.f32", w.key_proj_weight));
  ENGRAM_RETURN_IF_ERROR(
      WriteFloats(d + "/key_proj_bias.f32", w.key_proj_bias));
  ENGRAM_RETURN_IF_ERROR(WriteFloats(d + "/key_norm.f32", w.key_norm));
  ENGRAM_RETURN_IF_ERROR(WriteFloats(d + "/query_norm.f32", w.query_norm));
  ENGRAM_RETURN_IF_ERROR(WriteFloats(d + "/conv_norm.f32", w.conv_norm));
  ENGRAM_RETURN_IF_ERROR(WriteFloats(d + "/conv_weight.f32", w.conv_weight));

  const std::string command = absl::StrCat(
      ENGRAM_PYTHON3 " " ENGRAM_MODULE_REFERENCE_SCRIPT " --dir '", d, "'");
  if (const int rc = std::system(command.c_str()); rc != 0) {
    return absl::InternalError(
        absl::StrCat("`", command, "` failed (status ", rc, ")"));
  }
  return ReadFloats(d + "/expected.f32", inputs.hidden.size());
}

// max |actual - expected| / max |expected|.
double MaxRelativeError(const std::vector<float>& actual,
                        const std::vector<float>& expected) {
  double max_error = 0;
  double max_expected = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    max_error = std::max(
        max_error, std::abs(static_cast<double>(actual[i]) - expected[i]));
    max_expected =
        std::max(max_expected, std::abs(static_cast<double>(expected[i])));
  }
  return max_error / max_expected;
}

size_t CountDifferences(const std::vector<float>& a,
                        const std::vector<float>& b) {
  size_t differences = 0;
  for (size_t i = 0; i < a.size(); ++i) differences += a[i] != b[i];
  return differences;
}

// Runs a fresh module with `branches` over random inputs in `chunks` and
// checks it against the reference script's whole-sequence result.
void ExpectMatchesReference(int branches, const std::vector<int>& chunks) {
  const EngramModuleShape shape = TestShape(branches);
  std::unique_ptr<Backend> backend = CreateCpuBackend();
  absl::StatusOr<RandomWeights> weights =
      MakeRandomWeights(*backend, shape, /*seed=*/17 + branches);
  ASSERT_TRUE(weights.ok()) << weights.status();
  const Inputs inputs = MakeInputs(shape, /*seed=*/29 + branches);
  absl::StatusOr<std::unique_ptr<EngramModule>> module = EngramModule::Create(
      backend.get(), shape, weights->device, kBatch, kBatch * kTime);
  ASSERT_TRUE(module.ok()) << module.status();
  (*module)->ResetHistory();

  absl::StatusOr<std::vector<float>> actual =
      RunModule(*backend, **module, inputs, chunks);
  ASSERT_TRUE(actual.ok()) << actual.status();
  absl::StatusOr<std::vector<float>> expected =
      ReferenceOutput(shape, *weights, inputs);
  ASSERT_TRUE(expected.ok()) << expected.status();
  const double error = MaxRelativeError(*actual, *expected);
  ::testing::Test::RecordProperty(
      absl::StrCat("max_relative_error_branches_", branches),
      FloatText(static_cast<float>(error)));
  EXPECT_LE(error, kTolerance);
}

TEST(EngramModuleTest, OneBranchPrefillMatchesReference) {
  ExpectMatchesReference(/*branches=*/1, kPrefill);
}

TEST(EngramModuleTest, TwoBranchesPrefillMatchesReference) {
  ExpectMatchesReference(/*branches=*/2, kPrefill);
}

// The decode steps' conv reads positions of earlier calls, which only the
// kept history holds.
TEST(EngramModuleTest, DecodeStepsMatchWholeSequenceReference) {
  for (const int branches : {1, 2}) {
    SCOPED_TRACE(absl::StrCat("branches ", branches));
    ExpectMatchesReference(branches, kPrefillThenDecode);
  }
}

TEST(EngramModuleTest, ResetHistoryStartsOver) {
  const EngramModuleShape shape = TestShape(/*branches=*/2);
  std::unique_ptr<Backend> backend = CreateCpuBackend();
  absl::StatusOr<RandomWeights> weights =
      MakeRandomWeights(*backend, shape, /*seed=*/5);
  ASSERT_TRUE(weights.ok()) << weights.status();
  const Inputs inputs = MakeInputs(shape, /*seed=*/6);
  absl::StatusOr<std::unique_ptr<EngramModule>> module = EngramModule::Create(
      backend.get(), shape, weights->device, kBatch, kBatch * kTime);
  ASSERT_TRUE(module.ok()) << module.status();
  (*module)->ResetHistory();

  absl::StatusOr<std::vector<float>> first =
      RunModule(*backend, **module, inputs, kPrefillThenDecode);
  ASSERT_TRUE(first.ok()) << first.status();
  // Without a reset the sequence continues, so the same tokens again see
  // the first run's last positions: this shows the history matters here.
  absl::StatusOr<std::vector<float>> continued =
      RunModule(*backend, **module, inputs, kPrefillThenDecode);
  ASSERT_TRUE(continued.ok()) << continued.status();
  EXPECT_GT(CountDifferences(*continued, *first), 0u);

  (*module)->ResetHistory();
  absl::StatusOr<std::vector<float>> again =
      RunModule(*backend, **module, inputs, kPrefillThenDecode);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(CountDifferences(*again, *first), 0u)
      << "elements that differ after ResetHistory, of " << first->size();
}

}  // namespace
}  // namespace engram::gpu

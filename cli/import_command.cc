#include "cli/import_command.h"

#include <algorithm>
#include <fstream>
#include <iostream>
#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/progress_bar.h"
#include "common/addressing/sha256.h"
#include "common/grpc_status.h"
#include "common/json_writer.h"
#include "common/status_macros.h"
#include "engram/v1/admin_service.grpc.pb.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"

namespace engram::cli {
namespace {

// Bytes per rows message: large enough to amortise per-message costs, small
// enough to keep both ends' memory flat.
constexpr size_t kChunkBytes = 4 << 20;
// Enough of a file to hold any header numpy writes for a 2-D array.
constexpr size_t kHeaderProbeBytes = 64 << 10;

struct DtypeDefault {
  const char* descr;
  ElementType type;
};

constexpr DtypeDefault kDtypeDefaults[] = {
    {"<f4", ElementType::kF32},    {"<f2", ElementType::kF16},
    {"<u2", ElementType::kBf16},   {"|i1", ElementType::kOpaque},
    {"|u1", ElementType::kOpaque},
};

// Element size of a numpy dtype string such as "<f4" or "|u1"; 0 if it is
// not little-endian or byte-sized.
uint32_t LittleEndianItemSize(const std::string& descr) {
  uint32_t size = 0;
  if (descr.size() < 3 || (descr[0] != '<' && descr[0] != '|') ||
      !absl::SimpleAtoi(descr.substr(2), &size)) {
    return 0;
  }
  return size;
}

// The little-endian u64 at the start of a .safetensors file: its header's
// length. REQUIRES: bytes.size() >= 8.
uint64_t SafetensorsHeaderSize(absl::string_view bytes) {
  uint64_t size = 0;
  for (int i = 7; i >= 0; --i) {
    size = (size << 8) | static_cast<uint8_t>(bytes[i]);
  }
  return size;
}

// The table type of a file's elements: the override if given (it must
// match the element size unless opaque), else the file type's default.
absl::StatusOr<ElementType> ResolveElementType(
    absl::string_view file_dtype, uint32_t item_size,
    std::optional<ElementType> file_default,
    std::optional<ElementType> dtype_override) {
  std::optional<ElementType> type =
      dtype_override.has_value() ? dtype_override : file_default;
  if (!type.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "dtype '", file_dtype,
        "' has no table type; use f32, f16, bf16, fp8 or byte arrays, or "
        "--dtype opaque for raw bytes"));
  }
  if (*type != ElementType::kOpaque && ElementBytes(*type) != item_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--dtype ", ElementTypeName(*type), " has ", ElementBytes(*type),
        "-byte elements but the file's dtype '", file_dtype, "' has ",
        item_size));
  }
  return *type;
}

// Fills the row shape of `layout` for rows of `cols` elements.
absl::Status SetRowShape(uint64_t cols, uint32_t item_size, ElementType type,
                         NpyTableLayout& layout) {
  const uint64_t row_bytes = cols * item_size;
  if (row_bytes == 0 || row_bytes > UINT32_MAX) {
    return absl::InvalidArgumentError(
        absl::StrCat("rows of ", row_bytes, " bytes cannot form a table"));
  }
  layout.row_bytes = static_cast<uint32_t>(row_bytes);
  layout.element_type = type;
  layout.dims.clear();
  if (type != ElementType::kOpaque) layout.dims = {static_cast<uint32_t>(cols)};
  return absl::OkStatus();
}

struct SafetensorsDtype {
  const char* name;
  uint32_t item_size;
  std::optional<ElementType> type;
};

constexpr SafetensorsDtype kSafetensorsDtypes[] = {
    {"F32", 4, ElementType::kF32},
    {"F16", 2, ElementType::kF16},
    {"BF16", 2, ElementType::kBf16},
    {"F8_E4M3", 1, ElementType::kFp8E4m3},
    {"F8_E5M2", 1, ElementType::kFp8E5m2},
    {"U8", 1, ElementType::kOpaque},
    {"I8", 1, ElementType::kOpaque},
    {"F64", 8, std::nullopt},
    {"I64", 8, std::nullopt},
    {"U64", 8, std::nullopt},
    {"I32", 4, std::nullopt},
    {"U32", 4, std::nullopt},
    {"I16", 2, std::nullopt},
    {"U16", 2, std::nullopt},
    {"BOOL", 1, std::nullopt},
};

}  // namespace

absl::StatusOr<NpyTableLayout> LayoutFromNpy(
    const internal::NpyHeader& header, uint64_t file_size,
    std::optional<ElementType> dtype_override) {
  if (header.shape.size() != 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the array has ", header.shape.size(),
        " dimensions; a table needs a 2-D array (rows, values per row)"));
  }
  if (header.fortran_order && header.shape[0] > 1 && header.shape[1] > 1) {
    return absl::InvalidArgumentError(
        "the array is Fortran-ordered; save it with np.ascontiguousarray");
  }
  const uint32_t item_size = LittleEndianItemSize(header.descr);
  if (item_size == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "dtype '", header.descr, "' is not little-endian; byte-swap it first"));
  }
  std::optional<ElementType> file_default;
  for (const DtypeDefault& entry : kDtypeDefaults) {
    if (header.descr == entry.descr) file_default = entry.type;
  }
  ENGRAM_ASSIGN_OR_RETURN(const ElementType type,
                          ResolveElementType(header.descr, item_size,
                                             file_default, dtype_override));
  NpyTableLayout layout;
  layout.rows = header.shape[0];
  ENGRAM_RETURN_IF_ERROR(SetRowShape(header.shape[1], item_size, type, layout));
  layout.data_offset = header.data_offset;
  const uint64_t expected = header.data_offset + layout.rows * layout.row_bytes;
  if (file_size != expected) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the file holds ", file_size, " bytes but its header describes ",
        expected, file_size < expected ? " (truncated)" : " (trailing bytes)"));
  }
  return layout;
}

absl::StatusOr<ImportSource> SourceFromSafetensors(
    absl::string_view file_prefix, uint64_t file_size,
    const std::vector<std::string>& tensors,
    std::optional<ElementType> dtype_override) {
  const uint64_t header_size =
      file_prefix.size() >= 8 ? SafetensorsHeaderSize(file_prefix) : 0;
  if (file_prefix.size() < 8 || header_size > file_prefix.size() - 8) {
    return absl::InvalidArgumentError("truncated safetensors header");
  }
  google::protobuf::Struct header;
  if (!google::protobuf::util::JsonStringToMessage(
           std::string(file_prefix.substr(8, header_size)), &header)
           .ok()) {
    return absl::InvalidArgumentError("safetensors header is not valid JSON");
  }
  if (tensors.empty()) {
    return absl::InvalidArgumentError(
        "name the tensor(s) to import with --tensor");
  }
  const uint64_t data_begin = 8 + header_size;
  ImportSource source;
  std::string first_dtype;
  uint64_t cols = 0;
  for (const std::string& name : tensors) {
    const auto it = header.fields().find(name);
    if (it == header.fields().end() || name == "__metadata__") {
      std::vector<std::string> names;
      for (const auto& [key, value] : header.fields()) {
        if (key != "__metadata__") names.push_back(key);
      }
      std::sort(names.begin(), names.end());
      return absl::InvalidArgumentError(absl::StrCat(
          "no tensor '", name, "'; the file has ", absl::StrJoin(names, ", ")));
    }
    const auto& fields = it->second.struct_value().fields();
    const auto dtype_it = fields.find("dtype");
    const auto shape_it = fields.find("shape");
    const auto offsets_it = fields.find("data_offsets");
    if (dtype_it == fields.end() || shape_it == fields.end() ||
        offsets_it == fields.end() ||
        offsets_it->second.list_value().values_size() != 2) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tensor '", name, "' lacks dtype, shape or data_offsets"));
    }
    const std::string& dtype = dtype_it->second.string_value();
    const auto& shape = shape_it->second.list_value().values();
    if (shape.size() != 2) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tensor '", name, "' has ", shape.size(),
          " dimensions; a table needs 2-D tensors (rows, values per row)"));
    }
    const auto dtype_entry = std::find_if(
        std::begin(kSafetensorsDtypes), std::end(kSafetensorsDtypes),
        [&](const SafetensorsDtype& entry) { return dtype == entry.name; });
    if (dtype_entry == std::end(kSafetensorsDtypes)) {
      return absl::InvalidArgumentError(
          absl::StrCat("tensor '", name, "' has unknown dtype '", dtype, "'"));
    }
    const uint64_t rows = static_cast<uint64_t>(shape[0].number_value());
    const uint64_t tensor_cols = static_cast<uint64_t>(shape[1].number_value());
    if (first_dtype.empty()) {
      first_dtype = dtype;
      cols = tensor_cols;
      ENGRAM_ASSIGN_OR_RETURN(
          const ElementType type,
          ResolveElementType(dtype, dtype_entry->item_size, dtype_entry->type,
                             dtype_override));
      ENGRAM_RETURN_IF_ERROR(
          SetRowShape(cols, dtype_entry->item_size, type, source.layout));
    } else if (dtype != first_dtype || tensor_cols != cols) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tensor '", name, "' is ", dtype, " x ", tensor_cols,
          " per row but the first tensor is ", first_dtype, " x ", cols));
    }
    const auto& offsets = offsets_it->second.list_value().values();
    const uint64_t begin = static_cast<uint64_t>(offsets[0].number_value());
    const uint64_t end = static_cast<uint64_t>(offsets[1].number_value());
    const uint64_t bytes = rows * source.layout.row_bytes;
    if (end < begin || end - begin != bytes || data_begin + end > file_size) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tensor '", name, "' has data_offsets [", begin, ", ", end,
          "] that do not hold its ", bytes, " bytes within the file"));
    }
    source.segments.emplace_back(data_begin + begin, bytes);
    source.layout.rows += rows;
  }
  return source;
}

namespace {

// The file's rows, from either format.
absl::StatusOr<ImportSource> OpenSource(std::ifstream& in, uint64_t file_size,
                                        const ImportOptions& options) {
  std::optional<ElementType> dtype_override;
  if (!options.dtype.empty()) {
    ENGRAM_ASSIGN_OR_RETURN(dtype_override, ParseElementType(options.dtype));
  }
  std::string prefix(std::min<uint64_t>(file_size, kHeaderProbeBytes), '\0');
  in.read(prefix.data(), prefix.size());
  if (absl::EndsWith(options.file, ".safetensors")) {
    if (prefix.size() >= 8) {
      // The header may outgrow the probe; read all of it.
      const uint64_t header_size = SafetensorsHeaderSize(prefix);
      if (header_size + 8 > prefix.size() && header_size + 8 <= file_size) {
        prefix.resize(header_size + 8);
        in.seekg(0);
        in.read(prefix.data(), prefix.size());
      }
    }
    return SourceFromSafetensors(prefix, file_size, options.tensors,
                                 dtype_override);
  }
  ENGRAM_ASSIGN_OR_RETURN(internal::NpyHeader header,
                          internal::ParseNpyHeader(prefix));
  ENGRAM_ASSIGN_OR_RETURN(NpyTableLayout layout,
                          LayoutFromNpy(header, file_size, dtype_override));
  ImportSource source;
  source.segments.emplace_back(layout.data_offset,
                               layout.rows * layout.row_bytes);
  source.layout = std::move(layout);
  return source;
}

}  // namespace

absl::Status RunImportCommand(const ImportOptions& options) {
  std::ifstream in(options.file, std::ios::binary | std::ios::ate);
  if (!in)
    return absl::NotFoundError(absl::StrCat("cannot read ", options.file));
  const uint64_t file_size = in.tellg();
  in.seekg(0);
  absl::StatusOr<ImportSource> source = OpenSource(in, file_size, options);
  if (!source.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(options.file, ": ", source.status().message()));
  }
  const NpyTableLayout& layout = source->layout;

  auto stub = v1::EngramAdmin::NewStub(
      grpc::CreateChannel(options.server, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  v1::ImportTableResponse response;
  std::unique_ptr<grpc::ClientWriter<v1::ImportTableRequest>> writer =
      stub->ImportTable(&context, &response);
  v1::ImportTableRequest request;
  v1::TableInfo* info = request.mutable_header()->mutable_info();
  info->set_name(options.table);
  info->set_rows(layout.rows);
  info->set_row_bytes(layout.row_bytes);
  info->set_element_type(ToProto(layout.element_type));
  for (uint32_t dim : layout.dims) info->add_dims(dim);
  request.mutable_header()->set_placement(options.placement);

  const uint64_t total = layout.rows * layout.row_bytes;
  ProgressBar progress(absl::StrCat("import ", options.table), total);
  internal::Sha256 hash;
  bool sent = writer->Write(request);
  uint64_t done = 0;
  std::string chunk;
  for (const auto& [offset, length] : source->segments) {
    in.seekg(offset);
    for (uint64_t segment_done = 0; sent && segment_done < length;) {
      chunk.resize(std::min<uint64_t>(kChunkBytes, length - segment_done));
      if (!in.read(chunk.data(), chunk.size())) {
        return absl::DataLossError(absl::StrCat("cannot read ", options.file));
      }
      hash.Update(chunk);
      request.set_rows(chunk);
      sent = writer->Write(request);
      segment_done += chunk.size();
      done += chunk.size();
      progress.Update(done);
    }
  }
  if (sent) {
    request.set_content_digest(internal::Sha256::ToHex(hash.Finish()));
    writer->Write(request);
  }
  writer->WritesDone();
  ENGRAM_RETURN_IF_ERROR(FromGrpcStatus(writer->Finish()));
  progress.Finish();

  const v1::TableInfo& imported = response.table();
  if (!options.json) {
    std::cout << "imported " << imported.name() << ": " << imported.rows()
              << " rows x " << imported.row_bytes() << " B, sha256 "
              << imported.content_digest() << "\n";
    return absl::OkStatus();
  }
  JsonWriter out;
  out.BeginObject();
  out.Key("table").String(imported.name());
  out.Key("rows").Uint(imported.rows());
  out.Key("row_bytes").Uint(imported.row_bytes());
  out.Key("dtype").String(ElementTypeName(layout.element_type));
  out.Key("version").Uint(imported.version());
  out.Key("content_digest").String(imported.content_digest());
  out.EndObject();
  std::cout << out.str() << "\n";
  return absl::OkStatus();
}

}  // namespace engram::cli

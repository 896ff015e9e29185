#include "cli/import_command.h"

#include <fstream>
#include <iostream>
#include <memory>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "cli/progress_bar.h"
#include "common/addressing/sha256.h"
#include "common/grpc_status.h"
#include "common/json_writer.h"
#include "common/status_macros.h"
#include "engram/v1/admin_service.grpc.pb.h"
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
  std::optional<ElementType> type = dtype_override;
  if (!type.has_value()) {
    for (const DtypeDefault& entry : kDtypeDefaults) {
      if (header.descr == entry.descr) type = entry.type;
    }
  }
  if (!type.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "dtype '", header.descr,
        "' has no table type; expected <f4, <f2, <u2 (bf16), |i1 or |u1, or "
        "--dtype opaque for raw bytes"));
  }
  if (*type != ElementType::kOpaque && ElementBytes(*type) != item_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--dtype ", ElementTypeName(*type), " has ", ElementBytes(*type),
        "-byte elements but the file's dtype '", header.descr, "' has ",
        item_size));
  }
  NpyTableLayout layout;
  layout.rows = header.shape[0];
  const uint64_t row_bytes = header.shape[1] * item_size;
  if (row_bytes == 0 || row_bytes > UINT32_MAX) {
    return absl::InvalidArgumentError(
        absl::StrCat("rows of ", row_bytes, " bytes cannot form a table"));
  }
  layout.row_bytes = static_cast<uint32_t>(row_bytes);
  layout.element_type = *type;
  if (*type != ElementType::kOpaque) {
    layout.dims = {static_cast<uint32_t>(header.shape[1])};
  }
  layout.data_offset = header.data_offset;
  const uint64_t expected = header.data_offset + layout.rows * row_bytes;
  if (file_size != expected) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the file holds ", file_size, " bytes but its header describes ",
        expected, file_size < expected ? " (truncated)" : " (trailing bytes)"));
  }
  return layout;
}

absl::Status RunImportCommand(const std::string& server,
                              const std::string& table, const std::string& file,
                              const std::string& dtype,
                              const std::string& placement, bool json) {
  std::ifstream in(file, std::ios::binary | std::ios::ate);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", file));
  const uint64_t file_size = in.tellg();
  in.seekg(0);
  std::string probe(std::min<uint64_t>(file_size, kHeaderProbeBytes), '\0');
  in.read(probe.data(), probe.size());
  absl::StatusOr<internal::NpyHeader> header = internal::ParseNpyHeader(probe);
  if (!header.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(file, ": ", header.status().message()));
  }
  std::optional<ElementType> dtype_override;
  if (!dtype.empty()) {
    ENGRAM_ASSIGN_OR_RETURN(dtype_override, ParseElementType(dtype));
  }
  absl::StatusOr<NpyTableLayout> layout =
      LayoutFromNpy(*header, file_size, dtype_override);
  if (!layout.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(file, ": ", layout.status().message()));
  }

  auto stub = v1::EngramAdmin::NewStub(
      grpc::CreateChannel(server, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  v1::ImportTableResponse response;
  std::unique_ptr<grpc::ClientWriter<v1::ImportTableRequest>> writer =
      stub->ImportTable(&context, &response);
  v1::ImportTableRequest request;
  v1::TableInfo* info = request.mutable_header()->mutable_info();
  info->set_name(table);
  info->set_rows(layout->rows);
  info->set_row_bytes(layout->row_bytes);
  info->set_element_type(ToProto(layout->element_type));
  for (uint32_t dim : layout->dims) info->add_dims(dim);
  request.mutable_header()->set_placement(placement);

  const uint64_t total = layout->rows * layout->row_bytes;
  ProgressBar progress(absl::StrCat("import ", table), total);
  internal::Sha256 hash;
  in.seekg(layout->data_offset);
  bool sent = writer->Write(request);
  std::string chunk;
  for (uint64_t done = 0; sent && done < total;) {
    chunk.resize(std::min<uint64_t>(kChunkBytes, total - done));
    if (!in.read(chunk.data(), chunk.size())) {
      return absl::DataLossError(absl::StrCat("cannot read ", file));
    }
    hash.Update(chunk);
    request.set_rows(chunk);
    sent = writer->Write(request);
    done += chunk.size();
    progress.Update(done);
  }
  if (sent) {
    request.set_content_digest(internal::Sha256::ToHex(hash.Finish()));
    writer->Write(request);
  }
  writer->WritesDone();
  ENGRAM_RETURN_IF_ERROR(FromGrpcStatus(writer->Finish()));
  progress.Finish();

  const v1::TableInfo& imported = response.table();
  if (!json) {
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
  out.Key("dtype").String(ElementTypeName(layout->element_type));
  out.Key("version").Uint(imported.version());
  out.Key("content_digest").String(imported.content_digest());
  out.EndObject();
  std::cout << out.str() << "\n";
  return absl::OkStatus();
}

}  // namespace engram::cli

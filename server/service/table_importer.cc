#include "server/service/table_importer.h"

#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/element_type.h"
#include "common/hash_spec_proto.h"
#include "common/logging.h"
#include "common/packed_row_ids.h"
#include "common/status_macros.h"
#include "server/tables/table.h"

namespace engram::server {
namespace {

namespace fs = std::filesystem;

// Bytes of a source file handed to the writer at a time.
constexpr uint64_t kSourceChunkBytes = 8 << 20;

}  // namespace

TableImporter::TableImporter(TableStorage* storage, const TableManager* tables,
                             VersionManager* versions, ImportLimits limits)
    : storage_(storage),
      tables_(tables),
      versions_(versions),
      limits_(std::move(limits)) {}

absl::StatusOr<std::unique_ptr<TableFile>> TableImporter::OpenSourceFile(
    const v1::SourceFile& source) const {
  if (limits_.import_dir.empty()) {
    return absl::FailedPreconditionError(
        "this server takes no imports from its own disk; start it with "
        "--import-dir");
  }
  std::error_code error;
  const fs::path dir = fs::canonical(limits_.import_dir, error);
  if (error) {
    return absl::FailedPreconditionError(absl::StrCat(
        "import directory ", limits_.import_dir, ": ", error.message()));
  }
  const fs::path requested(source.path());
  const fs::path path = fs::canonical(
      requested.is_absolute() ? requested : dir / requested, error);
  if (error) {
    return absl::NotFoundError(
        absl::StrCat("source file ", source.path(), ": ", error.message()));
  }
  // Links are resolved first, so neither ".." nor a symlink leads out.
  const std::string inside = dir.string() + "/";
  if (!absl::StartsWith(path.string(), inside)) {
    return absl::PermissionDeniedError(
        absl::StrCat("source file ", source.path(), " (", path.string(),
                     ") lies outside the import directory ", dir.string()));
  }
  TableFile::Options options;
  options.dtype = source.dtype();
  options.tensors.assign(source.tensors().begin(), source.tensors().end());
  options.row_bytes = source.row_bytes();
  return TableFile::Open(path.string(), options);
}

absl::StatusOr<std::unique_ptr<TableWriter>> TableImporter::BeginImport(
    const v1::ImportTableHeader& header, const TableFile* file) const {
  v1::TableInfo info = header.info();
  ENGRAM_RETURN_IF_ERROR(ValidateTableName(info.name()));
  if (tables_->Get(info.name()).ok()) {
    return absl::AlreadyExistsError(
        absl::StrCat("table '", info.name(), "' already exists"));
  }
  if (file != nullptr) {
    if (IsSparse(info)) {
      return absl::InvalidArgumentError(
          "a source file makes a dense table; stream sparse rows instead");
    }
    info.set_rows(file->rows());
    info.set_row_bytes(file->row_bytes());
    info.set_element_type(ToProto(file->layout().element_type));
    info.clear_dims();
    for (uint32_t dim : file->layout().dims) info.add_dims(dim);
  }
  if (info.row_bytes() == 0) {
    return absl::InvalidArgumentError("row_bytes must be > 0");
  }
  ENGRAM_ASSIGN_OR_RETURN(const ElementType type,
                          FromProto(info.element_type()));
  if (type != ElementType::kOpaque) {
    uint64_t elements = 1;
    for (uint32_t dim : info.dims()) elements *= dim;
    if (info.dims().empty() ||
        elements * ElementBytes(type) > info.row_bytes()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "dims of a ", ElementTypeName(type), " table must describe at most ",
          info.row_bytes(), " bytes per row"));
    }
  }
  // On ssd a sparse table's id space may be far larger than what it
  // stores, so its rows are counted as they arrive instead; in RAM it takes
  // its whole id space.
  const bool counted_as_sent = IsSparse(info) && header.placement() == "ssd";
  if (!counted_as_sent &&
      info.rows() > limits_.max_table_bytes / info.row_bytes()) {
    return absl::ResourceExhaustedError(
        absl::StrCat("table of ", info.rows(), " rows x ", info.row_bytes(),
                     " B exceeds the import limit of ", limits_.max_table_bytes,
                     " B (--max-import-bytes)"));
  }
  if (info.first_row() != 0 || info.total_rows() != 0) {
    if (IsSparse(info) || file != nullptr) {
      return absl::InvalidArgumentError(
          "a shard (first_row, total_rows) is imported as streamed dense rows");
    }
    if (info.first_row() > info.total_rows() ||
        info.rows() > info.total_rows() - info.first_row()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "a shard of rows [", info.first_row(), ", ",
          info.first_row() + info.rows(), ") does not fit a table of ",
          info.total_rows(), " rows"));
    }
  }
  // Checked before any row arrives, not at commit.
  ENGRAM_RETURN_IF_ERROR(TableHashSpec(info).status());
  info.set_placement(header.placement());
  info.set_version(1);
  info.clear_content_digest();
  info.clear_rows_written();
  info.clear_stats();
  std::shared_ptr<const CompressionMap> compression;
  if (!header.compression_lookup().empty()) {
    ENGRAM_ASSIGN_OR_RETURN(
        compression, TableCompressionMap(info, header.compression_lookup()));
  }
  ENGRAM_ASSIGN_OR_RETURN(std::unique_ptr<TableWriter> writer,
                          storage_->BeginTable(std::move(info), {}));
  writer->KeepCompression(std::move(compression));
  return writer;
}

absl::Status TableImporter::CheckSparseImportSize(uint64_t bytes) const {
  if (bytes <= limits_.max_table_bytes) return absl::OkStatus();
  return absl::ResourceExhaustedError(
      absl::StrCat("sparse rows of ", bytes, " B exceed the import limit of ",
                   limits_.max_table_bytes, " B (--max-import-bytes)"));
}

absl::Status TableImporter::Publish(StoredTable stored) const {
  const v1::TableInfo& info = stored.info;
  LOG(INFO) << "imported table '" << info.name() << "' (" << info.rows_written()
            << " of " << info.rows() << " rows on " << info.placement()
            << ", sha256 " << info.content_digest() << ")";
  ENGRAM_ASSIGN_OR_RETURN(
      std::shared_ptr<const Table> table,
      Table::Create(std::move(stored.info), std::move(stored.store),
                    std::move(stored.compression)));
  return versions_->AddNewTable(std::move(table));
}

ImportSession::ImportSession(const TableImporter* importer)
    : importer_(importer) {}

std::string ImportSession::Describe() const {
  return absl::StrCat("import of table '", name_, "'");
}

absl::Status ImportSession::Accept(v1::ImportTableRequest& request) {
  if (digest_seen_) {
    return absl::InvalidArgumentError(
        "content_digest must be the last message of an import");
  }
  switch (request.part_case()) {
    case v1::ImportTableRequest::kHeader:
      return AcceptHeader(request.header());
    case v1::ImportTableRequest::kRows:
      ENGRAM_RETURN_IF_ERROR(ExpectStreamedRows());
      ENGRAM_RETURN_IF_ERROR(writer_->Append(request.rows()));
      LogProgress();
      return absl::OkStatus();
    case v1::ImportTableRequest::kSparseRows: {
      ENGRAM_RETURN_IF_ERROR(ExpectStreamedRows());
      const v1::SparseRows& sparse = request.sparse_rows();
      ENGRAM_RETURN_IF_ERROR(ValidatePackedRowIds(sparse.row_ids()));
      ENGRAM_RETURN_IF_ERROR(importer_->CheckSparseImportSize(
          writer_->bytes_received() + sparse.rows().size()));
      ENGRAM_RETURN_IF_ERROR(
          writer_->AppendSparse(PackedRowIds(sparse.row_ids()), sparse.rows()));
      LogProgress();
      return absl::OkStatus();
    }
    case v1::ImportTableRequest::kContentDigest:
      if (writer_ == nullptr) break;
      digest_seen_ = true;
      expected_digest_ = request.content_digest();
      return absl::OkStatus();
    case v1::ImportTableRequest::PART_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError(
      "an import starts with a header and continues with rows");
}

absl::Status ImportSession::AcceptHeader(const v1::ImportTableHeader& header) {
  if (writer_ != nullptr) {
    return absl::InvalidArgumentError("an import has one header");
  }
  name_ = header.info().name();
  if (header.has_source_file()) {
    ENGRAM_ASSIGN_OR_RETURN(file_,
                            importer_->OpenSourceFile(header.source_file()));
  }
  ENGRAM_ASSIGN_OR_RETURN(writer_, importer_->BeginImport(header, file_.get()));
  const v1::TableInfo& info = writer_->info();
  LOG(INFO) << "importing table '" << info.name() << "': " << info.rows()
            << " rows x " << info.row_bytes() << " B on " << info.placement()
            << (file_ ? absl::StrCat(" from ", header.source_file().path())
                      : std::string());
  return absl::OkStatus();
}

absl::Status ImportSession::ExpectStreamedRows() const {
  if (writer_ == nullptr) {
    return absl::InvalidArgumentError("an import starts with a header");
  }
  if (file_ != nullptr) {
    return absl::InvalidArgumentError(
        "an import from a source file takes no streamed rows");
  }
  return absl::OkStatus();
}

void ImportSession::LogProgress() const {
  LOG_EVERY_N_SEC(INFO, 5) << "importing '" << name_
                           << "': " << writer_->bytes_received() << " bytes, "
                           << writer_->rows_written() << " rows";
}

// The disk writes block the caller; imports are rare next to lookups,
// which other threads serve.
absl::Status ImportSession::Complete(v1::ImportTableResponse* response) {
  if (writer_ == nullptr) {
    return absl::InvalidArgumentError("an import needs a header");
  }
  if (file_ != nullptr) {
    ENGRAM_RETURN_IF_ERROR(
        file_->ForEachChunk(kSourceChunkBytes, [&](absl::string_view rows) {
          LogProgress();
          return writer_->Append(rows);
        }));
  }
  ENGRAM_ASSIGN_OR_RETURN(StoredTable stored,
                          writer_->Commit(expected_digest_));
  *response->mutable_table() = stored.info;
  return importer_->Publish(std::move(stored));
}

}  // namespace engram::server

#include "server/service/admin_service_impl.h"

#include <filesystem>
#include <memory>
#include <string>
#include <system_error>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/element_type.h"
#include "common/grpc_status.h"
#include "common/logging.h"
#include "common/packed_row_ids.h"
#include "common/status_macros.h"
#include "server/service/refused_reactor.h"

namespace engram::server {
namespace {

namespace fs = std::filesystem;

// Bytes of a source file handed to the writer at a time.
constexpr uint64_t kSourceChunkBytes = 8 << 20;

// Finishes a unary call: `body` runs only if the call passes `auth`.
template <typename Body>
grpc::ServerUnaryReactor* FinishUnary(grpc::CallbackServerContext* context,
                                      const TokenCheck& auth, Body body) {
  absl::Status status = auth.Check(*context);
  if (status.ok()) status = body();
  if (!status.ok()) VLOG(1) << "admin call failed: " << status;
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

// A client stream taken one message at a time: Accept() each, Complete()
// at the client's half-close; the first error ends the call after
// Abandon() has undone what the stream did. Subclasses call Start() last
// in their constructor.
template <typename Request>
class MessageStreamReactor : public grpc::ServerReadReactor<Request> {
 public:
  void OnReadDone(bool ok) final {
    const absl::Status status = ok ? Accept() : Complete();
    if (!status.ok()) {
      LOG(WARNING) << Describe() << " failed: " << status;
      Abandon();
      this->Finish(ToGrpcStatus(status));
      return;
    }
    if (ok) {
      this->StartRead(&request_);
    } else {
      this->Finish(grpc::Status::OK);
    }
  }

  void OnDone() final { delete this; }

 protected:
  void Start() { this->StartRead(&request_); }

  virtual absl::Status Accept() = 0;
  virtual absl::Status Complete() = 0;
  virtual void Abandon() = 0;
  virtual std::string Describe() const = 0;

  // Reactions of one call never overlap, so no lock is needed.
  Request request_;
};

class UploadPatchReactor final
    : public MessageStreamReactor<v1::UploadPatchRequest> {
 public:
  UploadPatchReactor(VersionManager* versions, v1::PatchInfo* response)
      : versions_(versions), response_(response) {
    Start();
  }

 private:
  std::string Describe() const override {
    return absl::StrCat("upload to patch ", patch_id_);
  }
  // Takes this stream's rows back out.
  void Abandon() override { upload_.reset(); }

  absl::Status Accept() override {
    if (upload_ == nullptr) {
      patch_id_ = request_.patch_id();
      ENGRAM_ASSIGN_OR_RETURN(upload_, versions_->BeginUpload(patch_id_));
    } else if (request_.patch_id() != 0 && request_.patch_id() != patch_id_) {
      return absl::InvalidArgumentError(absl::StrCat(
          "an upload stream is for one patch: ", patch_id_, ", not ",
          request_.patch_id()));
    }
    if (!digest_.empty()) {
      return absl::InvalidArgumentError(
          "content_digest must be in the last message of an upload");
    }
    if (!request_.row_ids().empty() || !request_.rows().empty()) {
      bytes_ += request_.rows().size();
      // The message's buffers become the patch's: no copy.
      ENGRAM_RETURN_IF_ERROR(
          upload_->Add(std::move(*request_.mutable_row_ids()),
                       std::move(*request_.mutable_rows())));
      LOG_EVERY_N_SEC(INFO, 5)
          << "uploading patch " << patch_id_ << ": " << bytes_ << " bytes";
    }
    digest_ = request_.content_digest();
    return absl::OkStatus();
  }

  absl::Status Complete() override {
    if (upload_ == nullptr) {
      return absl::InvalidArgumentError(
          "an upload's first message names its patch");
    }
    ENGRAM_ASSIGN_OR_RETURN(*response_, upload_->Finish(digest_));
    upload_.reset();
    LOG(INFO) << "patch " << patch_id_ << ": " << response_->rows()
              << " rows uploaded, sha256 " << response_->content_digest();
    return absl::OkStatus();
  }

  VersionManager* const versions_;
  v1::PatchInfo* const response_;
  uint64_t patch_id_ = 0;
  uint64_t bytes_ = 0;
  std::string digest_;
  std::unique_ptr<VersionManager::Upload> upload_;
};

class ImportReactor final
    : public MessageStreamReactor<v1::ImportTableRequest> {
 public:
  ImportReactor(const AdminServiceImpl* service,
                v1::ImportTableResponse* response)
      : service_(service), response_(response) {
    Start();
  }

 private:
  std::string Describe() const override {
    return absl::StrCat("import of table '", name_, "'");
  }
  // Removes what was written.
  void Abandon() override { writer_.reset(); }

  // Takes one message of the stream (steps 1-3).
  absl::Status Accept() override {
    if (digest_seen_) {
      return absl::InvalidArgumentError(
          "content_digest must be the last message of an import");
    }
    switch (request_.part_case()) {
      case v1::ImportTableRequest::kHeader:
        return AcceptHeader();
      case v1::ImportTableRequest::kRows:
        ENGRAM_RETURN_IF_ERROR(ExpectStreamedRows());
        ENGRAM_RETURN_IF_ERROR(writer_->Append(request_.rows()));
        LogProgress();
        return absl::OkStatus();
      case v1::ImportTableRequest::kSparseRows: {
        ENGRAM_RETURN_IF_ERROR(ExpectStreamedRows());
        const v1::SparseRows& sparse = request_.sparse_rows();
        ENGRAM_RETURN_IF_ERROR(ValidatePackedRowIds(sparse.row_ids()));
        ENGRAM_RETURN_IF_ERROR(service_->CheckSparseImportSize(
            writer_->bytes_received() + sparse.rows().size()));
        ENGRAM_RETURN_IF_ERROR(writer_->AppendSparse(
            PackedRowIds(sparse.row_ids()), sparse.rows()));
        LogProgress();
        return absl::OkStatus();
      }
      case v1::ImportTableRequest::kContentDigest:
        if (writer_ == nullptr) break;
        digest_seen_ = true;
        expected_digest_ = request_.content_digest();
        return absl::OkStatus();
      case v1::ImportTableRequest::PART_NOT_SET:
        break;
    }
    return absl::InvalidArgumentError(
        "an import starts with a header and continues with rows");
  }

  absl::Status AcceptHeader() {
    if (writer_ != nullptr) {
      return absl::InvalidArgumentError("an import has one header");
    }
    const v1::ImportTableHeader& header = request_.header();
    name_ = header.info().name();
    if (header.has_source_file()) {
      ENGRAM_ASSIGN_OR_RETURN(file_,
                              service_->OpenSourceFile(header.source_file()));
    }
    ENGRAM_ASSIGN_OR_RETURN(writer_,
                            service_->BeginImport(header, file_.get()));
    const v1::TableInfo& info = writer_->info();
    LOG(INFO) << "importing table '" << info.name() << "': " << info.rows()
              << " rows x " << info.row_bytes() << " B on " << info.placement()
              << (file_ ? absl::StrCat(" from ", header.source_file().path())
                        : std::string());
    return absl::OkStatus();
  }

  absl::Status ExpectStreamedRows() const {
    if (writer_ == nullptr) {
      return absl::InvalidArgumentError("an import starts with a header");
    }
    if (file_ != nullptr) {
      return absl::InvalidArgumentError(
          "an import from a source file takes no streamed rows");
    }
    return absl::OkStatus();
  }

  void LogProgress() const {
    LOG_EVERY_N_SEC(INFO, 5)
        << "importing '" << name_ << "': " << writer_->bytes_received()
        << " bytes, " << writer_->rows_written() << " rows";
  }

  // Step 4: the client sent everything. The disk writes block this callback
  // thread; imports are rare next to lookups, which other threads serve.
  absl::Status Complete() override {
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
    *response_->mutable_table() = stored.info;
    return service_->Publish(std::move(stored));
  }

  const AdminServiceImpl* const service_;
  v1::ImportTableResponse* const response_;
  std::string name_;
  std::unique_ptr<TableFile> file_;
  std::unique_ptr<TableWriter> writer_;
  bool digest_seen_ = false;
  std::string expected_digest_;
};

}  // namespace

AdminServiceImpl::AdminServiceImpl(TableStorage* storage,
                                   const TableManager* tables,
                                   VersionManager* versions,
                                   const TokenCheck* auth, ImportLimits limits)
    : storage_(storage),
      tables_(tables),
      versions_(versions),
      auth_(auth),
      limits_(std::move(limits)) {}

grpc::ServerReadReactor<v1::ImportTableRequest>* AdminServiceImpl::ImportTable(
    grpc::CallbackServerContext* context, v1::ImportTableResponse* response) {
  if (absl::Status status = auth_->Check(*context); !status.ok()) {
    return new RefusedReactor<grpc::ServerReadReactor<v1::ImportTableRequest>>(
        status);
  }
  return new ImportReactor(this, response);
}

grpc::ServerUnaryReactor* AdminServiceImpl::CreatePatch(
    grpc::CallbackServerContext* context, const v1::CreatePatchRequest* request,
    v1::PatchInfo* response) {
  return FinishUnary(context, *auth_, [&]() -> absl::Status {
    ENGRAM_ASSIGN_OR_RETURN(
        *response,
        versions_->CreatePatch(request->table(), request->description()));
    LOG(INFO) << "patch " << response->patch_id() << " of table '"
              << request->table() << "' created";
    return absl::OkStatus();
  });
}

grpc::ServerReadReactor<v1::UploadPatchRequest>* AdminServiceImpl::UploadPatch(
    grpc::CallbackServerContext* context, v1::PatchInfo* response) {
  if (absl::Status status = auth_->Check(*context); !status.ok()) {
    return new RefusedReactor<grpc::ServerReadReactor<v1::UploadPatchRequest>>(
        status);
  }
  return new UploadPatchReactor(versions_, response);
}

grpc::ServerUnaryReactor* AdminServiceImpl::CommitPatch(
    grpc::CallbackServerContext* context, const v1::CommitPatchRequest* request,
    v1::VersionInfo* response) {
  return FinishUnary(context, *auth_, [&]() -> absl::Status {
    ENGRAM_ASSIGN_OR_RETURN(*response,
                            versions_->CommitPatch(request->patch_id(),
                                                   request->content_digest()));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AdminServiceImpl::AbortPatch(
    grpc::CallbackServerContext* context, const v1::AbortPatchRequest* request,
    v1::PatchInfo* response) {
  return FinishUnary(context, *auth_, [&]() -> absl::Status {
    ENGRAM_ASSIGN_OR_RETURN(*response,
                            versions_->AbortPatch(request->patch_id()));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AdminServiceImpl::ActivateVersion(
    grpc::CallbackServerContext* context,
    const v1::ActivateVersionRequest* request, v1::VersionInfo* response) {
  return FinishUnary(context, *auth_, [&]() -> absl::Status {
    ENGRAM_ASSIGN_OR_RETURN(
        *response, versions_->Activate(request->table(), request->version()));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AdminServiceImpl::Rollback(
    grpc::CallbackServerContext* context, const v1::RollbackRequest* request,
    v1::VersionInfo* response) {
  return FinishUnary(context, *auth_, [&]() -> absl::Status {
    ENGRAM_ASSIGN_OR_RETURN(*response, versions_->Rollback(
                                           request->table(),
                                           request->to_version()));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AdminServiceImpl::ListVersions(
    grpc::CallbackServerContext* context,
    const v1::ListVersionsRequest* request,
    v1::ListVersionsResponse* response) {
  return FinishUnary(context, *auth_, [&]() -> absl::Status {
    ENGRAM_ASSIGN_OR_RETURN(*response,
                            versions_->ListVersions(request->table()));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AdminServiceImpl::ExplainRows(
    grpc::CallbackServerContext* context,
    const v1::ExplainRowsRequest* request,
    v1::ExplainRowsResponse* response) {
  return FinishUnary(context, *auth_, [&]() -> absl::Status {
    ENGRAM_ASSIGN_OR_RETURN(*response,
                            versions_->ExplainRows(request->table(),
                                                   request->at(),
                                                   request->row_ids()));
    return absl::OkStatus();
  });
}

absl::StatusOr<std::unique_ptr<TableFile>> AdminServiceImpl::OpenSourceFile(
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

absl::StatusOr<std::unique_ptr<TableWriter>> AdminServiceImpl::BeginImport(
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
  if (info.has_hash_spec()) {
    return absl::InvalidArgumentError(
        "imported tables do not carry a hash spec yet");
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
  info.set_placement(header.placement());
  info.set_version(1);
  info.clear_content_digest();
  info.clear_rows_written();
  info.clear_stats();
  return storage_->BeginTable(std::move(info), {});
}

absl::Status AdminServiceImpl::CheckSparseImportSize(uint64_t bytes) const {
  if (bytes <= limits_.max_table_bytes) return absl::OkStatus();
  return absl::ResourceExhaustedError(
      absl::StrCat("sparse rows of ", bytes, " B exceed the import limit of ",
                   limits_.max_table_bytes, " B (--max-import-bytes)"));
}

absl::Status AdminServiceImpl::Publish(StoredTable stored) const {
  const v1::TableInfo& info = stored.info;
  LOG(INFO) << "imported table '" << info.name() << "' (" << info.rows_written()
            << " of " << info.rows() << " rows on " << info.placement()
            << ", sha256 " << info.content_digest() << ")";
  ENGRAM_ASSIGN_OR_RETURN(
      std::shared_ptr<const Table> table,
      Table::Create(std::move(stored.info), std::move(stored.store)));
  return versions_->AddTable(std::move(table));
}

}  // namespace engram::server

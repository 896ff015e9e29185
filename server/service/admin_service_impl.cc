#include "server/service/admin_service_impl.h"

#include <cstring>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/addressing/sha256.h"
#include "common/element_type.h"
#include "common/grpc_status.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "server/storage/ram_row_store.h"

namespace engram::server {
namespace {

class ImportReactor final
    : public grpc::ServerReadReactor<v1::ImportTableRequest> {
 public:
  ImportReactor(const AdminServiceImpl* service,
                v1::ImportTableResponse* response)
      : service_(service), response_(response) {
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    const absl::Status status = ok ? Accept() : Complete();
    if (!status.ok()) {
      LOG(WARNING) << "import of table '" << info_.name()
                   << "' failed: " << status;
      Finish(ToGrpcStatus(status));
      return;
    }
    if (ok) {
      StartRead(&request_);
    } else {
      Finish(grpc::Status::OK);
    }
  }

  void OnDone() override { delete this; }

 private:
  // Takes one message of the stream (steps 1-3).
  absl::Status Accept() {
    if (digest_seen_) {
      return absl::InvalidArgumentError(
          "content_digest must be the last message of an import");
    }
    switch (request_.part_case()) {
      case v1::ImportTableRequest::kHeader:
        return AcceptHeader();
      case v1::ImportTableRequest::kRows:
        return AcceptRows(request_.rows());
      case v1::ImportTableRequest::kContentDigest:
        if (builder_ == nullptr) break;
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
    if (builder_ != nullptr) {
      return absl::InvalidArgumentError("an import has one header");
    }
    ENGRAM_ASSIGN_OR_RETURN(info_, service_->ValidateImport(request_.header()));
    ENGRAM_ASSIGN_OR_RETURN(builder_, RamRowStore::Builder::Create(
                                          info_.rows(), info_.row_bytes()));
    LOG(INFO) << "importing table '" << info_.name() << "': " << info_.rows()
              << " rows x " << info_.row_bytes() << " B";
    return absl::OkStatus();
  }

  absl::Status AcceptRows(const std::string& rows) {
    if (builder_ == nullptr) {
      return absl::InvalidArgumentError("an import starts with a header");
    }
    if (rows.size() > builder_->size_bytes() - received_) {
      return absl::InvalidArgumentError(absl::StrCat(
          "import of '", info_.name(), "' sent more than the ", info_.rows(),
          " rows x ", info_.row_bytes(), " B its header announced"));
    }
    std::memcpy(builder_->mutable_data() + received_, rows.data(), rows.size());
    hash_.Update(rows);
    received_ += rows.size();
    LOG_EVERY_N_SEC(INFO, 5)
        << "importing '" << info_.name() << "': " << received_ << " of "
        << builder_->size_bytes() << " bytes";
    return absl::OkStatus();
  }

  // Step 4: the client sent everything.
  absl::Status Complete() {
    if (builder_ == nullptr) {
      return absl::InvalidArgumentError("an import needs a header");
    }
    if (received_ != builder_->size_bytes()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "import of '", info_.name(), "' ended after ", received_,
          " bytes; its header announced ", info_.rows(), " rows x ",
          info_.row_bytes(), " B = ", builder_->size_bytes()));
    }
    const std::string digest =
        ::engram::internal::Sha256::ToHex(hash_.Finish());
    if (digest_seen_ && digest != expected_digest_) {
      return absl::InvalidArgumentError(
          absl::StrCat("rows of '", info_.name(), "' hash to ", digest,
                       ", not to the content_digest sent, ", expected_digest_));
    }
    info_.set_content_digest(digest);
    ENGRAM_RETURN_IF_ERROR(
        service_->CommitImport(info_, builder_->mutable_data()));
    *response_->mutable_table() = info_;
    return absl::OkStatus();
  }

  const AdminServiceImpl* const service_;
  v1::ImportTableResponse* const response_;
  // Reactions of one call never overlap, so no lock is needed.
  v1::ImportTableRequest request_;
  v1::TableInfo info_;
  std::unique_ptr<RamRowStore::Builder> builder_;
  ::engram::internal::Sha256 hash_;
  uint64_t received_ = 0;
  bool digest_seen_ = false;
  std::string expected_digest_;
};

}  // namespace

AdminServiceImpl::AdminServiceImpl(TableStorage* storage, TableManager* tables,
                                   ImportLimits limits)
    : storage_(storage), tables_(tables), limits_(limits) {}

grpc::ServerReadReactor<v1::ImportTableRequest>* AdminServiceImpl::ImportTable(
    grpc::CallbackServerContext* context, v1::ImportTableResponse* response) {
  return new ImportReactor(this, response);
}

absl::StatusOr<v1::TableInfo> AdminServiceImpl::ValidateImport(
    const v1::ImportTableHeader& header) const {
  v1::TableInfo info = header.info();
  ENGRAM_RETURN_IF_ERROR(ValidateTableName(info.name()));
  if (tables_->Get(info.name()).ok() ||
      storage_->data_dir().HasTable(info.name())) {
    return absl::AlreadyExistsError(
        absl::StrCat("table '", info.name(), "' already exists"));
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
  if (info.rows() > limits_.max_table_bytes / info.row_bytes()) {
    return absl::ResourceExhaustedError(
        absl::StrCat("table of ", info.rows(), " rows x ", info.row_bytes(),
                     " B exceeds the import limit of ", limits_.max_table_bytes,
                     " B (--max-import-bytes)"));
  }
  if (info.has_hash_spec()) {
    return absl::InvalidArgumentError(
        "imported tables do not carry a hash spec yet");
  }
  uint64_t ram_bytes_in_use = 0;
  for (const std::shared_ptr<const Table>& table : tables_->List()) {
    ram_bytes_in_use += RamBytes(table->info());
  }
  ENGRAM_ASSIGN_OR_RETURN(
      std::string placement,
      storage_->ChoosePlacement(header.placement(),
                                info.rows() * info.row_bytes(),
                                ram_bytes_in_use));
  info.set_placement(std::move(placement));
  info.set_version(1);
  return info;
}

absl::Status AdminServiceImpl::CommitImport(const v1::TableInfo& info,
                                            const char* rows) const {
  // The write blocks this callback thread for as long as the disk takes;
  // imports are rare next to lookups, which other threads keep serving.
  ENGRAM_ASSIGN_OR_RETURN(StoredTable stored,
                          storage_->StoreTable(info, rows, {}));
  ENGRAM_ASSIGN_OR_RETURN(
      std::shared_ptr<const Table> table,
      Table::Create(std::move(stored.info), std::move(stored.store)));
  tables_->Publish(std::move(table));
  LOG(INFO) << "imported table '" << info.name() << "' (" << info.rows()
            << " rows on " << info.placement() << ", sha256 "
            << info.content_digest() << ")";
  return absl::OkStatus();
}

}  // namespace engram::server

#include "python/admin_bindings.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "cli/admin_channel.h"
#include "common/bearer_token.h"
#include "common/content_digest.h"
#include "common/packed_row_ids.h"
#include "common/status_macros.h"
#include "common/tls_credentials.h"
#include "engram/v1/admin_service.pb.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "pybind11/numpy.h"
#include "python/client_bindings.h"
#include "python/numpy_arrays.h"
#include "python/status_error.h"

namespace engram::python {
namespace py = pybind11;
namespace {

using Admin = v1::EngramAdmin::Stub;

// Bytes per upload message (ids included), as engramctl's: large enough
// to amortise per-message costs, small enough to keep memory flat.
constexpr uint64_t kUploadChunkBytes = 4 << 20;

py::object FieldValue(const google::protobuf::Message& message,
                      const google::protobuf::FieldDescriptor& field,
                      int index);

// `message` as a dict of its fields (all of them, defaults included),
// named as in the .proto.
py::dict MessageToDict(const google::protobuf::Message& message) {
  py::dict dict;
  const google::protobuf::Descriptor& descriptor = *message.GetDescriptor();
  const google::protobuf::Reflection& reflection = *message.GetReflection();
  for (int i = 0; i < descriptor.field_count(); ++i) {
    const google::protobuf::FieldDescriptor& field = *descriptor.field(i);
    if (field.is_repeated()) {
      py::list values;
      for (int j = 0; j < reflection.FieldSize(message, &field); ++j) {
        values.append(FieldValue(message, field, j));
      }
      dict[py::str(field.name())] = std::move(values);
    } else {
      dict[py::str(field.name())] = FieldValue(message, field, -1);
    }
  }
  return dict;
}

// Field `field` of `message` (element `index` of a repeated one, or -1).
py::object FieldValue(const google::protobuf::Message& message,
                      const google::protobuf::FieldDescriptor& field,
                      int index) {
  using google::protobuf::FieldDescriptor;
  const google::protobuf::Reflection& r = *message.GetReflection();
  const bool repeated = index >= 0;
  switch (field.cpp_type()) {
    case FieldDescriptor::CPPTYPE_UINT64:
      return py::int_(repeated ? r.GetRepeatedUInt64(message, &field, index)
                               : r.GetUInt64(message, &field));
    case FieldDescriptor::CPPTYPE_UINT32:
      return py::int_(repeated ? r.GetRepeatedUInt32(message, &field, index)
                               : r.GetUInt32(message, &field));
    case FieldDescriptor::CPPTYPE_INT64:
      return py::int_(repeated ? r.GetRepeatedInt64(message, &field, index)
                               : r.GetInt64(message, &field));
    case FieldDescriptor::CPPTYPE_INT32:
      return py::int_(repeated ? r.GetRepeatedInt32(message, &field, index)
                               : r.GetInt32(message, &field));
    case FieldDescriptor::CPPTYPE_BOOL:
      return py::bool_(repeated ? r.GetRepeatedBool(message, &field, index)
                                : r.GetBool(message, &field));
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return py::float_(repeated ? r.GetRepeatedDouble(message, &field, index)
                                 : r.GetDouble(message, &field));
    case FieldDescriptor::CPPTYPE_FLOAT:
      return py::float_(repeated ? r.GetRepeatedFloat(message, &field, index)
                                 : r.GetFloat(message, &field));
    case FieldDescriptor::CPPTYPE_ENUM:
      return py::str((repeated ? r.GetRepeatedEnum(message, &field, index)
                               : r.GetEnum(message, &field))
                         ->name());
    case FieldDescriptor::CPPTYPE_STRING: {
      const std::string value =
          repeated ? r.GetRepeatedString(message, &field, index)
                   : r.GetString(message, &field);
      if (field.type() == FieldDescriptor::TYPE_BYTES) return py::bytes(value);
      return py::str(value);
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      return MessageToDict(repeated
                               ? r.GetRepeatedMessage(message, &field, index)
                               : r.GetMessage(message, &field));
  }
  return py::none();
}

class PyAdmin {
 public:
  explicit PyAdmin(cli::AdminChannelOptions options)
      : channel_(std::move(options)) {}

  // Runs `call` (returning a StatusOr of a message) without the GIL and
  // returns the message as a dict.
  template <typename CallFn>
  py::dict Run(CallFn call) const {
    auto result = [&] {
      py::gil_scoped_release release;
      return call();
    }();
    return MessageToDict(ValueOrThrow(std::move(result)));
  }

  template <typename Request, typename Response>
  absl::StatusOr<Response> Call(
      grpc::Status (Admin::*method)(grpc::ClientContext*, const Request&,
                                    Response*),
      const Request& request) const {
    return channel_.Call(channel_.admin(), method, request);
  }

  absl::StatusOr<v1::PatchInfo> CreatePatch(
      const std::string& table, const std::string& description) const {
    v1::CreatePatchRequest request;
    request.set_table(table);
    request.set_description(description);
    return Call(&Admin::CreatePatch, request);
  }

  // Streams ids[i] -> row i of `rows` (ids.size() rows back to back) into
  // patch `patch_id`, the stream's digest in its last message; sets
  // *digest to it.
  absl::StatusOr<v1::PatchInfo> Upload(uint64_t patch_id,
                                       absl::Span<const uint64_t> ids,
                                       absl::string_view rows,
                                       std::string* digest) const {
    const uint32_t row_bytes = static_cast<uint32_t>(rows.size() / ids.size());
    const size_t per_message = std::max<uint64_t>(
        1, kUploadChunkBytes / (row_bytes + kPackedRowIdBytes));
    return channel_.Stream(
        &Admin::UploadPatch,
        [&](cli::AdminChannel::WriteFn<v1::UploadPatchRequest> write) {
          ContentDigest content;
          v1::UploadPatchRequest request;
          request.set_patch_id(patch_id);
          for (size_t first = 0; first < ids.size(); first += per_message) {
            const size_t count = std::min(per_message, ids.size() - first);
            request.clear_row_ids();
            AppendPackedRowIds(ids.subspan(first, count),
                               request.mutable_row_ids());
            const absl::string_view chunk =
                rows.substr(first * row_bytes, count * row_bytes);
            request.set_rows(chunk.data(), chunk.size());
            content.AddSparseRows(PackedRowIds(request.row_ids()), chunk,
                                  row_bytes);
            if (first + count == ids.size()) {
              *digest = std::move(content).Finish();
              request.set_content_digest(*digest);
            }
            ENGRAM_RETURN_IF_ERROR(write(request));
            request.clear_patch_id();  // The first message names it.
          }
          return absl::OkStatus();
        });
  }

  absl::StatusOr<v1::VersionInfo> Commit(uint64_t patch_id,
                                         const std::string& digest) const {
    v1::CommitPatchRequest request;
    request.set_patch_id(patch_id);
    request.set_content_digest(digest);
    return Call(&Admin::CommitPatch, request);
  }

  absl::StatusOr<v1::VersionInfo> Activate(const std::string& table,
                                           uint64_t version) const {
    v1::ActivateVersionRequest request;
    request.set_table(table);
    request.set_version(version);
    return Call(&Admin::ActivateVersion, request);
  }

  absl::StatusOr<v1::PatchInfo> Abort(uint64_t patch_id) const {
    v1::AbortPatchRequest request;
    request.set_patch_id(patch_id);
    return Call(&Admin::AbortPatch, request);
  }

  // Create, upload, commit (checking the digest) and activate; a failed
  // upload aborts its patch.
  absl::StatusOr<v1::VersionInfo> Apply(const std::string& table,
                                        absl::Span<const uint64_t> ids,
                                        absl::string_view rows,
                                        const std::string& description) const {
    ENGRAM_ASSIGN_OR_RETURN(const v1::PatchInfo patch,
                            CreatePatch(table, description));
    std::string digest;
    if (absl::Status uploaded =
            Upload(patch.patch_id(), ids, rows, &digest).status();
        !uploaded.ok()) {
      Abort(patch.patch_id()).IgnoreError();  // The upload's error says why.
      return uploaded;
    }
    ENGRAM_ASSIGN_OR_RETURN(const v1::VersionInfo committed,
                            Commit(patch.patch_id(), digest));
    return Activate(table, committed.version());
  }

 private:
  const cli::AdminChannel channel_;
};

std::unique_ptr<PyAdmin> ConnectAdmin(const std::string& server, double timeout,
                                      double stall_timeout,
                                      const std::string& token,
                                      const std::string& token_file,
                                      const std::string& tls_ca_file,
                                      const std::string& tls_cert_file,
                                      const std::string& tls_key_file) {
  if (!token.empty() && !token_file.empty()) {
    throw py::value_error("give token or token_file, not both");
  }
  cli::AdminChannelOptions options;
  options.address = server;
  options.timeout = absl::Seconds(timeout);
  if (stall_timeout < 0) {
    throw py::value_error("stall_timeout must not be negative");
  }
  options.stall_timeout = absl::Seconds(stall_timeout);
  options.bearer_token = token_file.empty()
                             ? token
                             : ValueOrThrow(ReadBearerTokenFile(token_file));
  options.tls = {tls_ca_file, tls_cert_file, tls_key_file};
  // The channel falls back to plaintext on bad TLS files (it expects them
  // checked); check them here so that they fail now, by name.
  ValueOrThrow(ChannelCredentialsFor(options.tls));
  return std::make_unique<PyAdmin>(std::move(options));
}

// A patch's ids and rows from Python: ids any integer array, rows any
// C-contiguous buffer of ids.size() rows of one size.
struct PatchData {
  IdArray ids;
  py::buffer_info rows;

  absl::Span<const uint64_t> id_span() const {
    return absl::MakeConstSpan(ids.data(), ids.size());
  }
  absl::string_view row_bytes() const {
    return absl::string_view(static_cast<const char*>(rows.ptr),
                             rows.size * rows.itemsize);
  }
};

PatchData ReadPatch(IdArray ids, const py::buffer& rows) {
  PatchData data{std::move(ids), rows.request()};
  if (data.ids.ndim() != 1 || data.ids.size() == 0) {
    throw py::value_error("row_ids must be a non-empty 1-D array");
  }
  const size_t bytes = data.rows.size * data.rows.itemsize;
  if (bytes % data.ids.size() != 0) {
    throw py::value_error(absl::StrCat("rows hold ", bytes, " bytes: not ",
                                       data.ids.size(),
                                       " rows of one size (one per id)"));
  }
  CheckCContiguous(data.rows, "rows");
  return data;
}

}  // namespace

void RegisterAdmin(py::module_& module) {
  py::class_<PyAdmin>(
      module, "AdminClient",
      "The control plane of one engram-server: knowledge patches, "
      "activation, rollback and dropping tables. token/token_file: the "
      "admin token (--admin-token-file); tls_*: PEM files; timeout: seconds "
      "per call; stall_timeout: seconds after which a server that takes "
      "none of a patch upload's data is cut off (0: never).")
      .def(py::init(&ConnectAdmin), py::arg("server"), py::kw_only(),
           py::arg("timeout") = 10.0, py::arg("stall_timeout") = 60.0,
           py::arg("token") = "", py::arg("token_file") = "",
           py::arg("tls_ca_file") = "", py::arg("tls_cert_file") = "",
           py::arg("tls_key_file") = "")
      .def(
          "create_patch",
          [](const PyAdmin& admin, const std::string& table,
             const std::string& description) {
            return admin.Run(
                [&] { return admin.CreatePatch(table, description); });
          },
          py::arg("table"), py::arg("description") = "",
          "Starts a patch: its PatchInfo dict. NOT_FOUND for the table.")
      .def(
          "upload_patch",
          [](const PyAdmin& admin, uint64_t patch_id, IdArray ids,
             const py::buffer& rows) {
            const PatchData data = ReadPatch(std::move(ids), rows);
            std::string digest;
            return admin.Run([&] {
              return admin.Upload(patch_id, data.id_span(), data.row_bytes(),
                                  &digest);
            });
          },
          py::arg("patch_id"), py::arg("row_ids"), py::arg("rows"),
          "Adds rows (any C-contiguous array of one table row per id, as "
          "bytes) to an uncommitted patch; its PatchInfo dict.")
      .def(
          "commit_patch",
          [](const PyAdmin& admin, uint64_t patch_id,
             const std::string& digest) {
            return admin.Run([&] { return admin.Commit(patch_id, digest); });
          },
          py::arg("patch_id"), py::arg("content_digest") = "",
          "Makes the patch a new inactive version: its VersionInfo dict.")
      .def(
          "abort_patch",
          [](const PyAdmin& admin, uint64_t patch_id) {
            return admin.Run([&] { return admin.Abort(patch_id); });
          },
          py::arg("patch_id"))
      .def(
          "activate_version",
          [](const PyAdmin& admin, const std::string& table, uint64_t version) {
            return admin.Run([&] { return admin.Activate(table, version); });
          },
          py::arg("table"), py::arg("version"))
      .def(
          "rollback",
          [](const PyAdmin& admin, const std::string& table,
             uint64_t to_version) {
            v1::RollbackRequest request;
            request.set_table(table);
            request.set_to_version(to_version);
            return admin.Run(
                [&] { return admin.Call(&Admin::Rollback, request); });
          },
          py::arg("table"), py::arg("to_version") = 0,
          "Activates an older retained version (0: the newest older one).")
      .def(
          "list_versions",
          [](const PyAdmin& admin, const std::string& table) {
            v1::ListVersionsRequest request;
            request.set_table(table);
            return admin.Run(
                [&] { return admin.Call(&Admin::ListVersions, request); });
          },
          py::arg("table"),
          "Retained versions (newest first) and uploading patches.")
      .def(
          "drop_table",
          [](const PyAdmin& admin, const std::string& table, bool force) {
            v1::DropTableRequest request;
            request.set_table(table);
            request.set_force(force);
            return admin.Run(
                [&] { return admin.Call(&Admin::DropTable, request); });
          },
          py::arg("table"), py::kw_only(), py::arg("force") = false,
          "Stops serving the table and deletes it with its versions and "
          "patches: a dict of the table as it was, released_pins and "
          "deleted_patches. FAILED_PRECONDITION while pinned unless force.")
      .def(
          "apply_patch",
          [](const PyAdmin& admin, const std::string& table, IdArray ids,
             const py::buffer& rows, const std::string& description) {
            const PatchData data = ReadPatch(std::move(ids), rows);
            return admin.Run([&] {
              return admin.Apply(table, data.id_span(), data.row_bytes(),
                                 description);
            });
          },
          py::arg("table"), py::arg("row_ids"), py::arg("rows"),
          py::arg("description") = "",
          "Creates, uploads, commits and activates a patch replacing rows "
          "row_ids with `rows`: the new active version's VersionInfo dict.");
}

}  // namespace engram::python

// Fuzzes the request handling of a real engram server, in process: every
// input is a scenario of EngramService / EngramAdmin calls whose request
// messages are the input's bytes. The server (small demo tables in a temp
// data directory) lives across inputs, as in production, so patches,
// versions and pins made by one input meet the next.
//
// Input: byte 0 picks the scenario; the rest is frames of
// [length: u16 little-endian][serialized request] (a short last frame
// takes what is left). A frame that does not parse as its message ends the
// input. fuzz/make_seed_corpus.py writes seeds in this format.
//
// A crash, a sanitizer report, or a status that bad input must never cause
// (UNKNOWN: an unhandled failure; INTERNAL or DATA_LOSS: the server hurt
// its own state) is a finding.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "engram/v1/admin_service.grpc.pb.h"
#include "engram/v1/engram_service.grpc.pb.h"
#include "google/protobuf/stubs/logging.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "server/engram_server.h"

namespace engram::fuzz {
namespace {

enum Scenario : uint8_t {
  kLookup,
  kLookupTokens,
  kStreamLookup,
  kDescribeTable,
  kPinAndRelease,
  kPatchSession,
  kCommitPatch,
  kAbortPatch,
  kActivateVersion,
  kRollback,
  kListVersions,
  kImportTable,
  kExplainRows,
  kScenarioCount,
};

// The input's frames, in order.
class Frames {
 public:
  explicit Frames(absl::string_view bytes) : rest_(bytes) {}

  bool empty() const { return rest_.empty(); }

  // Parses the next frame into `message`; false when none is left or it
  // does not parse.
  bool Next(google::protobuf::Message& message) {
    if (rest_.size() < 2) return false;
    const size_t length = static_cast<uint8_t>(rest_[0]) |
                          static_cast<size_t>(static_cast<uint8_t>(rest_[1]))
                              << 8;
    rest_.remove_prefix(2);
    const absl::string_view frame = rest_.substr(0, length);
    rest_.remove_prefix(frame.size());
    return message.ParseFromArray(frame.data(), static_cast<int>(frame.size()));
  }

 private:
  absl::string_view rest_;
};

struct Fixture {
  std::string data_dir;
  std::unique_ptr<server::EngramServer> server;
  std::unique_ptr<v1::EngramService::Stub> data;
  std::unique_ptr<v1::EngramAdmin::Stub> admin;
};

Fixture& TheFixture() {
  static Fixture* fixture = [] {
    // Inputs are mostly malformed; protobuf would log each one.
    google::protobuf::SetLogHandler(nullptr);
    auto* made = new Fixture;
    // In memory where there is /dev/shm: patches and imports sync files,
    // and a long run should neither wait for a disk nor fill one.
    const std::filesystem::path parent =
        std::filesystem::is_directory("/dev/shm")
            ? std::filesystem::path("/dev/shm")
            : std::filesystem::temp_directory_path();
    std::string pattern = (parent / "engram-fuzz-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) std::abort();
    made->data_dir = pattern;
    server::ServerOptions options;
    options.listen_address = "127.0.0.1:0";
    options.storage.data_dir = made->data_dir;
    options.limits.max_batch_rows = 4096;
    options.limits.max_response_bytes = 1 << 20;
    options.import_limits.max_table_bytes = 1 << 20;
    options.versions.retain_versions = 2;
    options.versions.max_patch_bytes = 1 << 20;
    options.versions.pins.max_pins = 64;
    // Pins that inputs take and never release go soon.
    options.versions.pins.max_ttl = absl::Seconds(1);
    server::DemoTablesOptions demo;
    demo.hash_config.layer_ids = {3};
    demo.hash_config.max_ngram = 2;
    demo.hash_config.vocab_sizes = {257};
    demo.hash_config.heads_per_ngram = 2;
    demo.hash_config.n_embed_per_ngram = 8;
    demo.element_type = ElementType::kF32;
    options.demo = demo;
    absl::StatusOr<std::unique_ptr<server::EngramServer>> server =
        server::EngramServer::Create(options);
    if (!server.ok()) {
      std::fprintf(stderr, "cannot start the server: %s\n",
                   server.status().ToString().c_str());
      std::abort();
    }
    made->server = *std::move(server);
    made->data = v1::EngramService::NewStub(made->server->InProcessChannel());
    made->admin = v1::EngramAdmin::NewStub(made->server->InProcessChannel());
    // The server and its data directory outlive the fuzzing loop; remove
    // the directory when the process ends.
    std::atexit([] {
      std::error_code ignored;
      std::filesystem::remove_all(TheFixture().data_dir, ignored);
    });
    return made;
  }();
  return *fixture;
}

// A context whose deadline bounds a call that input keeps open.
std::unique_ptr<grpc::ClientContext> Context() {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  return context;
}

void Check(const grpc::Status& status, absl::string_view call) {
  switch (status.error_code()) {
    case grpc::StatusCode::UNKNOWN:
    case grpc::StatusCode::INTERNAL:
    case grpc::StatusCode::DATA_LOSS:
      std::fprintf(stderr, "%s answered bad input with %d: %s\n",
                   std::string(call).c_str(),
                   static_cast<int>(status.error_code()),
                   status.error_message().c_str());
      std::abort();
    default:
      break;
  }
}

// Calls unary `method` of `stub` with the next frame as its request.
template <typename Stub, typename Request, typename Response>
bool CallUnary(Stub& stub,
               grpc::Status (Stub::*method)(grpc::ClientContext*,
                                            const Request&, Response*),
               Frames& frames, absl::string_view name,
               Response* response = nullptr) {
  Request request;
  if (!frames.Next(request)) return false;
  Response ignored;
  const grpc::Status status =
      (stub.*method)(Context().get(), request, response ? response : &ignored);
  Check(status, name);
  return status.ok();
}

// Writes every remaining frame to a client stream, then finishes it.
template <typename Request, typename Writer>
void WriteAll(Frames& frames, Writer& writer,
              absl::FunctionRef<void(Request&)> adjust) {
  Request request;
  while (frames.Next(request)) {
    adjust(request);
    if (!writer.Write(request)) break;
  }
  writer.WritesDone();
}

// Each request gets one response: read it before the next write, as a
// worker does (a client that only writes is the backpressure test's).
void RunStreamLookup(Fixture& fixture, Frames& frames) {
  auto context = Context();
  auto stream = fixture.data->StreamLookup(context.get());
  v1::StreamLookupRequest request;
  v1::StreamLookupResponse response;
  while (frames.Next(request)) {
    if (!stream->Write(request) || !stream->Read(&response)) break;
  }
  stream->WritesDone();
  while (stream->Read(&response)) {
  }
  Check(stream->Finish(), "StreamLookup");
}

void RunImport(Fixture& fixture, Frames& frames) {
  auto context = Context();
  v1::ImportTableResponse response;
  auto stream = fixture.admin->ImportTable(context.get(), &response);
  WriteAll<v1::ImportTableRequest>(frames, *stream,
                                   [](v1::ImportTableRequest&) {});
  Check(stream->Finish(), "ImportTable");
}

// Create -> upload (the frames, to the created patch) -> commit with the
// digest the server reports -> activate -> roll back: the whole life of a
// patch, with fuzzed contents.
void RunPatchSession(Fixture& fixture, Frames& frames) {
  v1::PatchInfo created;
  if (!CallUnary(*fixture.admin, &v1::EngramAdmin::Stub::CreatePatch, frames,
                 "CreatePatch", &created)) {
    return;
  }
  v1::PatchInfo uploaded;
  {
    auto context = Context();
    auto stream = fixture.admin->UploadPatch(context.get(), &uploaded);
    WriteAll<v1::UploadPatchRequest>(frames, *stream,
                                     [&](v1::UploadPatchRequest& request) {
                                       request.set_patch_id(created.patch_id());
                                     });
    const grpc::Status status = stream->Finish();
    Check(status, "UploadPatch");
    if (!status.ok()) return;
  }
  v1::CommitPatchRequest commit;
  commit.set_patch_id(created.patch_id());
  commit.set_content_digest(uploaded.content_digest());
  v1::VersionInfo version;
  grpc::Status status =
      fixture.admin->CommitPatch(Context().get(), commit, &version);
  Check(status, "CommitPatch");
  if (!status.ok()) return;
  v1::ActivateVersionRequest activate;
  activate.set_table(version.table());
  activate.set_version(version.version());
  Check(fixture.admin->ActivateVersion(Context().get(), activate, &version),
        "ActivateVersion");
  v1::RollbackRequest rollback;
  rollback.set_table(version.table());
  Check(fixture.admin->Rollback(Context().get(), rollback, &version),
        "Rollback");
}

void RunPinAndRelease(Fixture& fixture, Frames& frames) {
  v1::PinVersionResponse pinned;
  CallUnary(*fixture.data, &v1::EngramService::Stub::PinVersion, frames,
            "PinVersion", &pinned);
  CallUnary(*fixture.data, &v1::EngramService::Stub::ReleasePin, frames,
            "ReleasePin");
}

}  // namespace
}  // namespace engram::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace engram::fuzz;
  using engram::v1::EngramAdmin;
  using engram::v1::EngramService;
  if (size == 0) return -1;
  Fixture& fixture = TheFixture();
  Frames frames(
      absl::string_view(reinterpret_cast<const char*>(data) + 1, size - 1));
  EngramService::Stub& data_plane = *fixture.data;
  EngramAdmin::Stub& admin = *fixture.admin;
  switch (data[0] % kScenarioCount) {
    case kLookup:
      CallUnary(data_plane, &EngramService::Stub::Lookup, frames, "Lookup");
      break;
    case kLookupTokens:
      CallUnary(data_plane, &EngramService::Stub::LookupTokens, frames,
                "LookupTokens");
      break;
    case kStreamLookup:
      RunStreamLookup(fixture, frames);
      break;
    case kDescribeTable:
      CallUnary(data_plane, &EngramService::Stub::DescribeTable, frames,
                "DescribeTable");
      CallUnary(data_plane, &EngramService::Stub::ListTables, frames,
                "ListTables");
      break;
    case kPinAndRelease:
      RunPinAndRelease(fixture, frames);
      break;
    case kPatchSession:
      RunPatchSession(fixture, frames);
      break;
    case kCommitPatch:
      CallUnary(admin, &EngramAdmin::Stub::CommitPatch, frames, "CommitPatch");
      break;
    case kAbortPatch:
      CallUnary(admin, &EngramAdmin::Stub::AbortPatch, frames, "AbortPatch");
      break;
    case kActivateVersion:
      CallUnary(admin, &EngramAdmin::Stub::ActivateVersion, frames,
                "ActivateVersion");
      break;
    case kRollback:
      CallUnary(admin, &EngramAdmin::Stub::Rollback, frames, "Rollback");
      break;
    case kListVersions:
      CallUnary(admin, &EngramAdmin::Stub::ListVersions, frames,
                "ListVersions");
      break;
    case kImportTable:
      RunImport(fixture, frames);
      break;
    case kExplainRows:
      CallUnary(admin, &EngramAdmin::Stub::ExplainRows, frames, "ExplainRows");
      break;
  }
  return 0;
}

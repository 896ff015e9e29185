// Fuzzes the request handling of a real engram server, in process and
// without a transport: every input is a scenario of EngramService /
// EngramAdmin calls whose request messages are the input's bytes, handed to
// the services' own handlers (EngramServer::data_service() and
// admin_service(): the Do* methods and the import and upload sessions that
// the gRPC methods run once a caller is let in). gRPC's own framing and
// parsing are left to gRPC; skipping it makes an input cost microseconds
// instead of a millisecond. The server (small demo tables in a temp data
// directory) lives across inputs, as in production, so patches, versions
// and pins made by one input meet the next.
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

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "engram/v1/admin_service.pb.h"
#include "engram/v1/engram_service.pb.h"
#include "google/protobuf/stubs/logging.h"
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
  kImportThenDrop,
  kScenarioCount,
};

// The input's frames, in order.
class Frames {
 public:
  explicit Frames(absl::string_view bytes) : rest_(bytes) {}

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

// Aborts on a status that bad input must never cause; returns status.ok().
bool Check(const absl::Status& status, absl::string_view call) {
  switch (status.code()) {
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kDataLoss:
      std::fprintf(stderr, "%s answered bad input with %s\n",
                   std::string(call).c_str(), status.ToString().c_str());
      std::abort();
    default:
      return status.ok();
  }
}

// Calls `handler` with the next frame as its request; false when there
// is none or the call failed.
template <typename Request, typename Handler>
bool Call(Frames& frames, absl::string_view name, Handler handler) {
  Request request;
  if (!frames.Next(request)) return false;
  return Check(handler(request), name);
}

// Feeds every remaining frame to a client-stream `session`
// (ImportSession, PatchUploadSession) and completes it, as the gRPC reactor
// does; the first error drops the session. `adjust` edits each request.
template <typename Request, typename Session, typename Response,
          typename Adjust>
bool RunSession(Session session, Frames& frames, absl::string_view name,
                Response* response, Adjust adjust) {
  Request request;
  while (frames.Next(request)) {
    adjust(request);
    if (!Check(session.Accept(request), name)) return false;
  }
  return Check(session.Complete(response), name);
}

// Create -> upload (the frames, to the created patch) -> commit with the
// digest the server reports -> activate -> roll back: the whole life of a
// patch, with fuzzed contents.
void RunPatchSession(server::AdminServiceImpl& admin, Frames& frames) {
  v1::PatchInfo created;
  if (!Call<v1::CreatePatchRequest>(
          frames, "CreatePatch", [&](const v1::CreatePatchRequest& request) {
            return admin.DoCreatePatch(request, &created);
          })) {
    return;
  }
  v1::PatchInfo uploaded;
  if (!RunSession<v1::UploadPatchRequest>(
          admin.StartUpload(), frames, "UploadPatch", &uploaded,
          [&](v1::UploadPatchRequest& request) {
            request.set_patch_id(created.patch_id());
          })) {
    return;
  }
  v1::CommitPatchRequest commit;
  commit.set_patch_id(created.patch_id());
  commit.set_content_digest(uploaded.content_digest());
  v1::VersionInfo version;
  if (!Check(admin.DoCommitPatch(commit, &version), "CommitPatch")) return;
  v1::ActivateVersionRequest activate;
  activate.set_table(version.table());
  activate.set_version(version.version());
  Check(admin.DoActivateVersion(activate, &version), "ActivateVersion");
  v1::RollbackRequest rollback;
  rollback.set_table(version.table());
  Check(admin.DoRollback(rollback, &version), "Rollback");
}

// An ImportTable stream of every remaining frame.
bool RunImport(server::AdminServiceImpl& admin, Frames& frames,
               v1::ImportTableResponse* response) {
  return RunSession<v1::ImportTableRequest>(admin.StartImport(), frames,
                                            "ImportTable", response,
                                            [](v1::ImportTableRequest&) {});
}

// Imports a table from the frames and, if that worked, drops it: refused
// while pinned, then forced. Only tables the input made are dropped, so
// the demo tables stay for later inputs.
void RunImportThenDrop(server::EngramServer& server, Frames& frames) {
  server::AdminServiceImpl& admin = server.admin_service();
  v1::ImportTableResponse imported;
  if (!RunImport(admin, frames, &imported)) return;
  v1::PinVersionRequest pin;
  pin.set_table(imported.table().name());
  pin.set_ttl_ms(500);
  v1::PinVersionResponse pin_response;
  // The pin limit may be reached by pins earlier inputs left.
  const bool pinned = Check(
      server.data_service().DoPinVersion(pin, &pin_response), "PinVersion");
  v1::DropTableRequest drop;
  drop.set_table(imported.table().name());
  v1::DropTableResponse dropped;
  if (pinned) {
    if (Check(admin.DoDropTable(drop, &dropped), "DropTable")) {
      std::fprintf(stderr, "DropTable dropped a pinned table without force\n");
      std::abort();
    }
    drop.set_force(true);
  }
  if (!Check(admin.DoDropTable(drop, &dropped), "DropTable")) {
    std::fprintf(stderr, "DropTable of an imported table failed\n");
    std::abort();
  }
}

void RunScenario(uint8_t scenario, Frames& frames) {
  server::EngramServer& server = *TheFixture().server;
  const server::EngramServiceImpl& data = server.data_service();
  server::AdminServiceImpl& admin = server.admin_service();
  switch (scenario % kScenarioCount) {
    case kLookup:
      // Lookup is served raw: its handler writes the response's wire bytes.
      Call<v1::LookupRequest>(frames, "Lookup",
                              [&](const v1::LookupRequest& request) {
                                return data.DoLookupToWire(request).status();
                              });
      break;
    case kLookupTokens:
      Call<v1::LookupTokensRequest>(
          frames, "LookupTokens", [&](const v1::LookupTokensRequest& request) {
            v1::LookupResponse response;
            return data.DoLookupTokens(request, &response);
          });
      break;
    case kStreamLookup: {
      // Every request of the stream is answered, whatever became of the
      // ones before it.
      v1::StreamLookupRequest request;
      while (frames.Next(request)) {
        v1::LookupResponse response;
        Check(data.DoLookup(request.lookup(), &response), "StreamLookup");
      }
      break;
    }
    case kDescribeTable:
      Call<v1::DescribeTableRequest>(
          frames, "DescribeTable",
          [&](const v1::DescribeTableRequest& request) {
            v1::TableInfo response;
            return data.DoDescribeTable(request, &response);
          });
      Call<v1::ListTablesRequest>(frames, "ListTables",
                                  [&](const v1::ListTablesRequest&) {
                                    v1::ListTablesResponse response;
                                    return data.DoListTables(&response);
                                  });
      break;
    case kPinAndRelease:
      Call<v1::PinVersionRequest>(
          frames, "PinVersion", [&](const v1::PinVersionRequest& request) {
            v1::PinVersionResponse response;
            return data.DoPinVersion(request, &response);
          });
      Call<v1::ReleasePinRequest>(frames, "ReleasePin",
                                  [&](const v1::ReleasePinRequest& request) {
                                    return data.DoReleasePin(request);
                                  });
      break;
    case kPatchSession:
      RunPatchSession(admin, frames);
      break;
    case kCommitPatch:
      Call<v1::CommitPatchRequest>(
          frames, "CommitPatch", [&](const v1::CommitPatchRequest& request) {
            v1::VersionInfo response;
            return admin.DoCommitPatch(request, &response);
          });
      break;
    case kAbortPatch:
      Call<v1::AbortPatchRequest>(
          frames, "AbortPatch", [&](const v1::AbortPatchRequest& request) {
            v1::PatchInfo response;
            return admin.DoAbortPatch(request, &response);
          });
      break;
    case kActivateVersion:
      Call<v1::ActivateVersionRequest>(
          frames, "ActivateVersion",
          [&](const v1::ActivateVersionRequest& request) {
            v1::VersionInfo response;
            return admin.DoActivateVersion(request, &response);
          });
      break;
    case kRollback:
      Call<v1::RollbackRequest>(frames, "Rollback",
                                [&](const v1::RollbackRequest& request) {
                                  v1::VersionInfo response;
                                  return admin.DoRollback(request, &response);
                                });
      break;
    case kListVersions:
      Call<v1::ListVersionsRequest>(
          frames, "ListVersions", [&](const v1::ListVersionsRequest& request) {
            v1::ListVersionsResponse response;
            return admin.DoListVersions(request, &response);
          });
      break;
    case kImportTable: {
      v1::ImportTableResponse response;
      RunImport(admin, frames, &response);
      break;
    }
    case kExplainRows:
      Call<v1::ExplainRowsRequest>(
          frames, "ExplainRows", [&](const v1::ExplainRowsRequest& request) {
            v1::ExplainRowsResponse response;
            return admin.DoExplainRows(request, &response);
          });
      break;
    case kImportThenDrop:
      RunImportThenDrop(server, frames);
      break;
  }
}

}  // namespace
}  // namespace engram::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return -1;
  engram::fuzz::Frames frames(
      absl::string_view(reinterpret_cast<const char*>(data) + 1, size - 1));
  engram::fuzz::RunScenario(data[0], frames);
  return 0;
}

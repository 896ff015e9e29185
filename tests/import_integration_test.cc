// engramctl import and EngramAdmin.ImportTable against a real engram-server.
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "absl/algorithm/container.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/prefetcher.h"
#include "common/addressing/addresser.h"
#include "common/addressing/compression_map.h"
#include "common/addressing/sha256.h"
#include "common/element_type.h"
#include "common/hash_spec_proto.h"
#include "common/status_macros.h"
#include "engram/v1/admin_service.grpc.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "tests/demo_server_fixture.h"

namespace engram::testing {
namespace {

// One ImportTable call to the server at `address` sending `messages`.
grpc::Status RawImport(const std::string& address,
                       const std::vector<v1::ImportTableRequest>& messages) {
  auto stub = v1::EngramAdmin::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  v1::ImportTableResponse response;
  auto writer = stub->ImportTable(&context, &response);
  for (const v1::ImportTableRequest& message : messages) {
    writer->Write(message);
  }
  writer->WritesDone();
  return writer->Finish();
}

using ::testing::HasSubstr;

class ImportTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer(); }

  void StartServer() {
    server_.reset();
    absl::StatusOr<std::unique_ptr<ServerProcess>> server =
        ServerProcess::Start(dir_.path() + "/data", {});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  CommandResult Ctl(std::vector<std::string> args) {
    return RunEngramctl(server_->address(), args);
  }

  std::string NpyPath(const std::string& name) {
    return dir_.path() + "/" + name + ".npy";
  }

  TempDir dir_;
  std::unique_ptr<ServerProcess> server_;
};

TEST_F(ImportTest, ImportedRowsAreServedExactlyAndSurviveRestart) {
  const std::string data = F32Rows(300, 6);
  WriteNpyFile(NpyPath("f32"), "<f4", {300, 6}, data);
  CommandResult result =
      Ctl({"import", "embeddings", NpyPath("f32"), "--json"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.err, HasSubstr("100.0%"));  // The progress bar's end.
  internal::Sha256 hash;
  hash.Update(data);
  const std::string digest = internal::Sha256::ToHex(hash.Finish());
  EXPECT_EQ(ParseJson(result.out).fields().at("content_digest").string_value(),
            digest);

  for (int restart = 0; restart < 2; ++restart) {
    result = Ctl({"lookup", "embeddings", "--rows", "0,299,7", "--json"});
    ASSERT_EQ(result.exit_code, 0) << result.err;
    const google::protobuf::Struct json = ParseJson(result.out);
    EXPECT_EQ(json.fields().at("dtype").string_value(), "f32");
    const auto& rows = json.fields().at("rows").list_value().values();
    ASSERT_EQ(rows.size(), 3);
    const int ids[] = {0, 299, 7};
    for (int i = 0; i < 3; ++i) {
      ASSERT_EQ(rows[i].list_value().values_size(), 6);
      for (int c = 0; c < 6; ++c) {
        EXPECT_FLOAT_EQ(rows[i].list_value().values(c).number_value(),
                        ids[i] + c / 100.0f);
      }
    }
    result = Ctl({"describe", "embeddings", "--json"});
    ASSERT_EQ(result.exit_code, 0);
    EXPECT_EQ(ParseJson(result.out).fields().at("rows").number_value(), 300);
    StartServer();  // The second pass reads the table back from disk.
    if (HasFatalFailure()) return;
  }
}

TEST_F(ImportTest, Bf16AsUint16AndOpaqueBytes) {
  std::string bf16(4 * 2, '\0');
  for (int i = 0; i < 4; ++i) {
    EncodeElement(ElementType::kBf16, 1.5f * i, bf16.data() + 2 * i);
  }
  WriteNpyFile(NpyPath("bf16"), "<u2", {2, 2}, bf16);
  ASSERT_EQ(Ctl({"import", "b", NpyPath("bf16")}).exit_code, 0);
  CommandResult result = Ctl({"lookup", "b", "--rows", "1", "--json"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr("[[3,4.5]]"));

  WriteNpyFile(NpyPath("u8"), "|u1", {2, 3},
               std::string("\x01\x02\x03\xaa\xbb\xcc", 6));
  ASSERT_EQ(Ctl({"import", "raw", NpyPath("u8")}).exit_code, 0);
  result = Ctl({"lookup", "raw", "--rows", "1", "--json"});
  EXPECT_THAT(result.out, HasSubstr("[\"aabbcc\"]"));
}

TEST_F(ImportTest, SafetensorsPerHeadTensorsBecomeOneTable) {
  const std::string head0 = F32Rows(3, 2), head1 = F32Rows(2, 2);
  const std::string path = dir_.path() + "/model.safetensors";
  std::ofstream(path, std::ios::binary)
      << SafetensorsBytes({{"engram.head.0", "F32", {3, 2}, head0},
                           {"engram.head.1", "F32", {2, 2}, head1}});
  CommandResult result =
      Ctl({"import", "heads", path, "--tensor", "engram.head.0,engram.head.1"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  // Row 3 is the first row of head 1: values 0, 0.01.
  result = Ctl({"lookup", "heads", "--rows", "2,3", "--json"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr("[[2,2.00999999],[0,0.00999999978]]"));

  result = Ctl({"import", "nope", path, "--tensor", "missing"});
  EXPECT_NE(result.exit_code, 0);
  EXPECT_THAT(result.err, HasSubstr("no tensor 'missing'"));
}

TEST_F(ImportTest, BadFilesAndDuplicatesAreRefusedAndServingGoesOn) {
  WriteNpyFile(NpyPath("good"), "<f4", {4, 2}, F32Rows(4, 2));
  ASSERT_EQ(Ctl({"import", "t", NpyPath("good")}).exit_code, 0);

  // The same file again: verified by digest, nothing sent.
  CommandResult result = Ctl({"import", "t", NpyPath("good"), "--json"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(ParseJson(result.out).fields().at("verified").bool_value());
  // Other contents under the same name.
  WriteNpyFile(NpyPath("other"), "<f4", {4, 2}, F32Rows(5, 2).substr(8, 32));
  result = Ctl({"import", "t", NpyPath("other")});
  EXPECT_NE(result.exit_code, 0);
  EXPECT_THAT(result.err, HasSubstr("ALREADY_EXISTS"));
  EXPECT_THAT(result.err, HasSubstr("content digest"));

  WriteNpyFile(NpyPath("short"), "<f4", {4, 2}, F32Rows(3, 2));
  result = Ctl({"import", "short", NpyPath("short")});
  EXPECT_NE(result.exit_code, 0);
  EXPECT_THAT(result.err, HasSubstr("truncated"));

  std::ofstream(NpyPath("garbage")) << "not numpy at all";
  result = Ctl({"import", "garbage", NpyPath("garbage")});
  EXPECT_NE(result.exit_code, 0);
  EXPECT_THAT(result.err, HasSubstr("bad magic"));

  WriteNpyFile(NpyPath("f64"), "<f8", {2, 2}, std::string(32, '\0'));
  result = Ctl({"import", "f64", NpyPath("f64")});
  EXPECT_NE(result.exit_code, 0);
  EXPECT_THAT(result.err, HasSubstr("'<f8'"));

  WriteNpyFile(NpyPath("cube"), "<f4", {2, 2, 2}, std::string(32, '\0'));
  result = Ctl({"import", "cube", NpyPath("cube")});
  EXPECT_NE(result.exit_code, 0);
  EXPECT_THAT(result.err, HasSubstr("2-D"));

  result = Ctl({"import", "../evil", NpyPath("good")});
  EXPECT_NE(result.exit_code, 0);
  EXPECT_THAT(result.err, HasSubstr("INVALID_ARGUMENT"));

  result = Ctl({"import", "where", NpyPath("good"), "--placement", "moon"});
  EXPECT_NE(result.exit_code, 0);
  EXPECT_THAT(result.err, HasSubstr("unknown placement 'moon'"));

  result = Ctl({"tables", "--json"});
  ASSERT_EQ(result.exit_code, 0);
  EXPECT_EQ(
      ParseJson(result.out).fields().at("tables").list_value().values_size(),
      1);
  EXPECT_EQ(Ctl({"lookup", "t", "--rows", "3"}).exit_code, 0);
}

TEST_F(ImportTest, SsdPlacedTablesServeTheSameRowsAndSurviveRestart) {
  const std::string data = F32Rows(500, 8);
  WriteNpyFile(NpyPath("ssd"), "<f4", {500, 8}, data);
  CommandResult result =
      Ctl({"import", "on_disk", NpyPath("ssd"), "--placement", "ssd"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  for (int restart = 0; restart < 2; ++restart) {
    result = Ctl({"describe", "on_disk", "--json"});
    ASSERT_EQ(result.exit_code, 0) << result.err;
    EXPECT_EQ(ParseJson(result.out).fields().at("placement").string_value(),
              "ssd");
    const auto stats = [&] {
      const CommandResult described = Ctl({"describe", "on_disk", "--json"});
      return ParseJson(described.out).fields().at("stats").struct_value();
    };
    EXPECT_EQ(stats().fields().at("bytes_on_ssd").number_value(), 500 * 32);
    EXPECT_EQ(stats().fields().at("bytes_in_ram").number_value(), 0);
    // Twice: once from RocksDB, once from the hot-row cache.
    for (int pass = 0; pass < 2; ++pass) {
      result = Ctl({"lookup", "on_disk", "--rows", "499,0,250,0", "--json"});
      ASSERT_EQ(result.exit_code, 0) << result.err;
      const google::protobuf::Struct json = ParseJson(result.out);
      const auto& rows = json.fields().at("rows").list_value().values();
      ASSERT_EQ(rows.size(), 4);
      const int ids[] = {499, 0, 250, 0};
      for (int i = 0; i < 4; ++i) {
        for (int c = 0; c < 8; ++c) {
          EXPECT_FLOAT_EQ(rows[i].list_value().values(c).number_value(),
                          ids[i] + c / 100.0f);
        }
      }
    }
    // Two passes of 4 ids: the empty cache admits the first pass's rows,
    // so at least the whole second pass hits.
    const google::protobuf::Struct after = stats();
    EXPECT_EQ(after.fields().at("cache_hits").number_value() +
                  after.fields().at("cache_misses").number_value(),
              8);
    EXPECT_GE(after.fields().at("cache_hits").number_value(), 4);
    EXPECT_GE(after.fields().at("cache_hit_rate").number_value(), 0.5);
    StartServer();
    if (HasFatalFailure()) return;
  }
}

TEST(ImportPlacementTest, AutoFillsTheRamBudgetThenGoesToSsd) {
  TempDir dir;
  // 20 KB of RAM tables at most.
  absl::StatusOr<std::unique_ptr<ServerProcess>> server = ServerProcess::Start(
      dir.path() + "/data", {"--ram-budget", "20000", "--block-cache-bytes",
                             "1024", "--row-cache-bytes", "0"});
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string small = dir.path() + "/small.npy";
  const std::string large = dir.path() + "/large.npy";
  WriteNpyFile(small, "<f4", {100, 40}, F32Rows(100, 40));  // 16 KB
  WriteNpyFile(large, "<f4", {100, 40}, F32Rows(100, 40));
  auto import_and_place = [&](const std::string& table,
                              const std::string& file) {
    const std::string address = (*server)->address();
    CommandResult result =
        RunEngramctl(address, {"import", table, file, "--placement", "auto"});
    EXPECT_EQ(result.exit_code, 0) << result.err;
    result = RunEngramctl(address, {"describe", table, "--json"});
    return ParseJson(result.out).fields().at("placement").string_value();
  };
  EXPECT_EQ(import_and_place("first", small), "ram");
  EXPECT_EQ(import_and_place("second", large), "ssd");
  const CommandResult result = RunEngramctl(
      (*server)->address(), {"lookup", "second", "--rows", "99", "--json"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr("[[99,99.0100021"));
}

TEST_F(ImportTest, SparseTablesReportOrZeroTheRowsNeverWritten) {
  // Rows for ids 700, 3 and 41 of 1000, in that (unsorted) order.
  WriteNpyFile(NpyPath("ids"), "<i8", {3}, Int64s({700, 3, 41}));
  WriteNpyFile(NpyPath("rows"), "<f4", {3, 2}, F32Rows(3, 2));
  for (const char* placement : {"ram", "ssd"}) {
    const std::string table = absl::StrCat("sparse_", placement);
    CommandResult result =
        Ctl({"import", table, NpyPath("rows"), "--ids", NpyPath("ids"),
             "--id-space", "1000", "--placement", placement, "--json"});
    ASSERT_EQ(result.exit_code, 0) << result.err;
    EXPECT_EQ(ParseJson(result.out).fields().at("rows_written").number_value(),
              3);
  }
  ASSERT_EQ(Ctl({"import", "zeros", NpyPath("rows"), "--ids", NpyPath("ids"),
                 "--id-space", "1000", "--missing", "zeros"})
                .exit_code,
            0);
  for (int restart = 0; restart < 2; ++restart) {
    for (const char* table : {"sparse_ram", "sparse_ssd"}) {
      // Twice, for the ssd table's cache.
      for (int pass = 0; pass < 2; ++pass) {
        CommandResult result =
            Ctl({"lookup", table, "--rows", "41,5,700,999,3", "--json"});
        ASSERT_EQ(result.exit_code, 0) << result.err;
        EXPECT_THAT(
            result.out,
            HasSubstr("\"rows\":[[2,2.00999999],[0,0],[0,0.00999999978],"
                      "[0,0],[1,1.00999999]]"));
        EXPECT_THAT(result.out, HasSubstr("\"missing\":[1,3]"));
      }
      const google::protobuf::Struct described =
          ParseJson(Ctl({"describe", table, "--json"}).out);
      EXPECT_EQ(described.fields().at("rows").number_value(), 1000);
      EXPECT_EQ(described.fields().at("rows_written").number_value(), 3);
      EXPECT_EQ(described.fields().at("missing_rows").string_value(), "report");
      const auto& stats = described.fields().at("stats").struct_value();
      // The ram table holds its 3 rows; the ssd table stores 3 and has
      // cached them.
      EXPECT_EQ(stats.fields().at("rows_in_ram").number_value(), 3) << table;
      EXPECT_EQ(stats.fields().at("rows_on_ssd").number_value(),
                std::string(table) == "sparse_ssd" ? 3 : 0);
    }
    const CommandResult zeros =
        Ctl({"lookup", "zeros", "--rows", "5,3", "--json"});
    EXPECT_THAT(zeros.out, HasSubstr("\"rows\":[[0,0],[1,1.00999999]]"));
    EXPECT_THAT(zeros.out, HasSubstr("\"missing\":[]"));
    StartServer();
    if (HasFatalFailure()) return;
  }

  WriteNpyFile(NpyPath("dup"), "<i8", {3}, Int64s({7, 3, 7}));
  CommandResult result = Ctl({"import", "dup", NpyPath("rows"), "--ids",
                              NpyPath("dup"), "--id-space", "1000"});
  EXPECT_NE(result.exit_code, 0);
  EXPECT_THAT(result.err, HasSubstr("row id 7 appears twice"));
  result = Ctl({"import", "far", NpyPath("rows"), "--ids", NpyPath("ids"),
                "--id-space", "100"});
  EXPECT_NE(result.exit_code, 0);
  EXPECT_THAT(result.err, HasSubstr("not below --id-space 100"));
  WriteNpyFile(NpyPath("two"), "<i8", {2}, Int64s({1, 2}));
  result = Ctl({"import", "few", NpyPath("rows"), "--ids", NpyPath("two"),
                "--id-space", "100"});
  EXPECT_NE(result.exit_code, 0);
  EXPECT_THAT(result.err, HasSubstr("holds 2 ids but"));
}

TEST(ImportSparseLimitTest, TheImportLimitCountsStoredRowsNotTheIdSpace) {
  TempDir dir;
  // 4 KB of rows at most, against an id space of 10^12 rows x 8 B.
  absl::StatusOr<std::unique_ptr<ServerProcess>> server = ServerProcess::Start(
      dir.path() + "/data", {"--max-import-bytes", "4096"});
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string rows = dir.path() + "/rows.npy";
  const std::string ids = dir.path() + "/ids.npy";
  auto import = [&](int count) {
    std::vector<int64_t> values;
    for (int i = 0; i < count; ++i) values.push_back(int64_t{i} * 1000003);
    WriteNpyFile(ids, "<i8", {static_cast<uint64_t>(count)}, Int64s(values));
    WriteNpyFile(rows, "<f4", {static_cast<uint64_t>(count), 2},
                 F32Rows(count, 2));
    return RunEngramctl((*server)->address(),
                        {"import", absl::StrCat("t", count), rows, "--ids", ids,
                         "--id-space", "1000000000000", "--placement", "ssd"});
  };
  CommandResult result = import(100);  // 800 B
  EXPECT_EQ(result.exit_code, 0) << result.err;
  result = import(1000);  // 8000 B
  EXPECT_NE(result.exit_code, 0);
  EXPECT_THAT(result.err, HasSubstr("RESOURCE_EXHAUSTED"));
  EXPECT_THAT(result.err, HasSubstr("--max-import-bytes"));
  // In RAM the whole id space would be held: refused up front.
  result = RunEngramctl((*server)->address(),
                        {"import", "in_ram", rows, "--ids", ids, "--id-space",
                         "1000000000000", "--placement", "ram"});
  EXPECT_NE(result.exit_code, 0);
  EXPECT_THAT(result.err, HasSubstr("exceeds the import limit"));
}

TEST_F(ImportTest, RawFilesNeedAWholeNumberOfRows) {
  const std::string raw = dir_.path() + "/rows.bin";
  std::ofstream(raw, std::ios::binary) << std::string("abcdefghijkl", 12);
  CommandResult result = Ctl({"import", "raw", raw, "--row-bytes", "4"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  result = Ctl({"lookup", "raw", "--rows", "2,0", "--json"});
  EXPECT_THAT(result.out, HasSubstr("[\"696a6b6c\",\"61626364\"]"));
  result = Ctl({"import", "odd", raw, "--row-bytes", "5"});
  EXPECT_NE(result.exit_code, 0);
  EXPECT_THAT(result.err, HasSubstr("not a whole number of 5-byte rows"));
  result = Ctl({"import", "unsized", raw});
  EXPECT_NE(result.exit_code, 0);
  EXPECT_THAT(result.err, HasSubstr("--row-bytes"));
}

TEST(ImportServerFileTest, ServerReadsFilesOnlyInsideItsImportDir) {
  TempDir dir;
  const std::string inside = dir.path() + "/imports";
  std::filesystem::create_directories(inside);
  WriteNpyFile(inside + "/t.npy", "<f4", {4, 2}, F32Rows(4, 2));
  WriteNpyFile(dir.path() + "/outside.npy", "<f4", {4, 2}, F32Rows(4, 2));
  std::filesystem::create_symlink(dir.path() + "/outside.npy",
                                  inside + "/link.npy");
  absl::StatusOr<std::unique_ptr<ServerProcess>> server =
      ServerProcess::Start(dir.path() + "/data", {"--import-dir", inside});
  ASSERT_TRUE(server.ok()) << server.status();
  auto ctl = [&](std::vector<std::string> args) {
    args.insert(args.begin(), "import");
    args.push_back("--server-file");
    return RunEngramctl((*server)->address(), args);
  };
  CommandResult result = ctl({"t", "t.npy", "--placement", "ssd"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  result = RunEngramctl((*server)->address(),
                        {"lookup", "t", "--rows", "3", "--json"});
  EXPECT_THAT(result.out, HasSubstr("[[3,3.00999999]]"));
  for (const std::string& path :
       {dir.path() + "/outside.npy", inside + "/../outside.npy",
        std::string("link.npy")}) {
    result = ctl({"escape", path});
    EXPECT_NE(result.exit_code, 0) << path;
    EXPECT_THAT(result.err, HasSubstr("PERMISSION_DENIED")) << path;
  }
  result = ctl({"none", "missing.npy"});
  EXPECT_THAT(result.err, HasSubstr("NOT_FOUND"));

  absl::StatusOr<std::unique_ptr<ServerProcess>> closed =
      ServerProcess::Start(dir.path() + "/data2", {});
  ASSERT_TRUE(closed.ok()) << closed.status();
  result = RunEngramctl((*closed)->address(),
                        {"import", "t", inside + "/t.npy", "--server-file"});
  EXPECT_THAT(result.err, HasSubstr("FAILED_PRECONDITION"));
}

TEST(ImportOfflineTest, TablesWrittenIntoADataDirAreServedByTheNextServer) {
  TempDir dir;
  const std::string npy = dir.path() + "/t.npy";
  WriteNpyFile(npy, "<f4", {50, 4}, F32Rows(50, 4));
  for (const char* placement : {"ram", "ssd"}) {
    CommandResult result =
        RunCommand({EngramctlPath(), "--data-dir", dir.path() + "/data",
                    "import", placement, npy, "--placement", placement});
    ASSERT_EQ(result.exit_code, 0) << result.err;
  }
  absl::StatusOr<std::unique_ptr<ServerProcess>> server =
      ServerProcess::Start(dir.path() + "/data", {});
  ASSERT_TRUE(server.ok()) << server.status();
  for (const char* table : {"ram", "ssd"}) {
    const CommandResult result = RunEngramctl(
        (*server)->address(), {"lookup", table, "--rows", "49", "--json"});
    EXPECT_THAT(result.out, HasSubstr("[[49,49.0099983"))
        << table << result.err;
  }
  // While the server holds the data directory, an offline import is refused.
  const CommandResult busy =
      RunCommand({EngramctlPath(), "--data-dir", dir.path() + "/data", "import",
                  "more", npy});
  EXPECT_NE(busy.exit_code, 0);
  EXPECT_THAT(busy.err, HasSubstr("lock"));
}

// engramctl import --hash-layer: tables exported from the demo server come
// back addressed as the model's own.
class HashLayerImportTest : public DemoServerTest {
 protected:
  // The exported layers lie in dir_, which the server may read from.
  std::vector<std::string> ExtraServerFlags() const override {
    return {"--import-dir", dir_.path()};
  }

  CommandResult Ctl(const std::vector<std::string>& args) {
    return RunEngramctl(server_->address(), args);
  }

  CommandResult ImportLayer(const std::string& table, int64_t layer,
                            const std::vector<std::string>& extra = {}) {
    return ImportDemoLayerAs(server_->address(), dir_.path(), layer, table,
                             extra);
  }

  std::string SpecDigest(const std::string& table) {
    const CommandResult described =
        RunEngramctl(server_->address(), {"describe", table, "--json"});
    EXPECT_EQ(described.exit_code, 0) << described.err;
    return ParseJson(described.out)
        .fields()
        .at("hash_spec_digest")
        .string_value();
  }

  // The rows the server addresses for a few tokens of `table`.
  absl::StatusOr<std::string> TokenRows(const std::string& table) {
    ENGRAM_ASSIGN_OR_RETURN(std::unique_ptr<client::EngramClient> client,
                            Connect());
    const std::vector<int64_t> tokens = {5, 900, 17, 64000, 3, 3};
    const int rows_per_token =
        (SmallDemoConfig().max_ngram - 1) * SmallDemoConfig().heads_per_ngram;
    std::string out(tokens.size() * rows_per_token * kSmallDemoValues * 4,
                    '\0');
    ENGRAM_RETURN_IF_ERROR(
        client->LookupTokens(table, tokens, 2, 3, {}, absl::MakeSpan(out))
            .status());
    return out;
  }
};

TEST_F(HashLayerImportTest, AnImportedLayerIsAddressedAsTheModelsOwnTable) {
  const CommandResult imported = ImportLayer("imported_3", 3);
  ASSERT_EQ(imported.exit_code, 0) << imported.err;
  const std::string digest = SpecDigest("layer_3");
  ASSERT_FALSE(digest.empty());
  EXPECT_EQ(
      ParseJson(imported.out).fields().at("hash_spec_digest").string_value(),
      digest);

  for (int restart = 0; restart < 2; ++restart) {
    EXPECT_EQ(SpecDigest("imported_3"), digest);
    const absl::StatusOr<std::string> own = TokenRows("layer_3");
    const absl::StatusOr<std::string> rows = TokenRows("imported_3");
    ASSERT_TRUE(own.ok()) << own.status();
    ASSERT_TRUE(rows.ok()) << rows.status();
    EXPECT_TRUE(*rows == *own);
    // The second pass reads the table and its spec back from disk.
    StartServer();
    if (HasFatalFailure()) return;
  }
}

TEST_F(HashLayerImportTest, LayersThatDoNotFitAreRefusedBeforeAnyRowIsSent) {
  const CommandResult other_layer = ImportLayer("t", 3, {"--hash-layer", "7"});
  EXPECT_EQ(other_layer.exit_code, 1);
  EXPECT_THAT(
      other_layer.err,
      HasSubstr(absl::StrCat("--hash-layer 7: table 't' has ", LayerRows(3),
                             " rows but its hash spec "
                             "addresses ",
                             LayerRows(7))));
  const CommandResult no_layer = ImportLayer("t", 3, {"--hash-layer", "5"});
  EXPECT_EQ(no_layer.exit_code, 1);
  EXPECT_THAT(
      no_layer.err,
      HasSubstr("--hash-layer 5 is not one of the Engram layer ids 3,7"));
  const CommandResult wide = ImportLayer(
      "t", 3, {"--n-embed-per-ngram", absl::StrCat(4 * kSmallDemoValues)});
  EXPECT_EQ(wide.exit_code, 1);
  EXPECT_THAT(wide.err, HasSubstr("values per row but its hash spec's rows"));
  const CommandResult map_alone = RunEngramctl(
      server_->address(), {"import", "t", dir_.path() + "/layer_3.npy",
                           "--compression", "map.npy"});
  EXPECT_EQ(map_alone.exit_code, 1);
  EXPECT_THAT(map_alone.err, HasSubstr("give --hash-layer too"));
  const CommandResult opaque = ImportLayer("t", 3, {"--dtype", "opaque"});
  EXPECT_EQ(opaque.exit_code, 1);
  EXPECT_THAT(opaque.err, HasSubstr("needs --n-embed-per-ngram"));
  EXPECT_THAT(opaque.err, ::testing::Not(HasSubstr("%")));  // no progress
  EXPECT_NE(RunEngramctl(server_->address(), {"describe", "t"}).exit_code, 0);

  ASSERT_EQ(ImportLayer("t", 3).exit_code, 0);
  const CommandResult reseeded = ImportLayer("t", 3, {"--seed", "1"});
  EXPECT_EQ(reseeded.exit_code, 1);
  EXPECT_THAT(reseeded.err,
              HasSubstr(absl::StrCat("already exists with hash spec ",
                                     SpecDigest("layer_3"))));
  EXPECT_TRUE(server_->Running());
}

// engram-worker's model config JSON for `config`'s addressing.
std::string ModelConfigJson(const HashSpecConfig& config) {
  return absl::StrCat(
      R"({"layers": 8, "engram": {"layer_ids": [)",
      absl::StrJoin(config.layer_ids, ","), R"(], "seed": )", config.seed,
      R"(, "vocab_sizes": [)", absl::StrJoin(config.vocab_sizes, ","),
      R"(], "max_ngram": )", config.max_ngram, R"(, "heads_per_ngram": )",
      config.heads_per_ngram, R"(, "n_embed_per_ngram": )",
      config.n_embed_per_ngram, R"(, "pad_id": )", config.pad_id,
      R"(, "tokenizer_vocab": )", config.tokenizer_vocab, "}}");
}

TEST_F(HashLayerImportTest, AModelConfigAddressesLikeTheHashFlags) {
  ASSERT_EQ(ImportLayer("by_flags", 3).exit_code, 0);
  const std::string model_config = dir_.path() + "/model.json";
  std::ofstream(model_config) << ModelConfigJson(SmallDemoConfig());
  const std::string layer_rows = dir_.path() + "/layer_3.npy";
  const CommandResult imported = RunEngramctl(
      server_->address(), {"import", "by_config", layer_rows, "--hash-layer",
                           "3", "--model-config", model_config});
  ASSERT_EQ(imported.exit_code, 0) << imported.err;
  EXPECT_EQ(SpecDigest("by_config"), SpecDigest("layer_3"));
  EXPECT_EQ(SpecDigest("by_config"), SpecDigest("by_flags"));
  const absl::StatusOr<std::string> own = TokenRows("layer_3");
  const absl::StatusOr<std::string> rows = TokenRows("by_config");
  ASSERT_TRUE(own.ok()) << own.status();
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_TRUE(*rows == *own);

  const CommandResult both = RunEngramctl(
      server_->address(), {"import", "t", layer_rows, "--hash-layer", "3",
                           "--model-config", model_config, "--seed", "1"});
  EXPECT_EQ(both.exit_code, 1);
  EXPECT_THAT(both.err,
              HasSubstr(absl::StrCat("--seed and --model-config ", model_config,
                                     " both give the Engram addressing")));
  const CommandResult config_alone =
      RunEngramctl(server_->address(),
                   {"import", "t", layer_rows, "--model-config", model_config});
  EXPECT_EQ(config_alone.exit_code, 1);
  EXPECT_THAT(config_alone.err, HasSubstr("give --hash-layer too"));
  // The config's row width is checked against the file's, as the flag's is.
  HashSpecConfig wider = SmallDemoConfig();
  wider.n_embed_per_ngram *= 2;
  std::ofstream(model_config) << ModelConfigJson(wider);
  const CommandResult wide = RunEngramctl(
      server_->address(), {"import", "t", layer_rows, "--hash-layer", "3",
                           "--model-config", model_config});
  EXPECT_EQ(wide.exit_code, 1);
  EXPECT_THAT(wide.err, HasSubstr("values per row but its hash spec's rows"));
  EXPECT_NE(RunEngramctl(server_->address(), {"describe", "t"}).exit_code, 0);
}

TEST_F(HashLayerImportTest, AFileTheServerReadsIsCheckedThereAgainstItsSpec) {
  // engramctl does not read the file, so it cannot count its values.
  const CommandResult uncounted =
      ImportLayer("server_read", 3, {"--server-file"});
  EXPECT_EQ(uncounted.exit_code, 1);
  EXPECT_THAT(uncounted.err, HasSubstr("needs --n-embed-per-ngram"));
  // The server refuses a width its rows do not have, before reading them.
  const CommandResult wide =
      ImportLayer("server_read", 3,
                  {"--server-file", "--n-embed-per-ngram",
                   absl::StrCat(4 * kSmallDemoValues)});
  EXPECT_EQ(wide.exit_code, 1);
  EXPECT_THAT(wide.err, HasSubstr("INVALID_ARGUMENT: table 'server_read' has "
                                  "8 values per row but its hash spec's rows "
                                  "hold 16 (n_embed_per_ngram 32 / 2 heads)"));
  const CommandResult read =
      ImportLayer("server_read", 3,
                  {"--server-file", "--n-embed-per-ngram",
                   absl::StrCat(2 * kSmallDemoValues)});
  ASSERT_EQ(read.exit_code, 0) << read.err;
  EXPECT_EQ(SpecDigest("server_read"), SpecDigest("layer_3"));
}

TEST_F(HashLayerImportTest, AnExportWithItsHashSpecImportsBackAddressedAlike) {
  const std::string rows = dir_.path() + "/out.npy";
  const std::string spec = dir_.path() + "/out.spec.json";
  const CommandResult plain = Ctl({"export", "layer_3", rows});
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_THAT(plain.err, HasSubstr("export with --hash-spec SPEC.json to keep "
                                   "it"));
  // The rows alone make a table of raw row ids.
  ASSERT_EQ(Ctl({"import", "rows_only", rows}).exit_code, 0);
  CommandResult refused =
      Ctl({"export", "rows_only", rows, "--hash-spec", spec});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.err, HasSubstr("FAILED_PRECONDITION: table 'rows_only' "
                                     "has no hash spec"));
  refused = Ctl({"export", "layer_3", rows, "--hash-spec", spec,
                 "--compression", dir_.path() + "/map.npy"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.err, HasSubstr("hashes raw token ids"));
  EXPECT_FALSE(std::filesystem::exists(spec));

  const CommandResult exported =
      Ctl({"export", "layer_3", rows, "--hash-spec", spec, "--json"});
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  EXPECT_EQ(
      ParseJson(exported.out).fields().at("hash_spec_file").string_value(),
      spec);
  refused = Ctl(
      {"import", "again_3", rows, "--hash-spec", spec, "--hash-layer", "3"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.err, HasSubstr("both give the table's addressing"));
  refused =
      Ctl({"import", "again_3", rows, "--hash-spec", spec, "--seed", "7"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.err, HasSubstr("--seed and --hash-spec"));

  const CommandResult imported =
      Ctl({"import", "again_3", rows, "--hash-spec", spec});
  ASSERT_EQ(imported.exit_code, 0) << imported.err;
  EXPECT_EQ(SpecDigest("again_3"), SpecDigest("layer_3"));
  const absl::StatusOr<std::string> own = TokenRows("layer_3");
  const absl::StatusOr<std::string> again = TokenRows("again_3");
  ASSERT_TRUE(own.ok()) << own.status();
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(*again == *own);
  // The same spec over rows it does not address is refused.
  const std::string few_rows = dir_.path() + "/few_rows.npy";
  WriteNpyFile(few_rows, "<f4", {10, kSmallDemoValues},
               F32Rows(10, kSmallDemoValues));
  refused = Ctl({"import", "few_3", few_rows, "--hash-spec", spec});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.err, HasSubstr("--hash-spec " + spec +
                                     ": table 'few_3' "
                                     "has 10 rows but its hash spec "
                                     "addresses"));
}

TEST_F(HashLayerImportTest, AShardKeepsItsSpecButLeavesTokensToTheShardMap) {
  const CommandResult imported =
      ImportLayer("shard_3", 3, {"--row-range", "0:100"});
  ASSERT_EQ(imported.exit_code, 0) << imported.err;
  EXPECT_EQ(SpecDigest("shard_3"), SpecDigest("layer_3"));
  const CommandResult row = RunEngramctl(
      server_->address(), {"lookup", "shard_3", "--rows", "99", "--json"});
  EXPECT_EQ(row.exit_code, 0) << row.err;
  const absl::Status tokens = TokenRows("shard_3").status();
  EXPECT_EQ(tokens.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(tokens.message(), HasSubstr("is a shard here (rows [0, 100)"));
}

// A layer of a model that compresses token ids (the reference's
// CompressedTokenizer), imported with its map: the server compresses raw
// ids itself, so token lookups of raw ids get the model's rows.
class CompressedLayerImportTest : public HashLayerImportTest {
 protected:
  void SetUp() override {
    HashLayerImportTest::SetUp();
    if (HasFatalFailure()) return;
    map_ = DemoCompressionMap(7919);
    map_file_ = dir_.path() + "/map.npy";
    WriteCompressionMapNpy(map_file_, *map_);
  }

  // Layer 3's spec with `map` (the model's when it is map_).
  static HashSpec Spec(std::shared_ptr<const CompressionMap> map) {
    HashSpecConfig config = SmallDemoConfig();
    config.compression = std::move(map);
    return *HashSpec::FromConfig(config);
  }

  // The reference's rows of `raw_tokens` (2 x 3) in layer 3 of the model.
  std::string ModelRows(const std::vector<int64_t>& raw_tokens) {
    const HashSpec spec = Spec(map_);
    std::vector<int64_t> ids(raw_tokens.size() * spec.rows_per_token());
    EXPECT_TRUE(
        ComputeRowIds(spec, 0, raw_tokens, 2, 3, {}, absl::MakeSpan(ids)).ok());
    return ExpectedDemoRows(3, std::vector<uint64_t>(ids.begin(), ids.end()));
  }

  // Expects `table`'s token lookups through `client` to compress raw ids
  // (some beyond the compressed vocabulary) as the model does.
  void ExpectCompressesLikeTheModel(client::EngramClient& client,
                                    const std::string& table) {
    const std::vector<int64_t> raw = {129999, 10, 129290, 64000, 3, 3};
    const std::string expected = ModelRows(raw);
    std::string out(expected.size(), '?');
    const auto looked_up =
        client.LookupTokens(table, raw, 2, 3, {}, absl::MakeSpan(out));
    ASSERT_TRUE(looked_up.ok()) << table << ": " << looked_up.status();
    EXPECT_TRUE(out == expected) << table;
  }

  // A raw import of exported layer 3 as `table`, read by the server, with
  // `spec` and `lookup` as given (engramctl always sends its map).
  grpc::Status ImportWithLookup(const std::string& table, const HashSpec& spec,
                                const std::string& lookup) {
    v1::ImportTableRequest request;
    v1::ImportTableHeader* header = request.mutable_header();
    header->mutable_info()->set_name(table);
    *header->mutable_info()->mutable_hash_spec() =
        HashSpecLayerToProto(spec, 0);
    header->mutable_source_file()->set_path(dir_.path() + "/layer_3.npy");
    header->set_compression_lookup(lookup);
    return RawImport(server_->address(), {request});
  }

  std::shared_ptr<const CompressionMap> map_;
  std::string map_file_;
};

TEST_F(CompressedLayerImportTest,
       TheServerCompressesRawTokensWithTheLayersMap) {
  ASSERT_EQ(ImportLayer("ram_3", 3, {"--compression", map_file_}).exit_code, 0);
  const CommandResult ssd = ImportLayer(
      "ssd_3", 3, {"--compression", map_file_, "--placement", "ssd"});
  ASSERT_EQ(ssd.exit_code, 0) << ssd.err;
  // A patched version keeps its base's map (the patch changes a row that
  // the tokens below do not address).
  const std::string patch_ids = dir_.path() + "/patch_ids.npy";
  const std::string patch_rows = dir_.path() + "/patch_rows.npy";
  WriteNpyFile(patch_ids, "<i8", {1},
               Int64s({static_cast<int64_t>(LayerRows(3) - 1)}));
  WriteNpyFile(patch_rows, "<f4", {1, kSmallDemoValues},
               F32Rows(1, kSmallDemoValues));
  const CommandResult patched = RunEngramctl(
      server_->address(),
      {"patch", "apply", "ram_3", "--ids", patch_ids, "--rows", patch_rows});
  ASSERT_EQ(patched.exit_code, 0) << patched.err;
  // 129999 lies beyond the compressed ids; 10 and 129290 compress alike.
  const std::vector<int64_t> beyond_vocab = {129999, 10, 129290, 64000, 3, 3};
  const std::vector<int64_t> in_vocab = {10, 20, 30, 40, 50, 60};
  for (int restart = 0; restart < 2; ++restart) {
    absl::StatusOr<std::unique_ptr<client::EngramClient>> connected = Connect();
    ASSERT_TRUE(connected.ok()) << connected.status();
    client::EngramClient* const client = connected->get();
    for (const std::string table : {"ram_3", "ssd_3"}) {
      for (const std::vector<int64_t>& raw : {beyond_vocab, in_vocab}) {
        const std::string expected = ModelRows(raw);
        std::string out(expected.size(), '?');
        const auto looked_up =
            client->LookupTokens(table, raw, 2, 3, {}, absl::MakeSpan(out));
        ASSERT_TRUE(looked_up.ok()) << table << ": " << looked_up.status();
        EXPECT_TRUE(out == expected) << table << ", pass " << restart;
      }
      std::string out(ModelRows(in_vocab).size(), '?');
      const std::vector<int64_t> beyond_map = {0, 1, 2, 3, kDemoRawVocab, 5};
      const absl::Status refused =
          client->LookupTokens(table, beyond_map, 2, 3, {}, absl::MakeSpan(out))
              .status();
      EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument);
      EXPECT_THAT(refused.message(),
                  HasSubstr("token 130000 at position 4 is outside the "
                            "compression map's raw vocabulary [0, 130000)"));
    }
    // The model's raw ids are compressed, not hashed as they are.
    std::string uncompressed(ModelRows(in_vocab).size(), '?');
    ASSERT_TRUE(client
                    ->LookupTokens("layer_3", in_vocab, 2, 3, {},
                                   absl::MakeSpan(uncompressed))
                    .ok());
    EXPECT_FALSE(uncompressed == ModelRows(in_vocab));
    // The second pass reads the tables and their maps back from disk.
    StartServer();
    if (HasFatalFailure()) return;
  }
}

TEST_F(CompressedLayerImportTest,
       AnExportWithItsHashSpecAndMapImportsBackCompressingAlike) {
  ASSERT_EQ(ImportLayer("ram_3", 3, {"--compression", map_file_}).exit_code, 0);
  const std::string rows = dir_.path() + "/out.npy";
  const std::string spec = dir_.path() + "/out.spec.json";
  const std::string map = dir_.path() + "/out.map.npy";
  const CommandResult plain = Ctl({"export", "ram_3", rows});
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_THAT(plain.err, HasSubstr("--hash-spec SPEC.json --compression "
                                   "MAP.npy to keep it"));
  // A spec without the map it names is refused on both sides.
  CommandResult refused = Ctl({"export", "ram_3", rows, "--hash-spec", spec});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.err, HasSubstr("give --compression MAP.npy too"));
  EXPECT_FALSE(std::filesystem::exists(spec));

  const CommandResult exported = Ctl({"export", "ram_3", rows, "--hash-spec",
                                      spec, "--compression", map, "--json"});
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  EXPECT_EQ(
      ParseJson(exported.out).fields().at("compression_file").string_value(),
      map);
  EXPECT_EQ(ReadFile(map), ReadFile(map_file_));
  refused = Ctl({"import", "restored_3", rows, "--hash-spec", spec});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.err, HasSubstr("give its map with --compression"));

  const CommandResult restored =
      Ctl({"import", "restored_3", rows, "--hash-spec", spec, "--compression",
           map});
  ASSERT_EQ(restored.exit_code, 0) << restored.err;
  EXPECT_EQ(SpecDigest("restored_3"), SpecDigest("ram_3"));
  absl::StatusOr<std::unique_ptr<client::EngramClient>> client = Connect();
  ASSERT_TRUE(client.ok()) << client.status();
  ExpectCompressesLikeTheModel(**client, "restored_3");
}

TEST_F(CompressedLayerImportTest, AnOfflineImportKeepsTheMapToo) {
  const std::string offline_dir = dir_.path() + "/offline";
  const CommandResult imported = ImportDemoLayerTo(
      {"--data-dir", offline_dir}, server_->address(), dir_.path(), 3,
      "offline_3", {"--compression", map_file_});
  ASSERT_EQ(imported.exit_code, 0) << imported.err;
  absl::StatusOr<std::unique_ptr<ServerProcess>> offline_server =
      ServerProcess::Start(offline_dir, {});
  ASSERT_TRUE(offline_server.ok()) << offline_server.status();
  absl::StatusOr<std::unique_ptr<client::EngramClient>> client =
      ConnectClient((*offline_server)->address());
  ASSERT_TRUE(client.ok()) << client.status();
  ExpectCompressesLikeTheModel(**client, "offline_3");
}

TEST_F(CompressedLayerImportTest, TheLookupMustBeTheOneTheSpecNames) {
  ASSERT_EQ(ImportLayer("ram_3", 3, {"--compression", map_file_}).exit_code, 0);
  const grpc::Status other =
      ImportWithLookup("t", Spec(map_), DemoCompressionMap(3)->LittleEndian());
  EXPECT_EQ(other.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(
      other.error_message(),
      HasSubstr(absl::StrCat("table 't' hashes token ids compressed by map ",
                             CompressionDigest(map_.get()),
                             "; the compression lookup given is map ",
                             CompressionDigest(DemoCompressionMap(3).get()))));
  const grpc::Status raw_ids =
      ImportWithLookup("t", Spec(nullptr), map_->LittleEndian());
  EXPECT_EQ(raw_ids.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(raw_ids.error_message(),
              HasSubstr("hashes raw token ids, so it takes no compression "
                        "map"));
  const grpc::Status torn =
      ImportWithLookup("t", Spec(map_), map_->LittleEndian().substr(3));
  EXPECT_EQ(torn.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(torn.error_message(), HasSubstr("not a whole number"));
  EXPECT_NE(RunEngramctl(server_->address(), {"describe", "t"}).exit_code, 0);

  // Clients can take the map from the server.
  absl::StatusOr<std::unique_ptr<client::EngramClient>> client = Connect();
  ASSERT_TRUE(client.ok()) << client.status();
  const auto held = (*client)->GetCompressionMap("ram_3");
  ASSERT_TRUE(held.ok()) << held.status();
  EXPECT_EQ(CompressionDigest(held->get()), CompressionDigest(map_.get()));
  EXPECT_TRUE(absl::c_equal((*held)->lookup(), map_->lookup()));
  const absl::Status raw_table =
      (*client)->GetCompressionMap("layer_3").status();
  EXPECT_EQ(raw_table.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(raw_table.message(), HasSubstr("hashes raw token ids"));
  EXPECT_EQ((*client)->GetCompressionMap("nope").status().code(),
            absl::StatusCode::kNotFound);

  // Without the map the table is served by row id, and token lookups (and
  // requests for the map) say what is missing.
  ASSERT_TRUE(ImportWithLookup("mapless_3", Spec(map_), "").ok());
  for (const absl::Status& status :
       {TokenRows("mapless_3").status(),
        (*client)->GetCompressionMap("mapless_3").status()}) {
    EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(status.message(),
                HasSubstr("which the server does not hold (the table was "
                          "imported without it)"));
  }
  // A prefetcher given no map has none to fetch.
  const absl::Status prefetcher =
      client::Prefetcher::Create(client->get(), {.tables = {"mapless_3"}})
          .status();
  EXPECT_EQ(prefetcher.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(prefetcher.message(),
              HasSubstr("; give the prefetcher the model's map (its "
                        "compression option)"));
  const CommandResult explained =
      RunEngramctl(server_->address(),
                   {"explain", "--table", "mapless_3", "--tokens", "1,2"});
  EXPECT_EQ(explained.exit_code, 1);
  EXPECT_THAT(explained.err, HasSubstr("; give the map as --compression"));
  // DescribeTable says which tables' maps the server holds.
  for (const auto& [table, held] : std::vector<std::pair<std::string, bool>>{
           {"ram_3", true}, {"mapless_3", false}, {"layer_3", false}}) {
    const absl::StatusOr<client::TableDescription> described =
        (*client)->DescribeTable(table);
    ASSERT_TRUE(described.ok()) << described.status();
    EXPECT_EQ(described->compression_map_held, held) << table;
  }
  EXPECT_THAT(
      RunEngramctl(server_->address(), {"tables"}).out,
      HasSubstr(absl::StrCat("compression=", CompressionDigest(map_.get()),
                             " (map not held)")));
  EXPECT_TRUE(server_->Running());
}

// Raw ImportTable calls: streams that lie about their rows leave nothing.
class ImportStreamTest : public ImportTest {
 protected:
  grpc::Status Import(const std::string& name, uint64_t rows,
                      const std::vector<std::string>& chunks,
                      const std::string& digest) {
    std::vector<v1::ImportTableRequest> messages(1);
    v1::TableInfo* info = messages[0].mutable_header()->mutable_info();
    info->set_name(name);
    info->set_rows(rows);
    info->set_row_bytes(4);
    info->set_element_type(v1::ELEMENT_TYPE_OPAQUE);
    for (const std::string& chunk : chunks) {
      messages.emplace_back().set_rows(chunk);
    }
    if (!digest.empty()) messages.emplace_back().set_content_digest(digest);
    return RawImport(server_->address(), messages);
  }

  void ExpectAbsent(const std::string& name) {
    CommandResult result = Ctl({"describe", name});
    EXPECT_THAT(result.err, HasSubstr("NOT_FOUND"));
  }
};

TEST_F(ImportStreamTest, ShortLongAndMisdigestedImportsFail) {
  grpc::Status status = Import("short", 3, {"aaaa", "bbbb"}, "");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("ended after 8 bytes"));
  ExpectAbsent("short");

  status = Import("long", 1, {"aaaa", "b"}, "");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  ExpectAbsent("long");

  status = Import("hashed", 2, {"aaaabbbb"}, std::string(64, '0'));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("content_digest"));
  ExpectAbsent("hashed");

  internal::Sha256 hash;
  hash.Update("aaaabbbb");
  status = Import("hashed", 2, {"aaaa", "bbbb"},
                  internal::Sha256::ToHex(hash.Finish()));
  EXPECT_TRUE(status.ok()) << status.error_message();
}

// Sends the header and part of the rows of a 1000-row import, leaving the
// stream open; `finish` then decides its fate.
void HalfImport(const std::string& address, const std::string& name,
                const std::function<void(grpc::ClientContext&)>& finish) {
  auto stub = v1::EngramAdmin::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  v1::ImportTableResponse response;
  auto writer = stub->ImportTable(&context, &response);
  v1::ImportTableRequest request;
  v1::TableInfo* info = request.mutable_header()->mutable_info();
  info->set_name(name);
  info->set_rows(1000);
  info->set_row_bytes(4);
  info->set_element_type(v1::ELEMENT_TYPE_OPAQUE);
  writer->Write(request);
  request.set_rows(std::string(400, 'x'));
  writer->Write(request);
  finish(context);
}

TEST_F(ImportStreamTest, AbandonedImportLeavesNothingBehind) {
  HalfImport(server_->address(), "abandoned",
             [](grpc::ClientContext& context) { context.TryCancel(); });
  ExpectAbsent("abandoned");
  EXPECT_EQ(Ctl({"tables", "--json"}).exit_code, 0);
}

TEST_F(ImportStreamTest, ServerKilledMidImportRestartsWithoutTheTable) {
  HalfImport(server_->address(), "interrupted",
             [this](grpc::ClientContext& context) {
               server_.reset();  // SIGKILL with the import in flight.
               context.TryCancel();
             });
  StartServer();
  ExpectAbsent("interrupted");
}

TEST(ImportDiskFullTest, FailedWriteLeavesNothingAndServingGoesOn) {
  TempDir dir;
  // The server may write no file larger than 64 KiB: a 1 MB table cannot
  // be stored, as on a full disk.
  absl::StatusOr<std::unique_ptr<ServerProcess>> server =
      ServerProcess::Start(dir.path() + "/data", {}, absl::Seconds(60),
                           {"/usr/bin/prlimit", "--fsize=65536", "--"});
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string npy = dir.path() + "/big.npy";
  WriteNpyFile(npy, "<f4", {1000, 250}, F32Rows(1000, 250));
  CommandResult result =
      RunEngramctl((*server)->address(), {"import", "big", npy});
  EXPECT_NE(result.exit_code, 0);
  EXPECT_THAT(result.err, HasSubstr("INTERNAL"));
  EXPECT_THAT(result.err, HasSubstr("File too large"));
  const std::string small = dir.path() + "/small.npy";
  WriteNpyFile(small, "<f4", {10, 4}, F32Rows(10, 4));
  result = RunEngramctl((*server)->address(), {"import", "small", small});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  result = RunEngramctl((*server)->address(), {"tables", "--json"});
  EXPECT_THAT(result.out, HasSubstr("\"small\""));
  EXPECT_THAT(result.out, ::testing::Not(HasSubstr("\"big\"")));
  // Nothing of the failed import is left on disk, not even a temporary.
  std::vector<std::string> on_disk;
  for (const auto& entry :
       std::filesystem::directory_iterator(dir.path() + "/data/tables")) {
    on_disk.push_back(entry.path().filename().string());
  }
  EXPECT_THAT(on_disk, ::testing::ElementsAre("small"));
}

}  // namespace
}  // namespace engram::testing

// engram-server over TLS and mutual TLS, with throwaway certificates made
// by openssl at test time: a client trusting the server's CA is served; a
// plaintext client, one trusting another CA, and (under mTLS) one without
// a client certificate are refused.
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "client/engram_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_processes.h"

namespace engram::testing {
namespace {

using ::testing::HasSubstr;

// A CA and certificates it signed, in `dir`.
class Certificates {
 public:
  explicit Certificates(const std::string& dir) : dir_(dir) {}

  // Makes ca, server (for 127.0.0.1 and localhost) and client, plus an
  // unrelated CA `other`. False (with a test failure) if openssl fails.
  bool Make() {
    return MakeCa("ca") && MakeCa("other") &&
           MakeSigned("server", "subjectAltName=IP:127.0.0.1,DNS:localhost") &&
           MakeSigned("client", "extendedKeyUsage=clientAuth");
  }

  std::string Pem(const std::string& name) const {
    return dir_ + "/" + name + ".pem";
  }
  std::string Key(const std::string& name) const {
    return dir_ + "/" + name + ".key";
  }

 private:
  bool Run(const std::vector<std::string>& argv) {
    const CommandResult run = RunCommand(argv);
    EXPECT_EQ(run.exit_code, 0) << argv[1] << ": " << run.err;
    return run.exit_code == 0;
  }

  bool MakeCa(const std::string& name) {
    return Run({"/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", Key(name),
                "-out", Pem(name), "-days", "1", "-subj",
                "/CN=engram-test-" + name});
  }

  bool MakeSigned(const std::string& name, const std::string& extension) {
    const std::string csr = dir_ + "/" + name + ".csr";
    const std::string ext = dir_ + "/" + name + ".ext";
    std::ofstream(ext) << extension << "\n";
    return Run({"/usr/bin/openssl", "req", "-newkey", "ec", "-pkeyopt",
                "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", Key(name),
                "-out", csr, "-subj", "/CN=" + name}) &&
           Run({"/usr/bin/openssl", "x509", "-req", "-in", csr, "-CA",
                Pem("ca"), "-CAkey", Key("ca"), "-CAcreateserial", "-out",
                Pem(name), "-days", "1", "-extfile", ext});
  }

  const std::string dir_;
};

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(certs_.Make()); }

  void StartServer(std::vector<std::string> extra) {
    extra.push_back("--tls-cert-file=" + certs_.Pem("server"));
    extra.push_back("--tls-key-file=" + certs_.Key("server"));
    auto server = ServerProcess::Start(dir_.path() + "/data", extra);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  // ListTables from a client with `tls`.
  absl::Status Call(const ClientTlsFiles& tls) const {
    client::ClientOptions options;
    options.server_address = server_->address();
    options.default_timeout = absl::Seconds(5);
    options.tls = tls;
    auto client = client::EngramClient::Create(options);
    if (!client.ok()) return client.status();
    return (*client)->ListTables().status();
  }

  TempDir dir_;
  Certificates certs_{dir_.path()};
  std::unique_ptr<ServerProcess> server_;
};

TEST_F(TlsTest, ServesClientsThatTrustItsCaAndRefusesOthers) {
  StartServer({});
  EXPECT_TRUE(Call({.ca_file = certs_.Pem("ca")}).ok());
  EXPECT_EQ(Call({}).code(), absl::StatusCode::kUnavailable);  // plaintext
  EXPECT_EQ(Call({.ca_file = certs_.Pem("other")}).code(),
            absl::StatusCode::kUnavailable);
  // The CLI too.
  const CommandResult ok =
      RunEngramctl(server_->address(),
                   {"--tls-ca-file=" + certs_.Pem("ca"), "tables", "--json"});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  const CommandResult plain = RunEngramctl(server_->address(), {"tables"});
  EXPECT_NE(plain.exit_code, 0);
  EXPECT_TRUE(server_->Running());
}

TEST_F(TlsTest, MutualTlsRequiresAClientCertificateFromTheCa) {
  StartServer({"--tls-client-ca-file=" + certs_.Pem("ca")});
  EXPECT_TRUE(Call({.ca_file = certs_.Pem("ca"),
                    .cert_file = certs_.Pem("client"),
                    .key_file = certs_.Key("client")})
                  .ok());
  EXPECT_EQ(Call({.ca_file = certs_.Pem("ca")}).code(),
            absl::StatusCode::kUnavailable);
  // A certificate of the other CA is no better than none.
  EXPECT_EQ(Call({.ca_file = certs_.Pem("ca"),
                  .cert_file = certs_.Pem("other"),
                  .key_file = certs_.Key("other")})
                .code(),
            absl::StatusCode::kUnavailable);
}

TEST_F(TlsTest, BadTlsFlagsStopTheServerWithAMessage) {
  const CommandResult no_key = RunCommand(
      {ServerPath(), "--listen=127.0.0.1:0", "--data-dir=" + dir_.path(),
       "--tls-cert-file=" + certs_.Pem("server")});
  EXPECT_EQ(no_key.exit_code, 1);
  EXPECT_THAT(no_key.err, HasSubstr("needs its private key"));
  const CommandResult missing = RunCommand(
      {ServerPath(), "--listen=127.0.0.1:0", "--data-dir=" + dir_.path(),
       "--tls-cert-file=/nonexistent.pem", "--tls-key-file=/nonexistent.key"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("cannot read TLS file /nonexistent.pem"));
  const CommandResult client = RunCommand(
      {EngramctlPath(), "--tls-cert-file=" + certs_.Pem("client"), "tables"});
  EXPECT_NE(client.exit_code, 0);
  EXPECT_THAT(client.err, HasSubstr("needs its private key"));
}

}  // namespace
}  // namespace engram::testing

// What an operator relies on: health checks, reflection, Prometheus metrics
// and TLS, on a real server.
#include <arpa/inet.h>
#include <grpcpp/generic/generic_stub.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <future>
#include <map>
#include <thread>

#include <prometheus/registry.h>

#include "absl/strings/str_cat.h"
#include "services/common/files.h"
#include "services/common/rpc.h"
#include "tests/harness.h"

namespace youma::testing {
namespace {

using Stub = youma::v1::IssuerService::Stub;

grpc::ByteBuffer Bytes(const std::string& s) {
  grpc::Slice slice(s);
  return grpc::ByteBuffer(&slice, 1);
}

std::string Text(const grpc::ByteBuffer& b) {
  std::vector<grpc::Slice> slices;
  (void)b.Dump(&slices);
  std::string out;
  for (const auto& s : slices) out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return out;
}

std::string HttpGet(int port, const std::string& path) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  const std::string req = "GET " + path + " HTTP/1.0\r\nHost: localhost\r\n\r\n";
  REQUIRE(write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size()));
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) out.append(buf, n);
  close(fd);
  return out;
}

// grpc.health.v1.Health/Check over a plaintext channel to `address`; the
// response bytes ("\x08\x01" is SERVING).
std::string HealthCheck(const std::string& address, const std::string& service) {
  grpc::GenericStub stub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  // HealthCheckRequest{service}: field 1, length-delimited.
  std::string req;
  if (!service.empty()) req = std::string("\x0a", 1) + static_cast<char>(service.size()) + service;
  grpc::ByteBuffer request = Bytes(req), response;
  grpc::ClientContext ctx;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&ctx, "/grpc.health.v1.Health/Check", {}, &request, &response,
                 [&](grpc::Status st) { done.set_value(st); });
  const grpc::Status st = done.get_future().get();
  INFO(st.error_message());
  REQUIRE(st.ok());
  return Text(response);
}

TEST_CASE("gRPC health checking answers SERVING for the server and the issuer") {
  TestServer& server = TestServer::Shared();
  for (const std::string service : {"", "youma.v1.IssuerService"}) {
    CHECK(HealthCheck(server.app().address(), service) == std::string("\x08\x01", 2));  // status: SERVING
  }
}

// One ServerReflectionInfo exchange: list_services.
class ListServices : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  explicit ListServices(grpc::GenericStub* stub) {
    request_ = Bytes(std::string("\x3a\x00", 2));  // list_services: ""
    stub->PrepareBidiStreamingCall(&ctx_, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
                                   {}, this);
    StartWrite(&request_);
    StartRead(&response_);
    StartCall();
  }
  void OnWriteDone(bool) override { StartWritesDone(); }
  void OnReadDone(bool ok) override {
    if (ok) text_ += Text(response_);
  }
  void OnDone(const grpc::Status& st) override { done_.set_value(st); }
  std::string Wait() {
    done_.get_future().get();
    return text_;
  }

 private:
  grpc::ClientContext ctx_;
  grpc::ByteBuffer request_, response_;
  std::string text_;
  std::promise<grpc::Status> done_;
};

TEST_CASE("server reflection lists youma's services") {
  TestServer& server = TestServer::Shared();
  grpc::GenericStub stub(grpc::CreateChannel(server.app().address(), grpc::InsecureChannelCredentials()));
  ListServices call(&stub);
  const std::string listed = call.Wait();
  CHECK(listed.find("youma.v1.IssuerService") != std::string::npos);
  CHECK(listed.find("youma.v1.AdminService") != std::string::npos);
}

TEST_CASE("Prometheus metrics count RPCs by method and code, and codes issued") {
  const int port = FreePort();
  TestServer server([&](app::AppOptions& o) { o.metrics_listen = absl::StrCat("127.0.0.1:", port); });
  server.EnsureProduct("alpha");
  TestClient alpha = server.Connect("alpha", youma::v1::ROLE_FACTORY);
  MakeBatch(alpha, youma::v1::BATCH_KIND_BOTTLE, 1234);
  youma::v1::GetBatchRequest missing;
  missing.set_batch_id(999999999);
  youma::v1::Batch b;
  CHECK(alpha.Call(&Stub::GetBatch, missing, &b).error_code() == grpc::NOT_FOUND);
  const std::string page = HttpGet(port, "/metrics");
  CHECK(page.find("youma_codes_issued_total 1234") != std::string::npos);
  CHECK(page.find("youma_batches_created_total 1") != std::string::npos);
  CHECK(page.find("youma_rpc_requests_total{code=\"OK\",method=\"CreateBatch\",service=\"IssuerService\"} 1") !=
        std::string::npos);
  CHECK(page.find("youma_rpc_requests_total{code=\"NOT_FOUND\",method=\"GetBatch\",service=\"IssuerService\"} 1") !=
        std::string::npos);
  CHECK(page.find("youma_rpc_duration_seconds_bucket") != std::string::npos);
  // Read from the database at the scrape: no campaign is live, none flagged yet.
  CHECK(page.find("# TYPE youma_campaign_budget_left_fen gauge") != std::string::npos);
  CHECK(page.find("# TYPE youma_diversion_flags gauge") != std::string::npos);
}

TEST_CASE("every call but a scan is logged with its caller, status and time; a code export with its batch and count") {
  LogCapture capture;
  TestServer server([&](app::AppOptions& o) { o.log = &capture.log; });
  server.EnsureProduct("alpha");
  TestClient factory = server.Connect("alpha", youma::v1::ROLE_FACTORY);
  const std::string token_id = factory.token.substr(3, 16);  // ym_<id>_<secret>
  const youma::v1::Batch batch = MakeBatch(factory, youma::v1::BATCH_KIND_BOTTLE, 5);
  const std::vector<youma::v1::Code> codes = StreamAll(factory, batch.batch_id());
  REQUIRE(codes.size() == 5);
  youma::v1::CreateBatchRequest other;
  other.set_brand("beta");
  other.set_gtin(kGtin);
  other.set_kind(youma::v1::BATCH_KIND_BOTTLE);
  other.set_quantity(1);
  other.set_request_id("not mine");
  youma::v1::Batch ignored;
  CHECK(factory.Call(&Stub::CreateBatch, other, &ignored).error_code() == grpc::PERMISSION_DENIED);
  youma::v1::GetBatchRequest get;
  get.set_batch_id(batch.batch_id());
  CHECK(server.ConnectWithToken("ym_0000000000000000_nope").Call(&Stub::GetBatch, get, &ignored).error_code() ==
        grpc::UNAUTHENTICATED);
  youma::v1::ScanRequest scan;
  scan.set_code(codes[0].url());
  scan.set_role(youma::v1::SCAN_ROLE_CONSUMER);
  scan.set_user_id("u1");
  scan.set_client_scan_id("logged-or-not");
  youma::v1::ScanAnswer answer;
  REQUIRE(server.Connect("alpha", youma::v1::ROLE_SCANNER)
              .Call(&youma::v1::ScanService::Stub::Scan, scan, &answer)
              .ok());

  std::map<std::string, std::vector<nlohmann::json>> by_method;
  for (const nlohmann::json& j : capture.Events("rpc")) by_method[j["method"]].push_back(j);
  CHECK(by_method.count("Scan") == 0);  // the scan log is the database's
  REQUIRE(by_method["CreateBatch"].size() == 2);
  const nlohmann::json& made = by_method["CreateBatch"][0];
  CHECK(made["level"] == "info");
  CHECK(made["service"] == "IssuerService");
  CHECK(made["code"] == "OK");
  CHECK(made["brand"] == "alpha");
  CHECK(made["role"] == "factory");
  CHECK(made["token_id"] == token_id);
  CHECK(made["ms"].get<double>() >= 0);
  CHECK_FALSE(made.contains("message"));
  const nlohmann::json& refused = by_method["CreateBatch"][1];
  CHECK(refused["code"] == "PERMISSION_DENIED");
  CHECK(refused["token_id"] == token_id);
  CHECK(refused["message"].get<std::string>().find("beta") != std::string::npos);
  REQUIRE(by_method["StreamCodes"].size() == 1);
  CHECK(by_method["StreamCodes"][0]["code"] == "OK");
  CHECK(by_method["StreamCodes"][0]["batch_id"] == batch.batch_id());
  CHECK(by_method["StreamCodes"][0]["codes"] == 5);
  CHECK(by_method["StreamCodes"][0]["token_id"] == token_id);
  REQUIRE(by_method["GetBatch"].size() == 1);
  CHECK(by_method["GetBatch"][0]["code"] == "UNAUTHENTICATED");
  CHECK_FALSE(by_method["GetBatch"][0].contains("brand"));  // no caller known
}

TEST_CASE("RPC metrics made by many threads at once count every call once, under one series per code") {
  prometheus::Registry registry;
  common::RpcMetrics metrics(registry);
  common::RpcContext rpc("ScanService", nullptr, nullptr, &metrics);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 1000; ++i) rpc.Record("Scan", i % 10 == t % 2 ? grpc::NOT_FOUND : grpc::OK, 0.001);
    });
  }
  for (auto& th : threads) th.join();
  metrics.Record("ScanService", "Scan", static_cast<grpc::StatusCode>(99), 0.001);
  std::map<std::string, double> by_code;
  double observed = 0;
  for (const auto& family : registry.Collect()) {
    for (const auto& m : family.metric) {
      if (family.name == "youma_rpc_requests_total") {
        for (const auto& l : m.label) {
          if (l.name == "code") by_code[l.value] += m.counter.value;
        }
      }
      if (family.name == "youma_rpc_duration_seconds") observed += static_cast<double>(m.histogram.sample_count);
    }
  }
  CHECK(by_code.size() == 3);
  CHECK(by_code["NOT_FOUND"] == 800);
  CHECK(by_code["OK"] == 7200);
  CHECK(by_code["OTHER"] == 1);
  CHECK(observed == 8001);
}

TEST_CASE("TLS from certificate files: TLS clients get through, plaintext ones do not") {
  char tmpl[] = "/tmp/youma-tls-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  const std::string cmd = absl::StrCat(
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost "
      "-addext subjectAltName=DNS:localhost -keyout ", dir, "/key.pem -out ", dir,
      "/cert.pem 2>/dev/null");
  REQUIRE(std::system(cmd.c_str()) == 0);
  TestServer server([&](app::AppOptions& o) {
    o.tls_cert_file = dir + "/cert.pem";
    o.tls_key_file = dir + "/key.pem";
    o.health_listen = "127.0.0.1:0";
  });
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = *common::ReadFile(dir + "/cert.pem");
  TestClient secure = server.ConnectVia("alpha", youma::v1::ROLE_FACTORY, grpc::SslCredentials(ssl),
                                        "localhost");
  youma::v1::ListBatchesRequest list;
  youma::v1::ListBatchesResponse out;
  const grpc::Status ok = secure.Call(&Stub::ListBatches, list, &out);
  INFO(ok.error_message());
  CHECK(ok.ok());
  TestClient plain = server.ConnectVia("alpha", youma::v1::ROLE_FACTORY,
                                       grpc::InsecureChannelCredentials(), "localhost");
  CHECK(plain.Call(&Stub::ListBatches, list, &out).error_code() == grpc::UNAVAILABLE);
  // Kubernetes' probes speak plaintext gRPC: the health-only port answers them,
  // and serves nothing else.
  REQUIRE(server.app().health_port() > 0);
  const std::string probe_address = absl::StrCat("127.0.0.1:", server.app().health_port());
  CHECK(HealthCheck(probe_address, "youma.v1.ScanService") == std::string("\x08\x01", 2));
  auto probe_channel = grpc::CreateChannel(probe_address, grpc::InsecureChannelCredentials());
  auto issuer_on_probe_port = youma::v1::IssuerService::NewStub(probe_channel);
  grpc::ClientContext ictx;
  ictx.AddMetadata("authorization", "Bearer " + secure.token);
  CHECK(issuer_on_probe_port->ListBatches(&ictx, list, &out).error_code() == grpc::UNIMPLEMENTED);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace youma::testing

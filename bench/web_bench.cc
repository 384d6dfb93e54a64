// bench/web: the scan page (HTML + a durable scan, as a phone's browser gets
// it after the location step) beside the gRPC Scan call on the same server in
// the same run, with the same number of clients; and an empty HTTP request
// (/healthz) as the HTTP front's own floor.
//
//   build/bench/web_bench            # 5 s per measurement
//   build/bench/web_bench --smoke    # a fraction of a second each (CI)
#include <httplib.h>

#include <atomic>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench/bench_server.h"
#include "youma/v1/scan.grpc.pb.h"

namespace {

using youma::bench::Check;
using youma::bench::Load;

}  // namespace

int main(int argc, char** argv) {
  const bool smoke = argc > 1 && std::strcmp(argv[1], "--smoke") == 0;
  const double secs = smoke ? 0.3 : 5.0;
  const int threads = 64;
  youma::bench::BenchServer server([](youma::app::AppOptions& o) {
    o.executor_threads = 64;
    o.db_connections = 32;
    o.web.listen = "127.0.0.1:0";
    o.web.regions_file = YOUMA_WEB_ASSETS "/regions.tsv";
    o.web.console_dir = YOUMA_WEB_ASSETS "/console";
    o.web.threads = 96;
  });
  const std::vector<std::string> codes = server.Codes(smoke ? 5'000 : 200'000);
  std::atomic<uint64_t> next{0};

  auto channel = grpc::CreateChannel(server.app().address(), grpc::InsecureChannelCredentials());
  auto scan = youma::v1::ScanService::NewStub(channel);
  const double grpc_rate = Load(threads, secs, [&](int, uint64_t) {
    const uint64_t n = next++;
    youma::v1::ScanRequest r;
    r.set_code(codes[n % codes.size()]);
    r.set_role(youma::v1::SCAN_ROLE_CONSUMER);
    r.set_user_id(absl::StrCat("grpc-", n % 100000));
    r.set_region("440106");
    r.set_region_source(youma::v1::REGION_SOURCE_IP);
    r.set_client_scan_id(absl::StrCat("g-", n));
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer " + server.admin_token());
    youma::v1::ScanAnswer a;
    const grpc::Status st = scan->Scan(&ctx, r, &a);
    if (!st.ok()) std::fprintf(stderr, "gRPC Scan: %d %s\n", st.error_code(), st.error_message().c_str());
    return st.ok();
  });

  std::vector<std::unique_ptr<httplib::Client>> clients;
  for (int t = 0; t < threads; ++t) {
    clients.push_back(std::make_unique<httplib::Client>("http://" + server.app().http_address()));
    clients.back()->set_keep_alive(true);
    clients.back()->set_tcp_nodelay(true);
  }
  const double health_rate = Load(threads, secs, [&](int t, uint64_t) {
    auto r = clients[t]->Get("/healthz");
    if (!r || r->status != 200) {
      std::fprintf(stderr, "GET /healthz: %s\n", !r ? httplib::to_string(r.error()).c_str() : std::to_string(r->status).c_str());
      return false;
    }
    return true;
  });
  size_t page_bytes = 0;
  const double page_rate = Load(threads, secs, [&](int t, uint64_t) {
    const uint64_t n = next++;
    const std::string& url = codes[n % codes.size()];
    auto r = clients[t]->Get(absl::StrFormat("%s?r=1&sid=%016x", url.substr(url.rfind('/')), n).c_str(),
                             {{"X-Youma-Region", "440106"}});
    if (!r || r->status != 200 || r->body.find("正品") == std::string::npos) {
      std::fprintf(stderr, "scan page: %s\n",
                   !r ? httplib::to_string(r.error()).c_str() : absl::StrCat(r->status, " ", r->body.substr(0, 300)).c_str());
      return false;
    }
    page_bytes = r->body.size();
    return true;
  });

  std::printf("youma web benchmark%s: %d clients, %.1f s per measurement; MariaDB with "
              "innodb_flush_log_at_trx_commit=1\n\n",
              smoke ? " (smoke mode: figures not meaningful)" : "", threads, secs);
  std::printf("%-44s %12s   %-34s %12s %7s\n", "measure", "per second", "limit (same run)", "per second", "ratio");
  std::printf("%-44s %12.0f   %-34s %12.0f %6.0f%%\n", "scan page (HTML + a durable scan)", page_rate,
              "gRPC Scan, same server and clients", grpc_rate, grpc_rate > 0 ? 100 * page_rate / grpc_rate : 0);
  std::printf("%-44s %12.0f   %-34s\n", "empty HTTP request (GET /healthz)", health_rate, "the HTTP front's floor");
  std::printf("\nscan page size: %zu bytes (HTML, one request; target < 50 KB)\n", page_bytes);
  return 0;
}

// bench/issuer: the issuer's throughput beside the limits measured in the same run.
//
//   1. CreateBatch + StreamCodes of a 1,000,000-code batch to a client that
//      discards the codes, compact beside raw keyed BLAKE2b on one core and
//      signed beside raw Ed25519 signing on one core.
//   2. ReportAggregation of 1,000,000 bottle links beside MariaDB's own
//      multi-row insert rate into a table of the same shape.
//   3. PNG export: images per second beside raw ZXing encoding times cores.
//
// A real MariaDB (the embedded launcher) and a real server on loopback.
//   build/bench/issuer_bench            # full sizes
//   build/bench/issuer_bench --smoke    # small sizes (CI)
#include <sodium.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "codegen/keyset_file.h"
#include "printer-export/export.h"
#include "printer-export/qr.h"
#include "bench/bench_server.h"
#include "services/app/app.h"
#include "services/common/files.h"
#include "services/storage/local_mariadb.h"
#include "youma/v1/issuer.grpc.pb.h"

namespace {

using youma::bench::Check;
using youma::bench::Die;
using youma::bench::SecondsSince;
using Clock = std::chrono::steady_clock;
using youma::v1::IssuerService;

struct Client {
  std::string token;
  std::unique_ptr<IssuerService::Stub> issuer;
  std::unique_ptr<grpc::ClientContext> Ctx() const {
    auto c = std::make_unique<grpc::ClientContext>();
    c->AddMetadata("authorization", "Bearer " + token);
    return c;
  }
};

// Raw single-core rates of the primitives, measured for `secs`.
double RawRate(double secs, const std::function<void(uint64_t)>& op) {
  const auto start = Clock::now();
  uint64_t n = 0;
  while (SecondsSince(start) < secs) {
    for (int i = 0; i < 64; ++i) op(n++);
  }
  return n / SecondsSince(start);
}

void Row(const char* what, double figure, const char* unit, const char* limit_name, double limit,
         const char* target) {
  std::printf("%-34s %12.0f %-9s %-32s %12.0f %6.0f%%   %s\n", what, figure, unit, limit_name, limit,
              100.0 * figure / limit, target);
}

}  // namespace

int main(int argc, char** argv) {
  bool smoke = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--smoke") == 0) smoke = true;
  }
  const int64_t batch_codes = smoke ? 20'000 : 1'000'000;
  const int64_t links = smoke ? 10'000 : 1'000'000;
  const int png_images = smoke ? 200 : 5'000;
  const double raw_secs = smoke ? 0.05 : 1.0;
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));

  youma::bench::BenchServer server([](youma::app::AppOptions& o) {
    o.issuer.max_report_codes = 3'000'000;
  });
  youma::app::App* app = &server.app();
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(512 << 20);
  args.SetMaxSendMessageSize(512 << 20);
  Client client{server.admin_token(), IssuerService::NewStub(grpc::CreateCustomChannel(
                                  app->address(), grpc::InsecureChannelCredentials(), args))};
  {
    youma::v1::CreateProductRequest p;
    p.set_gtin("06901234567892");
    p.set_name("bench");
    youma::v1::Product out;
    Check(client.issuer->CreateProduct(client.Ctx().get(), p, &out), "product");
  }
  auto create = [&](youma::v1::BatchKind kind, youma::v1::CodeScheme scheme, int64_t n) {
    static int counter = 0;
    youma::v1::CreateBatchRequest req;
    req.set_gtin("06901234567892");
    req.set_kind(kind);
    req.set_scheme(scheme);
    req.set_quantity(n);
    req.set_request_id(absl::StrCat("bench-", counter++));
    youma::v1::Batch b;
    Check(client.issuer->CreateBatch(client.Ctx().get(), req, &b), "CreateBatch");
    return b;
  };
  auto stream = [&](const youma::v1::Batch& b, std::vector<std::string>* keep) {
    youma::v1::StreamCodesRequest req;
    req.set_batch_id(b.batch_id());
    req.set_chunk_size(8192);
    auto ctx = client.Ctx();
    auto reader = client.issuer->StreamCodes(ctx.get(), req);
    youma::v1::CodeChunk chunk;
    uint64_t n = 0;
    while (reader->Read(&chunk)) {
      n += chunk.codes_size();
      if (keep) {
        for (const auto& c : chunk.codes()) keep->push_back(c.url());
      }
    }
    Check(reader->Finish(), "StreamCodes");
    if (n != b.code_count()) Die("StreamCodes returned the wrong number of codes");
  };

  // Limits, on one core, in this run.
  unsigned char key[32], seed[32], pk[32], sk[64];
  randombytes_buf(key, sizeof key);
  randombytes_buf(seed, sizeof seed);
  crypto_sign_seed_keypair(pk, sk, seed);
  const double raw_blake2b = RawRate(raw_secs, [&](uint64_t i) {
    unsigned char msg[11] = {1}, out[16];
    std::memcpy(msg + 5, &i, 6);
    crypto_generichash(out, 16, msg, 11, key, 32);
  });
  const double raw_sign = RawRate(raw_secs, [&](uint64_t i) {
    unsigned char msg[11] = {2}, sig[64];
    std::memcpy(msg + 5, &i, 6);
    crypto_sign_detached(sig, nullptr, msg, 11, sk);
  });

  std::printf("youma issuer benchmark%s: %d core(s); MariaDB %s\n\n",
              smoke ? " (smoke mode: small sizes, figures not meaningful)" : "", cores,
              app->database().c_str());
  std::printf("%-34s %12s %-9s %-32s %12s %7s   %s\n", "measure", "figure", "unit",
              "limit (same run)", "limit", "ratio", "target");

  // 1. CreateBatch + StreamCodes.
  {
    auto start = Clock::now();
    const auto b = create(youma::v1::BATCH_KIND_BOTTLE, youma::v1::CODE_SCHEME_COMPACT, batch_codes);
    stream(b, nullptr);
    Row(absl::StrCat("compact batch of ", batch_codes, ", streamed").c_str(),
        batch_codes / SecondsSince(start), "codes/s", "raw keyed BLAKE2b, 1 core", raw_blake2b,
        ">= 40%");
    const int64_t signed_codes = batch_codes / 20;
    start = Clock::now();
    const auto s = create(youma::v1::BATCH_KIND_CASE, youma::v1::CODE_SCHEME_SIGNED, signed_codes);
    stream(s, nullptr);
    Row(absl::StrCat("signed batch of ", signed_codes, ", streamed").c_str(),
        signed_codes / SecondsSince(start), "codes/s", "raw Ed25519 sign, 1 core", raw_sign, "");
  }

  // 2. ReportAggregation beside MariaDB's own multi-row insert.
  {
    const int per_case = 24;
    const int64_t ncases = links / per_case;
    const auto cases = create(youma::v1::BATCH_KIND_CASE, youma::v1::CODE_SCHEME_COMPACT, ncases);
    const auto bottles =
        create(youma::v1::BATCH_KIND_BOTTLE, youma::v1::CODE_SCHEME_COMPACT, ncases * per_case);
    std::vector<std::string> case_urls, bottle_urls;
    stream(cases, &case_urls);
    stream(bottles, &bottle_urls);
    youma::v1::AggregationReport report;
    for (int64_t c = 0; c < ncases; ++c) {
      auto* rc = report.add_cases();
      rc->set_case_code(case_urls[c]);
      for (int b = 0; b < per_case; ++b) rc->add_bottle_codes(bottle_urls[c * per_case + b]);
    }
    // The database alone: the same rows, multi-row INSERTs of 1000, one transaction.
    auto raw = app->pool().InTransaction([&](sql::Connection& c) -> absl::StatusOr<double> {
      youma::storage::Execute(c,
                              "CREATE TABLE IF NOT EXISTS bench_links LIKE aggregation_links");
      const auto start = Clock::now();
      const int64_t n = ncases * per_case;
      for (int64_t base = 0; base < n; base += 1000) {
        std::string sql = "INSERT INTO bench_links VALUES ";
        const int64_t m = std::min<int64_t>(1000, n - base);
        for (int64_t i = 0; i < m; ++i) {
          absl::StrAppend(&sql, i ? "," : "", "(", 1'000'000'000'000LL + base + i, ",",
                          (base + i) / per_case, ",'bench','L1',UTC_TIMESTAMP(6))");
        }
        youma::storage::Execute(c, sql);
      }
      return n / SecondsSince(start);
    });
    Check(raw.status(), "raw insert");
    const auto start = Clock::now();
    youma::v1::AggregationResult result;
    auto ctx = client.Ctx();
    Check(client.issuer->ReportAggregation(ctx.get(), report, &result), "ReportAggregation");
    Row(absl::StrCat("ReportAggregation, ", ncases * per_case, " links").c_str(),
        result.links() / SecondsSince(start), "links/s", "MariaDB multi-row INSERT", *raw, ">= 50%");
  }

  // 3. PNG export beside raw ZXing encoding on all cores.
  {
    const auto b = create(youma::v1::BATCH_KIND_BOTTLE, youma::v1::CODE_SCHEME_COMPACT, png_images);
    std::vector<std::string> urls;
    stream(b, &urls);
    const auto start_raw = Clock::now();
    int n = 0;
    while (SecondsSince(start_raw) < raw_secs) {
      auto qr = youma::printer::EncodeQr(urls[n % urls.size()]);
      if (!qr.ok()) Die("encode");
      ++n;
    }
    const double raw_zxing = n / SecondsSince(start_raw) * cores;
    youma::v1::CodeChunk chunk;
    youma::printer::ExportOptions png;
    png.format = "png";
    png.path = server.dir() + "/png";
    auto writer = youma::printer::OpenExport(png);
    Check(writer.status(), "png export");
    const auto start = Clock::now();
    youma::v1::StreamCodesRequest req;
    req.set_batch_id(b.batch_id());
    auto ctx = client.Ctx();
    auto reader = client.issuer->StreamCodes(ctx.get(), req);
    while (reader->Read(&chunk)) Check((*writer)->Write(chunk), "png write");
    Check(reader->Finish(), "StreamCodes");
    Check((*writer)->Finish().status(), "png finish");
    Row(absl::StrCat("PNG export, ", png_images, " images").c_str(),
        png_images / SecondsSince(start), "images/s",
        absl::StrCat("raw ZXing encode x ", cores, " cores").c_str(), raw_zxing, "");
  }
  std::printf("\nThe 20,000,000-code CSV export's peak memory is measured by "
              "bench/export_memory.sh (server and client as separate processes).\n");
  return 0;
}

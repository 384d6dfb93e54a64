// The database dies under the issuer: callers get UNAVAILABLE, nothing is
// half-written, and the same server works again once MariaDB is back.
#include <atomic>
#include <thread>

#include "absl/strings/str_cat.h"
#include "tests/harness.h"

namespace youma::testing {
namespace {

using Stub = youma::v1::IssuerService::Stub;

TEST_CASE("MariaDB killed during CreateBatch: UNAVAILABLE, no partial batch, recovery without restart") {
  TestServer server;  // its own database: this test kills it
  server.EnsureProduct("alpha");
  TestClient alpha = server.Connect("alpha", youma::v1::ROLE_FACTORY);

  struct Outcome {
    std::string request_id;
    grpc::StatusCode code;
    uint64_t batch_id;
  };
  std::vector<Outcome> outcomes;
  std::atomic<bool> stop{false};
  std::thread load([&] {
    for (int i = 0; !stop && i < 5000; ++i) {
      youma::v1::CreateBatchRequest req;
      req.set_gtin(kGtin);
      req.set_kind(youma::v1::BATCH_KIND_SET);
      req.set_set_size(6);
      req.set_quantity(1000);
      req.set_request_id(absl::StrCat("kill-", i));
      youma::v1::Batch b;
      const grpc::Status st = alpha.Call(&Stub::CreateBatch, req, &b);
      outcomes.push_back({req.request_id(), st.error_code(), b.batch_id()});
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  server.db().Kill();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  stop = true;
  load.join();

  int ok = 0, unavailable = 0, other = 0;
  for (const Outcome& o : outcomes) {
    if (o.code == grpc::OK) {
      ++ok;
    } else if (o.code == grpc::UNAVAILABLE) {
      ++unavailable;
    } else {
      ++other;
      INFO(o.request_id, " ", static_cast<int>(o.code));
    }
  }
  CHECK(ok > 0);
  CHECK(unavailable > 0);
  CHECK(other == 0);

  // While it is down, calls fail fast and clearly.
  youma::v1::ListBatchesRequest list;
  youma::v1::ListBatchesResponse listed;
  CHECK(alpha.Call(&Stub::ListBatches, list, &listed).error_code() == grpc::UNAVAILABLE);

  REQUIRE_OK(server.db().Restart());
  // The same server, without a restart: retrying each request id returns its
  // batch, whether or not the first try got through.
  std::set<uint64_t> batch_ids;
  for (const Outcome& o : outcomes) {
    youma::v1::CreateBatchRequest req;
    req.set_gtin(kGtin);
    req.set_kind(youma::v1::BATCH_KIND_SET);
    req.set_set_size(6);
    req.set_quantity(1000);
    req.set_request_id(o.request_id);
    youma::v1::Batch b;
    grpc::Status st = alpha.Call(&Stub::CreateBatch, req, &b);
    if (st.error_code() == grpc::UNAVAILABLE) st = alpha.Call(&Stub::CreateBatch, req, &b);
    INFO(st.error_message());
    REQUIRE(st.ok());
    if (o.code == grpc::OK) CHECK(b.batch_id() == o.batch_id);
    CHECK(b.code_count() == 7000);
    batch_ids.insert(b.batch_id());
  }
  // Every batch is whole: one row, its activation, and disjoint ranges.
  CHECK(server.QueryInt("SELECT COUNT(*) FROM batches") == static_cast<int64_t>(outcomes.size()));
  CHECK(batch_ids.size() == outcomes.size());
  CHECK(server.QueryInt("SELECT COUNT(*) FROM batches b WHERE NOT EXISTS (SELECT 1 FROM "
                        "range_changes r WHERE r.batch_id = b.batch_id)") == 0);
  CHECK(server.QueryInt("SELECT COUNT(*) FROM batches a JOIN batches b ON a.batch_id < b.batch_id "
                        "AND a.batch_id + a.code_count > b.batch_id") == 0);
  CHECK(server.QueryInt("SELECT next_code_id FROM code_id_allocator") ==
        server.QueryInt("SELECT MAX(batch_id + code_count) FROM batches"));
}

}  // namespace
}  // namespace youma::testing

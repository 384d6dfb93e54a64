#include "services/app/database_gauges.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "youma/v1/rules.pb.h"

namespace youma::app {
namespace {

prometheus::MetricFamily GaugeFamily(std::string name, std::string help) {
  prometheus::MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = prometheus::MetricType::Gauge;
  return f;
}

void Add(prometheus::MetricFamily& f, std::vector<prometheus::ClientMetric::Label> labels, double value) {
  prometheus::ClientMetric m;
  m.label = std::move(labels);
  m.gauge.value = value;
  f.metric.push_back(std::move(m));
}

}  // namespace

std::vector<prometheus::MetricFamily> DatabaseGauges::Collect() const {
  std::lock_guard<std::mutex> lock(mu_);
  const absl::Time now = absl::Now();
  if (now - read_ < refresh_) return last_;
  std::vector<prometheus::MetricFamily> fresh;
  const absl::Status st = pool_->WithConnection([&](sql::Connection& c) -> absl::Status {
    prometheus::MetricFamily budget =
        GaugeFamily("youma_campaign_budget_left_fen", "Budget left in each live campaign, in fen (from its budget shards)");
    {
      std::unique_ptr<sql::Statement> st(c.createStatement());
      std::unique_ptr<sql::ResultSet> rs(st->executeQuery(absl::StrCat(
          "SELECT c.brand, c.campaign_id, SUM(b.remaining_fen) FROM campaigns c JOIN budget_shards b "
          "ON b.campaign_id = c.campaign_id WHERE c.state = ", youma::v1::CAMPAIGN_STATE_ACTIVE,
          " GROUP BY c.brand, c.campaign_id")));
      while (rs->next()) {
        Add(budget, {{"brand", rs->getString(1)}, {"campaign", std::to_string(rs->getUInt64(2))}},
            static_cast<double>(rs->getInt64(3)));
      }
    }
    prometheus::MetricFamily flags = GaugeFamily("youma_diversion_flags", "Cases flagged for diversion (窜货), by brand");
    {
      std::unique_ptr<sql::Statement> st(c.createStatement());
      std::unique_ptr<sql::ResultSet> rs(
          st->executeQuery("SELECT brand, COUNT(*) FROM diversion_flags GROUP BY brand"));
      while (rs->next()) Add(flags, {{"brand", rs->getString(1)}}, static_cast<double>(rs->getInt64(2)));
    }
    fresh = {std::move(budget), std::move(flags)};
    return absl::OkStatus();
  });
  // A database that cannot be read costs one slow scrape per refresh, not
  // every scrape: the last values stay until the next try.
  read_ = now;
  if (st.ok()) last_ = std::move(fresh);
  return last_;
}

}  // namespace youma::app

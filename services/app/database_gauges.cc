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

void DatabaseGauges::Refresh(
    Cached& cached, absl::Time now, const std::string& name, const std::string& help,
    const std::function<void(sql::Connection&, prometheus::MetricFamily&)>& read_series) const {
  if (now - cached.read < cached.refresh) return;
  prometheus::MetricFamily fresh = GaugeFamily(name, help);
  const absl::Status st = pool_->WithConnection([&](sql::Connection& c) -> absl::Status {
    read_series(c, fresh);
    return absl::OkStatus();
  });
  // A database that cannot be read costs one slow scrape per refresh, not
  // every scrape: the last values stay until the next try.
  cached.read = now;
  if (st.ok()) cached.last = std::move(fresh);
}

std::vector<prometheus::MetricFamily> DatabaseGauges::Collect() const {
  std::lock_guard<std::mutex> lock(mu_);
  const absl::Time now = absl::Now();
  Refresh(budget_, now, "youma_campaign_budget_left_fen",
          "Budget left in each live campaign, in fen (from its budget shards)",
          [](sql::Connection& c, prometheus::MetricFamily& budget) {
    std::unique_ptr<sql::Statement> st(c.createStatement());
    std::unique_ptr<sql::ResultSet> rs(st->executeQuery(absl::StrCat(
        "SELECT c.brand, c.campaign_id, SUM(b.remaining_fen) FROM campaigns c JOIN budget_shards b "
        "ON b.campaign_id = c.campaign_id WHERE c.state = ", youma::v1::CAMPAIGN_STATE_ACTIVE,
        " GROUP BY c.brand, c.campaign_id")));
    while (rs->next()) {
      Add(budget, {{"brand", rs->getString(1)}, {"campaign", std::to_string(rs->getUInt64(2))}},
          static_cast<double>(rs->getInt64(3)));
    }
  });
  // Counting reads every flag of every brand: less often than the budget.
  Refresh(flags_, now, "youma_diversion_flags", "Cases flagged for diversion (窜货), by brand",
          [](sql::Connection& c, prometheus::MetricFamily& flags) {
    std::unique_ptr<sql::Statement> st(c.createStatement());
    std::unique_ptr<sql::ResultSet> rs(st->executeQuery("SELECT brand, COUNT(*) FROM diversion_flags GROUP BY brand"));
    while (rs->next()) Add(flags, {{"brand", rs->getString(1)}}, static_cast<double>(rs->getInt64(2)));
  });
  std::vector<prometheus::MetricFamily> out;
  for (const Cached* c : {&budget_, &flags_}) {
    if (!c->last.name.empty()) out.push_back(c->last);  // read at least once
  }
  return out;
}

}  // namespace youma::app

// Gauges read from the database when Prometheus scrapes, for what no single
// server counts: the budget left in each live campaign and the diversion
// flags of each brand. The budget is read at most once per `refresh`, the
// flags (a count over every brand's flags) once per `flags_refresh`; a
// scrape in between gets the last values. Every server shows the same values.
//
//   auto gauges = std::make_shared<DatabaseGauges>(&pool, absl::Seconds(15), absl::Minutes(5));
//   exposer.RegisterCollectable(gauges);
//
// youma_campaign_budget_left_fen{brand,campaign}, youma_diversion_flags{brand}.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "services/storage/mysql.h"

namespace youma::app {

class DatabaseGauges : public prometheus::Collectable {
 public:
  DatabaseGauges(storage::ConnectionPool* pool, absl::Duration refresh, absl::Duration flags_refresh)
      : pool_(pool), budget_{refresh, absl::InfinitePast(), {}}, flags_{flags_refresh, absl::InfinitePast(), {}} {}
  // The gauges as last read; each read again when older than its refresh.
  // When the database cannot be read, the last values (none before the first
  // read), and the next try after the refresh.
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  struct Cached {
    absl::Duration refresh;
    absl::Time read = absl::InfinitePast();
    prometheus::MetricFamily last;
  };
  // `cached` (the gauge family `name`), its series read again by
  // `read_series` when it is older than its refresh.
  void Refresh(Cached& cached, absl::Time now, const std::string& name, const std::string& help,
               const std::function<void(sql::Connection&, prometheus::MetricFamily&)>& read_series) const;

  storage::ConnectionPool* pool_;
  mutable std::mutex mu_;
  mutable Cached budget_, flags_;
};

}  // namespace youma::app

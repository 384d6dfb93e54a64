// Gauges read from the database when Prometheus scrapes, for what no single
// server counts: the budget left in each live campaign and the diversion
// flags of each brand. Read at most once per `refresh` (a scrape in between
// gets the last values); every server shows the same values.
//
//   auto gauges = std::make_shared<DatabaseGauges>(&pool, absl::Seconds(15));
//   exposer.RegisterCollectable(gauges);
//
// youma_campaign_budget_left_fen{brand,campaign}, youma_diversion_flags{brand}.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <mutex>
#include <vector>

#include "absl/time/time.h"
#include "services/storage/mysql.h"

namespace youma::app {

class DatabaseGauges : public prometheus::Collectable {
 public:
  DatabaseGauges(storage::ConnectionPool* pool, absl::Duration refresh) : pool_(pool), refresh_(refresh) {}
  // The gauges as last read; read again when older than `refresh`. When the
  // database cannot be read, the last values (none before the first read),
  // and the next try after `refresh`.
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  storage::ConnectionPool* pool_;
  const absl::Duration refresh_;
  mutable std::mutex mu_;
  mutable absl::Time read_ = absl::InfinitePast();
  mutable std::vector<prometheus::MetricFamily> last_;
};

}  // namespace youma::app

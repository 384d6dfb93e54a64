// Versioned schema migrations, applied at start-up: idempotent, recorded in
// `schema_migrations`, serialised across pods with GET_LOCK so that many
// replicas starting at once apply each step once.
//
//   YOUMA_RETURN_IF_ERROR(ApplyMigrations(pool));   // at start, or as a helm hook Job
//
// Tables are keyed by brand and code id so they shard by either (TiDB, Vitess).
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "services/storage/mysql.h"

namespace youma::storage {

struct Migration {
  int version;
  std::string name;
  std::vector<std::string> statements;
  // Run after the statements, for what SQL alone says badly (a backfill).
  // Throws sql::SQLException as Connector/C++ does.
  void (*then)(sql::Connection&) = nullptr;
};

const std::vector<Migration>& AllMigrations();

// Applies the migrations not yet recorded; returns how many it applied.
absl::StatusOr<int> ApplyMigrations(ConnectionPool& pool);

}  // namespace youma::storage

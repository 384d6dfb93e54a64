// MySQL access through Connector/C++ 1.1: a connection pool, transactions, and
// the one place where Connector/C++ exceptions become absl::Status.
//
//   ConnectionPool pool(config, {.max_connections = 16});
//   absl::StatusOr<int64_t> n = pool.InTransaction([&](sql::Connection& c) -> absl::StatusOr<int64_t> {
//     auto st = Prepare(c, "UPDATE t SET x = x + 1 WHERE id = ?");
//     st->setUInt64(1, id);
//     return st->executeUpdate();
//   });
//
// Status mapping: lost or refused connections are UNAVAILABLE (the connection is
// dropped and the next call reconnects), duplicate keys ALREADY_EXISTS, deadlocks
// and lock timeouts ABORTED, anything else INTERNAL. Thread-safe.
#pragma once

#include <cppconn/connection.h>
#include <cppconn/exception.h>
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>
#include <cppconn/statement.h>

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "services/storage/mysql_config.h"

namespace youma::storage {

// MySQL error codes the mapping cares about.
inline constexpr int kErDupEntry = 1062;
inline constexpr int kErLockDeadlock = 1213;
inline constexpr int kErLockWaitTimeout = 1205;

absl::Status StatusFromSqlException(const sql::SQLException& e);
// True for errors after which the connection cannot be used again.
bool IsConnectionLost(const sql::SQLException& e);

// Opens one connection with the given schema (empty: none). Throws nothing.
// `multi_statements`: the connection accepts several statements in one
// round trip (for StatementBatch).
absl::StatusOr<std::unique_ptr<sql::Connection>> Connect(const MySqlConfig& config,
                                                         bool with_schema = true,
                                                         bool multi_statements = false);

std::unique_ptr<sql::PreparedStatement> Prepare(sql::Connection& c, const std::string& query);
// Binds a location to parameters `index` and `index + 1`: NULL, NULL when
// both are 0 (where the app sends no location).
void SetLocation(sql::PreparedStatement& st, int index, double latitude, double longitude);
class TextStatement;
void SetLocation(TextStatement& st, int index, double latitude, double longitude);
void Execute(sql::Connection& c, const std::string& query);
// Runs `fn` in a transaction on `c`, a connection outside any (migrations):
// commits when it returns, rolls back and rethrows when it throws, and leaves
// autocommit as it found it.
void InOneTransaction(sql::Connection& c, const std::function<void()>& fn);

// Literals for statements sent as text: multi-row statements whose shape
// changes with every group of scans, where a server-side prepare would cost a
// round trip and a parse for a single execution.
// 'text', escaped for the connection's character set and SQL mode.
std::string Quote(sql::Connection& c, absl::string_view text);
// X'6869': bytes exactly as given (serialized protobuf).
std::string QuoteBytes(absl::string_view bytes);
// "lat,lng" as DOUBLE literals, or "NULL,NULL" when both are 0 (where the
// app sends no location): the text form of SetLocation.
std::string SqlLocation(double latitude, double longitude);
// 23.125178e0: a DOUBLE literal (not DECIMAL) that reads back as exactly
// `value`, in the fewest digits. `value` must be finite.
std::string SqlDouble(double value);

// A statement with ? parameters whose values are put into its text on the
// client (as Connector/J does by default), then run as one text query: one
// round trip where a server-side prepared statement costs three (prepare,
// execute, close) and a parse for a single execution. For statements run
// once per use on hot paths. Values are escaped for the connection's
// character set; ? inside quoted text or backticks is not a parameter.
//
//   auto st = PrepareText(c, "UPDATE t SET n = n + ? WHERE id = ?");
//   st->setInt64(1, 5);
//   st->setUInt64(2, id);
//   st->executeUpdate();
class TextStatement {
 public:
  TextStatement(sql::Connection& c, const std::string& query);
  void setString(int index, const std::string& value);
  void setInt(int index, int32_t value) { Set(index, std::to_string(value)); }
  void setUInt(int index, uint32_t value) { Set(index, std::to_string(value)); }
  void setInt64(int index, int64_t value) { Set(index, std::to_string(value)); }
  void setUInt64(int index, uint64_t value) { Set(index, std::to_string(value)); }
  void setDouble(int index, double value);
  void setNull(int index, int /*sql_type*/) { Set(index, "NULL"); }
  // The caller owns the result set; it must not outlive this statement.
  sql::ResultSet* executeQuery();
  int executeUpdate();

 private:
  void Set(int index, std::string literal);
  std::string Text() const;

  sql::Connection& c_;
  std::vector<std::string> pieces_;  // the query's text around its parameters
  std::vector<std::string> values_;  // literals, one per parameter
  std::unique_ptr<sql::Statement> statement_;
};
std::unique_ptr<TextStatement> PrepareText(sql::Connection& c, const std::string& query);

// Statements sent together in one round trip, each with what to do with the
// rows it returns; for hot paths where round trips, not work, set the pace.
// The connection must come from a pool with multi_statements. Statements run
// in order; the first that fails throws (as Connector/C++ does) and the rest
// do not run. Statements are text: values go in through Quote/QuoteBytes.
//
//   StatementBatch batch;
//   batch.Add("UPDATE t SET n = n + 1 WHERE id IN (1,2)");
//   batch.Add("SELECT id, n FROM t WHERE id IN (1,2)", [&](sql::ResultSet& rs) { ... });
//   batch.Run(conn);
class StatementBatch {
 public:
  using OnRows = std::function<void(sql::ResultSet&)>;
  void Add(std::string statement, OnRows on_rows = nullptr);
  bool empty() const { return statements_.empty(); }
  size_t size() const { return statements_.size(); }
  // Sends every statement added so far, hands each result set to its
  // statement's OnRows, and leaves the batch empty. `completed`, when given,
  // counts the statements that succeeded (also when a later one throws).
  void Run(sql::Connection& c, size_t* completed = nullptr);

 private:
  std::vector<std::pair<std::string, OnRows>> statements_;
};

struct PoolOptions {
  int max_connections = 16;
  // Connections accept StatementBatch (several statements per round trip).
  // Off unless a pool is meant for it: with it on, a statement built with a
  // quoting mistake could smuggle in another.
  bool multi_statements = false;
  // How long a caller waits for a free connection before UNAVAILABLE.
  absl::Duration acquire_timeout = absl::Seconds(10);
};

class ConnectionPool {
 public:
  ConnectionPool(MySqlConfig config, PoolOptions options);
  ~ConnectionPool();

  // Runs `fn` in a transaction: commits when it returns OK, rolls back when it
  // returns an error or throws. Connector/C++ exceptions become statuses here.
  template <typename Fn>
  auto InTransaction(Fn&& fn) -> std::invoke_result_t<Fn, sql::Connection&>;
  // The same, for a pool with multi_statements, where `fn(c, tail)` may leave
  // its last writes in `tail`: they go with the COMMIT in one round trip. A
  // failing tail statement rolls the transaction back like any other.
  template <typename Fn>
  auto InTransactionWithTail(Fn&& fn) -> std::invoke_result_t<Fn, sql::Connection&, StatementBatch&>;
  // Runs `fn` with autocommit on (single statements, DDL).
  template <typename Fn>
  auto WithConnection(Fn&& fn) -> std::invoke_result_t<Fn, sql::Connection&>;

  const MySqlConfig& config() const { return config_; }
  bool multi_statements() const { return options_.multi_statements; }

 private:
  struct Lease {
    std::unique_ptr<sql::Connection> conn;
    bool reused = false;  // came from the idle list
    bool broken = false;
  };
  absl::StatusOr<Lease> Acquire();
  void Release(Lease lease);
  template <typename Fn>
  auto Run(bool transaction, Fn&& fn) -> std::invoke_result_t<Fn, sql::Connection&, StatementBatch&>;

  const MySqlConfig config_;
  const PoolOptions options_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<sql::Connection>> idle_;
  int open_ = 0;
};

template <typename Fn>
auto ConnectionPool::InTransaction(Fn&& fn) -> std::invoke_result_t<Fn, sql::Connection&> {
  return Run(true, [&fn](sql::Connection& c, StatementBatch&) { return fn(c); });
}

template <typename Fn>
auto ConnectionPool::InTransactionWithTail(Fn&& fn)
    -> std::invoke_result_t<Fn, sql::Connection&, StatementBatch&> {
  return Run(true, std::forward<Fn>(fn));
}

template <typename Fn>
auto ConnectionPool::WithConnection(Fn&& fn) -> std::invoke_result_t<Fn, sql::Connection&> {
  return Run(false, [&fn](sql::Connection& c, StatementBatch&) { return fn(c); });
}

// `fn(c, tail)`: statements left in `tail` are sent with the COMMIT.
template <typename Fn>
auto ConnectionPool::Run(bool transaction, Fn&& fn)
    -> std::invoke_result_t<Fn, sql::Connection&, StatementBatch&> {
  using Result = std::invoke_result_t<Fn, sql::Connection&, StatementBatch&>;
  // A connection that sat idle may have died with a restarted server: when it
  // fails before anything was committed, the work is retried once on a new one.
  for (int attempt = 0;; ++attempt) {
    absl::StatusOr<Lease> lease = Acquire();
    if (!lease.ok()) return Result(lease.status());
    sql::Connection& c = *lease->conn;
    bool committing = false;
    // How far the tail (its statements, then COMMIT) got: when one of its
    // statements fails, the COMMIT after it did not run.
    size_t tail_done = 0, tail_size = 0;
    try {
      // Connector/C++ sends SET autocommit on every call: only when it changes.
      if (c.getAutoCommit() == transaction) c.setAutoCommit(!transaction);
      StatementBatch tail;
      Result result = fn(c, tail);
      if (transaction) {
        committing = true;
        if (result.ok() && !tail.empty()) {
          tail.Add("COMMIT");
          tail_size = tail.size();
          tail.Run(c, &tail_done);
        } else if (result.ok()) {
          c.commit();
        } else {
          c.rollback();
        }
      }
      Release(*std::move(lease));
      return result;
    } catch (const sql::SQLException& e) {
      const bool lost = IsConnectionLost(e);
      const bool before_commit = !committing || tail_done + 1 < tail_size;
      if (!lost && transaction && before_commit) {
        try {
          c.rollback();
        } catch (const sql::SQLException&) {
          lease->broken = true;
        }
      }
      // A failed COMMIT leaves the transaction's fate unknown: the connection goes.
      lease->broken = lease->broken || lost || !before_commit;
      const bool was_idle = lease->reused;
      Release(*std::move(lease));
      if (lost && was_idle && !committing && attempt == 0) continue;
      return Result(StatusFromSqlException(e));
    }
  }
}

// Work done a chunk per transaction: runs `chunk(c)` (returning how many
// rows it handled, at most `size`) in a transaction of its own, again until a
// chunk comes short; returns the rows handled in all. Each chunk commits, so
// a long catch-up never holds its locks for long.
template <typename Fn>
absl::StatusOr<int64_t> InChunks(ConnectionPool& pool, int size, Fn&& chunk) {
  int64_t total = 0;
  for (;;) {
    absl::StatusOr<int> done = pool.InTransaction([&](sql::Connection& c) -> absl::StatusOr<int> { return chunk(c); });
    if (!done.ok()) return done.status();
    total += *done;
    if (*done < size) return total;
  }
}

// A primary-key column of a table that SweepByKey walks: its name, and
// whether its values are numbers (written bare: a BIGINT compared with a
// quoted literal is compared as a double, which loses its low digits) or
// text and dates (quoted).
struct KeyColumn {
  std::string name;
  bool number = false;
};

// Changes the rows of `table` that match `where`, walking its primary key
// (`key`, its columns in order) `chunk` keys at a time, each stretch in a
// transaction of its own: one pass over the table, however many rows match.
// (A statement with "LIMIT n" repeated until it comes short reads a table
// that no index serves for its condition from the start each time, past the
// rows the last chunks left: quadratic in the rows it changes.) `change` is
// the statement's head, "DELETE FROM t" or "UPDATE t SET c = ''"; `where` a
// condition with its values written in. Returns the rows changed in all;
// INVALID_ARGUMENT for a chunk below 1.
//
//   SweepByKey(pool, "DELETE FROM user_daily_awards", "user_daily_awards",
//              {{"campaign_id", true}, {"user_id"}, {"day"}}, "day < '2026-12-05'", 10000);
absl::StatusOr<int64_t> SweepByKey(ConnectionPool& pool, const std::string& change, const std::string& table,
                                   const std::vector<KeyColumn>& key, const std::string& where, int chunk);

}  // namespace youma::storage

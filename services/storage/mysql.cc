#include "services/storage/mysql.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <optional>

#include <cppconn/driver.h>
#include <mysql_connection.h>
#include <mysql_driver.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "services/common/geo.h"

namespace youma::storage {

bool IsConnectionLost(const sql::SQLException& e) {
  switch (e.getErrorCode()) {
    case 2002:  // CR_CONNECTION_ERROR
    case 2003:  // CR_CONN_HOST_ERROR
    case 2006:  // CR_SERVER_GONE_ERROR
    case 2013:  // CR_SERVER_LOST
    case 2055:  // CR_SERVER_LOST_EXTENDED
    case 1927:  // ER_CONNECTION_KILLED
    case 1053:  // ER_SERVER_SHUTDOWN
      return true;
    default:
      return false;
  }
}

absl::Status StatusFromSqlException(const sql::SQLException& e) {
  const std::string what = absl::StrCat("database: ", e.what(), " (MySQL error ",
                                        e.getErrorCode(), ")");
  if (IsConnectionLost(e)) return absl::UnavailableError(what);
  switch (e.getErrorCode()) {
    case kErDupEntry: return absl::AlreadyExistsError(what);
    case kErLockDeadlock:
    case kErLockWaitTimeout: return absl::AbortedError(what);
    default: return absl::InternalError(what);
  }
}

absl::StatusOr<std::unique_ptr<sql::Connection>> Connect(const MySqlConfig& config,
                                                         bool with_schema, bool multi_statements) {
  try {
    sql::mysql::MySQL_Driver* driver = sql::mysql::get_mysql_driver_instance();
    sql::ConnectOptionsMap options;
    options["hostName"] = sql::SQLString(config.ConnectorHost());
    options["userName"] = sql::SQLString(config.user);
    options["password"] = sql::SQLString(config.password);
    if (with_schema) options["schema"] = sql::SQLString(config.database);
    options["OPT_CONNECT_TIMEOUT"] = 5;
    options["OPT_READ_TIMEOUT"] = 60;
    options["OPT_WRITE_TIMEOUT"] = 60;
    options["OPT_CHARSET_NAME"] = sql::SQLString("utf8mb4");
    if (multi_statements) options["CLIENT_MULTI_STATEMENTS"] = true;
    if (!config.tls_ca.empty()) {
      options["sslCA"] = sql::SQLString(config.tls_ca);
      options["sslVerify"] = true;   // the certificate chains to the CA and names the host
      options["sslEnforce"] = true;  // no plaintext fallback
      if (!config.tls_cert.empty()) {
        options["sslCert"] = sql::SQLString(config.tls_cert);
        options["sslKey"] = sql::SQLString(config.tls_key);
      }
    }
    std::unique_ptr<sql::Connection> c(driver->connect(options));
    if (!config.tls_ca.empty()) {
      // Checked on the session itself, whatever the connector made of the options.
      std::unique_ptr<sql::Statement> st(c->createStatement());
      std::unique_ptr<sql::ResultSet> rs(st->executeQuery("SHOW SESSION STATUS LIKE 'Ssl_cipher'"));
      if (!rs->next() || rs->getString(2).length() == 0) {
        return absl::UnavailableError(absl::StrCat("the connection to ", config.Describe(),
                                                   " is not encrypted: the server does not offer TLS"));
      }
    }
    // Row locks only, no gap locks: concurrent scan groups then contend on the
    // rows they share, not on the gaps between them. Every check-then-write in
    // youma holds a row lock (FOR UPDATE) or a unique key.
    Execute(*c, "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED");
    return c;
  } catch (const sql::SQLException& e) {
    // Any failure to connect means the database is not there for us now.
    return absl::UnavailableError(absl::StrCat("cannot connect to ", config.Describe(), ": ",
                                               e.what(), " (MySQL error ", e.getErrorCode(), ")"));
  }
}

namespace {

using common::Located;

template <typename Statement>
void BindLocation(Statement& st, int index, double latitude, double longitude) {
  if (!Located(latitude, longitude)) {
    st.setNull(index, 0);
    st.setNull(index + 1, 0);
  } else {
    st.setDouble(index, latitude);
    st.setDouble(index + 1, longitude);
  }
}
}  // namespace

std::unique_ptr<sql::PreparedStatement> Prepare(sql::Connection& c, const std::string& query) {
  return std::unique_ptr<sql::PreparedStatement>(c.prepareStatement(query));
}

void SetLocation(sql::PreparedStatement& st, int index, double latitude, double longitude) {
  BindLocation(st, index, latitude, longitude);
}

void SetLocation(TextStatement& st, int index, double latitude, double longitude) {
  BindLocation(st, index, latitude, longitude);
}

TextStatement::TextStatement(sql::Connection& c, const std::string& query) : c_(c) {
  // Split at each ? that is not inside '…', "…" or `…`.
  std::string piece;
  char quote = 0;
  for (size_t i = 0; i < query.size(); ++i) {
    const char ch = query[i];
    if (quote != 0) {
      piece += ch;
      if (ch == '\\' && quote != '`' && i + 1 < query.size()) {
        piece += query[++i];
      } else if (ch == quote) {
        quote = 0;
      }
    } else if (ch == '\'' || ch == '"' || ch == '`') {
      quote = ch;
      piece += ch;
    } else if (ch == '?') {
      pieces_.push_back(std::move(piece));
      piece.clear();
    } else {
      piece += ch;
    }
  }
  pieces_.push_back(std::move(piece));
  values_.resize(pieces_.size() - 1);
}

void TextStatement::Set(int index, std::string literal) {
  if (index < 1 || static_cast<size_t>(index) > values_.size()) {
    throw sql::InvalidArgumentException(absl::StrCat("parameter ", index, " of ", values_.size()));
  }
  values_[index - 1] = std::move(literal);
}

void TextStatement::setString(int index, const std::string& value) { Set(index, Quote(c_, value)); }

void TextStatement::setDouble(int index, double value) {
  if (!std::isfinite(value)) throw sql::InvalidArgumentException("a double that is not finite");
  Set(index, SqlDouble(value));
}

std::string TextStatement::Text() const {
  std::string text = pieces_[0];
  for (size_t i = 0; i < values_.size(); ++i) {
    if (values_[i].empty()) throw sql::InvalidArgumentException(absl::StrCat("parameter ", i + 1, " is not set"));
    absl::StrAppend(&text, values_[i], pieces_[i + 1]);
  }
  return text;
}

sql::ResultSet* TextStatement::executeQuery() {
  statement_.reset(c_.createStatement());
  return statement_->executeQuery(Text());
}

int TextStatement::executeUpdate() {
  statement_.reset(c_.createStatement());
  return statement_->executeUpdate(Text());
}

std::unique_ptr<TextStatement> PrepareText(sql::Connection& c, const std::string& query) {
  return std::make_unique<TextStatement>(c, query);
}

void Execute(sql::Connection& c, const std::string& query) {
  std::unique_ptr<sql::Statement> st(c.createStatement());
  st->execute(query);
}

void InOneTransaction(sql::Connection& c, const std::function<void()>& fn) {
  const bool autocommit = c.getAutoCommit();
  c.setAutoCommit(false);
  try {
    fn();
    c.commit();
  } catch (...) {
    c.rollback();
    c.setAutoCommit(autocommit);
    throw;
  }
  c.setAutoCommit(autocommit);
}

std::string Quote(sql::Connection& c, absl::string_view text) {
  // Most values (ids, regions, addresses) hold no byte that needs a
  // backslash: doubling their quotes is exact whether or not the server
  // runs with NO_BACKSLASH_ESCAPES, and safe in every client character set
  // (no multi-byte set MySQL supports has 0x27 inside a character). Anything
  // else goes through the client library, which knows the connection's mode.
  if (text.find_first_of(absl::string_view("\\\0\n\r\x1a", 5)) != absl::string_view::npos) {
    auto& mysql = dynamic_cast<sql::mysql::MySQL_Connection&>(c);
    return absl::StrCat("'", std::string(mysql.escapeString(sql::SQLString(text.data(), text.size()))), "'");
  }
  std::string out;
  out.reserve(text.size() + 2 + std::count(text.begin(), text.end(), '\''));
  out += '\'';
  for (const char ch : text) {
    if (ch == '\'') out += '\'';
    out += ch;
  }
  out += '\'';
  return out;
}

std::string SqlDouble(double value) {
  char buf[64];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  std::string out(buf, ec == std::errc() ? end : buf);
  if (out.find_first_of("eE") == std::string::npos) out += "e0";
  return out;
}

std::string SqlLocation(double latitude, double longitude) {
  if (!Located(latitude, longitude)) return "NULL,NULL";
  return absl::StrCat(SqlDouble(latitude), ",", SqlDouble(longitude));
}

std::string QuoteBytes(absl::string_view bytes) {
  return absl::StrCat("X'", absl::BytesToHexString(bytes), "'");
}

void StatementBatch::Add(std::string statement, OnRows on_rows) {
  statements_.emplace_back(std::move(statement), std::move(on_rows));
}

void StatementBatch::Run(sql::Connection& c, size_t* completed) {
  size_t ignored = 0;
  if (completed == nullptr) completed = &ignored;
  *completed = 0;
  if (statements_.empty()) return;
  std::vector<std::pair<std::string, OnRows>> statements;
  statements.swap(statements_);
  std::string text;
  for (const auto& [statement, on_rows] : statements) absl::StrAppend(&text, text.empty() ? "" : ";\n", statement);
  std::unique_ptr<sql::Statement> st(c.createStatement());
  bool rows = st->execute(text);
  // One result per statement, in order: rows, or a count of changed rows. A
  // failed statement throws here and ends the batch.
  for (size_t i = 0; i < statements.size(); ++i) {
    if (i > 0) rows = st->getMoreResults();
    *completed = i + 1;
    if (!rows) continue;
    std::unique_ptr<sql::ResultSet> rs(st->getResultSet());
    if (rs != nullptr && statements[i].second) statements[i].second(*rs);
  }
}

ConnectionPool::ConnectionPool(MySqlConfig config, PoolOptions options)
    : config_(std::move(config)), options_(options) {}

ConnectionPool::~ConnectionPool() = default;

absl::StatusOr<ConnectionPool::Lease> ConnectionPool::Acquire() {
  {
    std::unique_lock<std::mutex> lock(mu_);
    const bool got = cv_.wait_for(lock, absl::ToChronoNanoseconds(options_.acquire_timeout), [&] {
      return !idle_.empty() || open_ < options_.max_connections;
    });
    if (!got) {
      return absl::UnavailableError(absl::StrCat("all ", options_.max_connections,
                                                 " database connections are busy"));
    }
    if (!idle_.empty()) {
      Lease lease{std::move(idle_.back()), /*reused=*/true};
      idle_.pop_back();
      return lease;
    }
    ++open_;
  }
  absl::StatusOr<std::unique_ptr<sql::Connection>> c =
      Connect(config_, /*with_schema=*/true, options_.multi_statements);
  if (!c.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    --open_;
    cv_.notify_one();
    return c.status();
  }
  return Lease{*std::move(c)};
}

void ConnectionPool::Release(Lease lease) {
  std::lock_guard<std::mutex> lock(mu_);
  if (lease.broken) {
    // A lost connection usually means a restarted server: the idle ones are
    // dead too, so they are dropped rather than failing one call each.
    open_ -= 1 + static_cast<int>(idle_.size());
    idle_.clear();
  } else {
    idle_.push_back(std::move(lease.conn));
  }
  cv_.notify_one();
}

namespace {

// The keys after `at` (strictly) or up to it (inclusive), as a condition on
// the key's columns nested so that MariaDB reads it as a range of the key.
std::string KeyBound(const std::vector<KeyColumn>& key, const std::vector<std::string>& at, bool after) {
  std::string bound;
  for (size_t i = key.size(); i-- > 0;) {
    const std::string& column = key[i].name;
    if (i + 1 == key.size()) {
      bound = absl::StrCat(column, after ? " > " : " <= ", at[i]);
    } else {
      bound = absl::StrCat(column, after ? " > " : " < ", at[i], " OR (", column, " = ", at[i], " AND (", bound, "))");
    }
  }
  return absl::StrCat("(", bound, ")");
}

}  // namespace

absl::StatusOr<int64_t> SweepByKey(ConnectionPool& pool, const std::string& change, const std::string& table,
                                   const std::vector<KeyColumn>& key, const std::string& where, int chunk) {
  if (chunk < 1) return absl::InvalidArgumentError("a sweep's chunk must be at least 1 key");
  if (key.empty()) return absl::InvalidArgumentError(absl::StrCat("no key columns to walk ", table, " by"));
  const std::string columns =
      absl::StrJoin(key, ", ", [](std::string* out, const KeyColumn& k) { out->append(k.name); });
  // The last key of the stretches committed so far, as literals; it moves
  // only after a commit (a transaction the pool runs again starts over).
  std::optional<std::vector<std::string>> done_through;
  int64_t total = 0;
  for (;;) {
    std::optional<std::vector<std::string>> last;
    absl::StatusOr<int> changed = pool.InTransaction([&](sql::Connection& c) -> absl::StatusOr<int> {
      last.reset();
      const std::string after = done_through ? KeyBound(key, *done_through, true) : "TRUE";
      std::unique_ptr<sql::Statement> st(c.createStatement());
      {
        // The stretch's last key: the chunk-th after the last stretch (none
        // when fewer are left, and this stretch is the rest).
        std::unique_ptr<sql::ResultSet> rs(st->executeQuery(absl::StrCat("SELECT ", columns, " FROM ", table, " WHERE ",
                                                                         after, " ORDER BY ", columns, " LIMIT 1 OFFSET ",
                                                                         chunk - 1)));
        if (rs->next()) {
          last.emplace();
          for (size_t i = 0; i < key.size(); ++i) {
            const std::string value = rs->getString(static_cast<uint32_t>(i + 1));
            last->push_back(key[i].number ? value : Quote(c, value));
          }
        }
      }
      return st->executeUpdate(absl::StrCat(change, " WHERE ", after,
                                            last ? absl::StrCat(" AND ", KeyBound(key, *last, false)) : "", " AND (",
                                            where, ")"));
    });
    if (!changed.ok()) return changed.status();
    total += *changed;
    if (!last) return total;
    done_through = std::move(last);
  }
}

}  // namespace youma::storage

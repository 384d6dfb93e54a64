// Storage: MySQL URLs, migrations, status mapping, the embedded MariaDB, and
// the table of each code's current shipment.
#include <filesystem>
#include <fstream>
#include <random>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/clock.h"
#include "services/common/time_util.h"
#include "services/payout/payout_counts.h"
#include "services/storage/daily_jobs.h"
#include "services/storage/local_mariadb.h"
#include "services/storage/migrations.h"
#include "services/storage/mysql.h"
#include "services/storage/range_change_blocks.h"
#include "services/storage/shipment_territories.h"
#include "tests/test_util.h"

namespace youma::storage {
namespace {

using testing::FreePort;
using testing::RunCommand;

TEST_CASE("MySQL URLs name host and port or a unix socket, and never a password") {
  ASSIGN_OR_FAIL(MySqlConfig tcp, ParseMySqlUrl("mysql://youma@db.internal:3307/codes"));
  CHECK(tcp.user == "youma");
  CHECK(tcp.host == "db.internal");
  CHECK(tcp.port == 3307);
  CHECK(tcp.database == "codes");
  CHECK(tcp.ConnectorHost() == "tcp://db.internal:3307");
  ASSIGN_OR_FAIL(MySqlConfig def, ParseMySqlUrl("mysql://root@localhost/youma"));
  CHECK(def.port == 3306);
  ASSIGN_OR_FAIL(MySqlConfig unix_socket,
                 ParseMySqlUrl("mysql://root@unix(/run/mysqld/mysqld.sock)/youma"));
  CHECK(unix_socket.socket == "/run/mysqld/mysqld.sock");
  CHECK(unix_socket.ConnectorHost() == "unix:///run/mysqld/mysqld.sock");
  CHECK(unix_socket.Describe() == "mysql://root@unix(/run/mysqld/mysqld.sock)/youma");
  for (const char* bad : {"postgres://u@h/db", "mysql://h/db", "mysql://u:secret@h/db",
                          "mysql://u@h:99999/db", "mysql://u@h", "mysql://u@unix(/x.sock/db"}) {
    INFO(bad);
    CHECK(ParseMySqlUrl(bad).status().code() == absl::StatusCode::kInvalidArgument);
  }
  const auto secret = ParseMySqlUrl("mysql://u:secret@h/db");
  CHECK(std::string(secret.status().message()).find("secret") == std::string::npos);
}

struct Db {
  std::string dir;
  std::unique_ptr<LocalMariaDb> db;
  Db() {
    char tmpl[] = "/tmp/youma-storage-XXXXXX";
    dir = mkdtemp(tmpl);
    auto started = LocalMariaDb::Start({.data_dir = dir + "/db", .buffer_pool = "32M",
                                        .flush_log_at_trx_commit = 2});
    REQUIRE_OK(started.status());
    db = *std::move(started);
  }
  ~Db() {
    db.reset();
    std::filesystem::remove_all(dir);
  }
};

// A CA and certificates it signed, made with the openssl command: the server
// as 127.0.0.1, the server under another name, and a client; and a second CA.
struct Pki {
  std::string dir;
  explicit Pki(std::string d) : dir(std::move(d)) {
    {
      std::ofstream(dir + "/pki.sh") << R"sh(set -e
key="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
openssl req -x509 $key -keyout ca.key -out ca.pem -days 30 -subj "/CN=youma test CA"
openssl req -x509 $key -keyout other-ca.key -out other-ca.pem -days 30 -subj "/CN=another CA"
sign() {
  openssl req $key -keyout $1.key -out $1.csr -subj "/CN=$1"
  echo "$2" > $1.ext
  openssl x509 -req -in $1.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out $1.pem -days 30 -extfile $1.ext
}
sign server subjectAltName=IP:127.0.0.1
sign elsewhere subjectAltName=DNS:db.example.cn
sign client extendedKeyUsage=clientAuth
)sh";
    }
    std::string out;
    const int rc = RunCommand("cd " + dir + " && bash pki.sh", &out);
    INFO(out);
    REQUIRE(rc == 0);
  }
  std::string operator/(const std::string& file) const { return dir + "/" + file; }
};

TEST_CASE("TLS to MySQL: encrypted and checked against the CA; another CA, another name, no TLS, no client certificate are refused") {
  char tmpl[] = "/tmp/youma-tls-db-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  const Pki pki(dir);
  const int port = FreePort();
  auto started = LocalMariaDb::Start({.data_dir = dir + "/db", .buffer_pool = "32M", .flush_log_at_trx_commit = 2,
                                      .tcp_port = port,
                                      .server_args = {"--ssl-ca=" + (pki / "ca.pem"), "--ssl-cert=" + (pki / "server.pem"),
                                                      "--ssl-key=" + (pki / "server.key")}});
  REQUIRE_OK(started.status());
  std::unique_ptr<LocalMariaDb> db = *std::move(started);
  ConnectionPool admin(db->config(), {.max_connections = 1});
  REQUIRE_OK(admin.WithConnection([](sql::Connection& c) -> absl::Status {
    Execute(c, "CREATE USER 'youma'@'127.0.0.1' IDENTIFIED BY 'pw' REQUIRE SSL");
    Execute(c, "GRANT ALL ON youma.* TO 'youma'@'127.0.0.1'");
    Execute(c, "CREATE USER 'youma_x509'@'127.0.0.1' IDENTIFIED BY 'pw' REQUIRE X509");
    Execute(c, "GRANT ALL ON youma.* TO 'youma_x509'@'127.0.0.1'");
    return absl::OkStatus();
  }));
  auto config = [&](const std::string& user, const std::string& ca, const std::string& cert = "",
                    const std::string& key = "") {
    absl::StatusOr<MySqlConfig> c = ParseMySqlUrl(absl::StrCat("mysql://", user, "@127.0.0.1:", port, "/youma"));
    REQUIRE_OK(c.status());
    c->password = "pw";
    REQUIRE_OK(SetMySqlTls(*c, ca, cert, key));
    return *c;
  };
  auto cipher = [](sql::Connection& c) {
    std::unique_ptr<sql::Statement> st(c.createStatement());
    std::unique_ptr<sql::ResultSet> rs(st->executeQuery("SHOW SESSION STATUS LIKE 'Ssl_cipher'"));
    REQUIRE(rs->next());
    return std::string(rs->getString(2));
  };

  const MySqlConfig good = config("youma", pki / "ca.pem");
  CHECK(good.Describe() == absl::StrCat("mysql://youma@127.0.0.1:", port, "/youma with TLS"));
  {
    absl::StatusOr<std::unique_ptr<sql::Connection>> c = Connect(good);
    REQUIRE_OK(c.status());
    CHECK_FALSE(cipher(**c).empty());
  }
  // The user requires TLS; without youma's TLS the server says no.
  CHECK(Connect(config("youma", "")).status().code() == absl::StatusCode::kUnavailable);
  // A server certificate the given CA did not sign.
  const absl::Status other_ca = Connect(config("youma", pki / "other-ca.pem")).status();
  CHECK(other_ca.code() == absl::StatusCode::kUnavailable);
  CHECK(std::string(other_ca.message()).find("cannot connect to mysql://youma@127.0.0.1") == 0);
  // A user that needs a client certificate: refused without, let in with one.
  CHECK(Connect(config("youma_x509", pki / "ca.pem")).status().code() == absl::StatusCode::kUnavailable);
  {
    absl::StatusOr<std::unique_ptr<sql::Connection>> c =
        Connect(config("youma_x509", pki / "ca.pem", pki / "client.pem", pki / "client.key"));
    REQUIRE_OK(c.status());
    CHECK_FALSE(cipher(**c).empty());
  }
  // The server now shows a certificate for another host name (same CA).
  std::filesystem::copy_file(pki / "elsewhere.pem", pki / "server.pem", std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(pki / "elsewhere.key", pki / "server.key", std::filesystem::copy_options::overwrite_existing);
  REQUIRE_OK(admin.WithConnection([](sql::Connection& c) -> absl::Status {
    Execute(c, "FLUSH SSL");
    return absl::OkStatus();
  }));
  CHECK(Connect(good).status().code() == absl::StatusCode::kUnavailable);
  db.reset();

  // A server that offers no TLS at all: no plaintext fallback.
  const int plain_port = FreePort();
  auto plain = LocalMariaDb::Start({.data_dir = dir + "/plain", .buffer_pool = "32M", .flush_log_at_trx_commit = 2,
                                    .tcp_port = plain_port});
  REQUIRE_OK(plain.status());
  {
    ConnectionPool plain_admin((*plain)->config(), {.max_connections = 1});
    REQUIRE_OK(plain_admin.WithConnection([](sql::Connection& c) -> absl::Status {
      Execute(c, "CREATE USER 'youma'@'127.0.0.1' IDENTIFIED BY 'pw'");
      Execute(c, "GRANT ALL ON youma.* TO 'youma'@'127.0.0.1'");
      return absl::OkStatus();
    }));
  }
  absl::StatusOr<MySqlConfig> to_plain =
      ParseMySqlUrl(absl::StrCat("mysql://youma@127.0.0.1:", plain_port, "/youma"));
  REQUIRE_OK(to_plain.status());
  to_plain->password = "pw";
  REQUIRE_OK(Connect(*to_plain).status());  // reachable in plaintext
  REQUIRE_OK(SetMySqlTls(*to_plain, pki / "ca.pem", "", ""));
  CHECK(Connect(*to_plain).status().code() == absl::StatusCode::kUnavailable);
  plain->reset();
  std::filesystem::remove_all(dir);
}

TEST_CASE("MySQL TLS settings that cannot work are refused before connecting, saying why") {
  char tmpl[] = "/tmp/youma-tls-flags-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  { std::ofstream(dir + "/ca.pem") << "x"; }
  ASSIGN_OR_FAIL(MySqlConfig tcp, ParseMySqlUrl("mysql://youma@db:3306/youma"));
  ASSIGN_OR_FAIL(MySqlConfig socket, ParseMySqlUrl("mysql://youma@unix(/run/mysqld/mysqld.sock)/youma"));
  auto refused = [](MySqlConfig c, const std::string& ca, const std::string& cert, const std::string& key) {
    const absl::Status st = SetMySqlTls(c, ca, cert, key);
    CHECK(st.code() == absl::StatusCode::kInvalidArgument);
    CHECK(c.tls_ca.empty());
    return std::string(st.message());
  };
  CHECK(refused(tcp, "", dir + "/ca.pem", dir + "/ca.pem").find("need --mysql-ca") != std::string::npos);
  CHECK(refused(tcp, dir + "/ca.pem", dir + "/ca.pem", "").find("go together") != std::string::npos);
  CHECK(refused(socket, dir + "/ca.pem", "", "").find("not a unix socket") != std::string::npos);
  CHECK(refused(tcp, dir + "/missing.pem", "", "") == "--mysql-ca " + dir + "/missing.pem cannot be read");
  REQUIRE_OK(SetMySqlTls(tcp, "", "", ""));  // no TLS asked for
  CHECK(tcp.tls_ca.empty());
  REQUIRE_OK(SetMySqlTls(tcp, dir + "/ca.pem", "", ""));
  CHECK(tcp.tls_ca == dir + "/ca.pem");
  std::filesystem::remove_all(dir);
}

TEST_CASE("migrations apply once, are recorded, and a second run applies nothing") {
  Db d;
  ConnectionPool pool(d.db->config(), {});
  ASSIGN_OR_FAIL(int first, ApplyMigrations(pool));
  CHECK(first == static_cast<int>(AllMigrations().size()));
  ASSIGN_OR_FAIL(int second, ApplyMigrations(pool));
  CHECK(second == 0);
  ASSIGN_OR_FAIL(int64_t recorded, pool.WithConnection([](sql::Connection& c) -> absl::StatusOr<int64_t> {
    std::unique_ptr<sql::Statement> st(c.createStatement());
    std::unique_ptr<sql::ResultSet> rs(st->executeQuery("SELECT COUNT(*) FROM schema_migrations"));
    rs->next();
    return static_cast<int64_t>(rs->getInt64(1));
  }));
  CHECK(recorded == static_cast<int64_t>(AllMigrations().size()));
}

TEST_CASE("migration 9 cuts shipment ranges written before it into pieces of at most 65,536 codes") {
  Db d;
  ConnectionPool pool(d.db->config(), {});
  REQUIRE_OK(ApplyMigrations(pool).status());
  const Migration& cut = AllMigrations().at(8);
  REQUIRE(cut.version == 9);
  ASSIGN_OR_FAIL(std::string pieces, pool.WithConnection([&](sql::Connection& c) -> absl::StatusOr<std::string> {
    // As an older youma wrote them: one row per shipped stretch, any length.
    Execute(c, "INSERT INTO shipment_ranges (shipment_id, first_code_id, last_code_id, brand) VALUES "
               "(1, 100, 200000, 'a'), (2, 300000, 300010, 'a'), (3, 400000, 465535, 'a'), "
               "(4, 500000, 565536, 'a')");
    for (int run = 0; run < 2; ++run) {  // a second run changes nothing
      for (const std::string& statement : cut.statements) Execute(c, statement);
    }
    std::unique_ptr<sql::Statement> st(c.createStatement());
    std::unique_ptr<sql::ResultSet> rs(st->executeQuery(
        "SELECT GROUP_CONCAT(CONCAT(shipment_id, ':', first_code_id, '-', last_code_id) "
        "ORDER BY shipment_id, first_code_id SEPARATOR ' ') FROM shipment_ranges"));
    rs->next();
    return std::string(rs->getString(1));
  }));
  CHECK(pieces ==
        "1:100-65635 1:65636-131171 1:131172-196707 1:196708-200000 2:300000-300010 "
        "3:400000-465535 4:500000-565535 4:565536-565536");
}

TEST_CASE("a text statement fills its parameters on the client, escaped, and leaves quoted ? alone") {
  Db d;
  ConnectionPool pool(d.db->config(), {});
  ASSIGN_OR_FAIL(std::string row, pool.WithConnection([&](sql::Connection& c) -> absl::StatusOr<std::string> {
    auto st = PrepareText(c, "SELECT CONCAT_WS('|', ?, 'what?', \"\\\"?\", ?, ?, ?, IFNULL(?, 'null'), `x?`) "
                             "FROM (SELECT 1 AS `x?`) t WHERE ? = 7");
    st->setString(1, "o'neil \\ \"x\" ; DROP TABLE t; --");
    st->setInt64(2, -42);
    st->setUInt64(3, 18446744073709551615ULL);
    st->setDouble(4, 23.125178);  // shows as a DOUBLE does, not as a 17-digit DECIMAL
    st->setNull(5, 0);
    st->setInt(6, 7);
    std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
    if (!rs->next()) return absl::NotFoundError("no row");
    return std::string(rs->getString(1));
  }));
  CHECK(row == "o'neil \\ \"x\" ; DROP TABLE t; --|what?|\"?|-42|18446744073709551615|23.125178|null|1");
  // A parameter left unset is an error, not an empty value.
  absl::Status unset = pool.WithConnection([&](sql::Connection& c) -> absl::Status {
    auto st = PrepareText(c, "SELECT ?, ?");
    st->setInt(1, 1);
    std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
    return absl::OkStatus();
  });
  CHECK(unset.code() == absl::StatusCode::kInternal);
  CHECK(unset.message().find("parameter 2 is not set") != std::string::npos);
}

TEST_CASE("migrations refuse a database whose collation would merge ids differing in case") {
  Db d;
  ConnectionPool root(d.db->config(), {});
  REQUIRE_OK(root.WithConnection([](sql::Connection& c) -> absl::Status {
    Execute(c, "CREATE DATABASE loose CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci");
    return absl::OkStatus();
  }));
  MySqlConfig loose = d.db->config();
  loose.database = "loose";
  ConnectionPool pool(loose, {});
  const absl::StatusOr<int> applied = ApplyMigrations(pool);
  CHECK(applied.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(std::string(applied.status().message()).find("COLLATE utf8mb4_bin") != std::string::npos);
  ASSIGN_OR_FAIL(int64_t tables, pool.WithConnection([](sql::Connection& c) -> absl::StatusOr<int64_t> {
    std::unique_ptr<sql::Statement> st(c.createStatement());
    std::unique_ptr<sql::ResultSet> rs(st->executeQuery(
        "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'loose'"));
    rs->next();
    return static_cast<int64_t>(rs->getInt64(1));
  }));
  CHECK(tables == 0);
}

TEST_CASE("Connector/C++ errors become statuses; a failed transaction writes nothing") {
  Db d;
  ConnectionPool pool(d.db->config(), {});
  REQUIRE_OK(pool.WithConnection([](sql::Connection& c) -> absl::Status {
    Execute(c, "CREATE TABLE t (id INT PRIMARY KEY)");
    return absl::OkStatus();
  }));
  const absl::Status dup = pool.InTransaction([](sql::Connection& c) -> absl::Status {
    Execute(c, "INSERT INTO t VALUES (1)");
    Execute(c, "INSERT INTO t VALUES (2)");
    Execute(c, "INSERT INTO t VALUES (1)");
    return absl::OkStatus();
  });
  CHECK(dup.code() == absl::StatusCode::kAlreadyExists);
  const absl::Status refused = pool.InTransaction([](sql::Connection& c) -> absl::Status {
    Execute(c, "INSERT INTO t VALUES (3)");
    return absl::FailedPreconditionError("the caller changed its mind");
  });
  CHECK(refused.code() == absl::StatusCode::kFailedPrecondition);
  const absl::Status bad_sql = pool.WithConnection([](sql::Connection& c) -> absl::Status {
    Execute(c, "SELEKT 1");
    return absl::OkStatus();
  });
  CHECK(bad_sql.code() == absl::StatusCode::kInternal);
  ASSIGN_OR_FAIL(int64_t rows, pool.WithConnection([](sql::Connection& c) -> absl::StatusOr<int64_t> {
    std::unique_ptr<sql::Statement> st(c.createStatement());
    std::unique_ptr<sql::ResultSet> rs(st->executeQuery("SELECT COUNT(*) FROM t"));
    rs->next();
    return static_cast<int64_t>(rs->getInt64(1));
  }));
  CHECK(rows == 0);

  MySqlConfig nowhere = d.db->config();
  nowhere.socket = d.dir + "/no-such.sock";
  ConnectionPool dead(nowhere, {});
  CHECK(dead.WithConnection([](sql::Connection&) -> absl::Status { return absl::OkStatus(); }).code() ==
        absl::StatusCode::kUnavailable);
}

TEST_CASE("quoted text reaches MariaDB byte for byte, with and without NO_BACKSLASH_ESCAPES") {
  Db d;
  ConnectionPool pool(d.db->config(), {.max_connections = 1});
  const std::vector<std::string> texts = {
      "",
      "oBx-12345",
      "o'neil",
      "''",
      "it's \"quoted\"",
      "back\\slash",
      "\\'; DROP TABLE t; --",
      std::string("nul\0inside", 10),
      "line\nbreak\rreturn\x1a",
      "广东省广州市天河区 '店'",
      "%_ wildcards stay literal",
  };
  for (const char* mode : {"", "NO_BACKSLASH_ESCAPES"}) {
    CAPTURE(mode);
    ASSIGN_OR_FAIL(std::vector<std::string> got,
                   pool.WithConnection([&](sql::Connection& c) -> absl::StatusOr<std::vector<std::string>> {
                     Execute(c, absl::StrCat("SET SESSION sql_mode = '", mode, "'"));
                     std::vector<std::string> out;
                     for (const std::string& text : texts) {
                       std::unique_ptr<sql::Statement> st(c.createStatement());
                       std::unique_ptr<sql::ResultSet> rs(st->executeQuery(
                           absl::StrCat("SELECT ", Quote(c, text), ", LENGTH(", Quote(c, text), ")")));
                       rs->next();
                       out.push_back(rs->getString(1));
                       if (rs->getInt64(2) != static_cast<int64_t>(text.size())) out.back() += " (length differs)";
                     }
                     Execute(c, "SET SESSION sql_mode = DEFAULT");
                     return out;
                   }));
    REQUIRE(got.size() == texts.size());
    for (size_t i = 0; i < texts.size(); ++i) CHECK(got[i] == texts[i]);
  }
}

TEST_CASE("DATETIME(6) text: what SqlTime writes MariaDB stores, and ParseSqlTime reads back exactly") {
  Db d;
  ConnectionPool pool(d.db->config(), {});
  const absl::TimeZone utc = absl::UTCTimeZone();
  const std::vector<absl::Time> times = {
      absl::FromCivil(absl::CivilSecond(2026, 11, 24, 23, 59, 59), utc) + absl::Microseconds(999999),
      absl::FromCivil(absl::CivilSecond(2028, 2, 29, 0, 0, 0), utc),
      absl::FromCivil(absl::CivilSecond(1999, 12, 31, 8, 5, 3), utc) + absl::Microseconds(7),
      absl::FromUnixMicros(1'764'000'000'123'456)};
  CHECK(common::SqlTime(times[0]) == "2026-11-24 23:59:59.999999");
  CHECK(common::SqlTime(times[1]) == "2028-02-29 00:00:00.000000");
  CHECK(common::SqlTime(times[2]) == "1999-12-31 08:05:03.000007");
  // Below a microsecond is dropped, as DATETIME(6) would.
  CHECK(common::SqlTime(times[2] + absl::Nanoseconds(999)) == "1999-12-31 08:05:03.000007");
  // Years DATETIME cannot hold go through absl's formatter; the
  // allocation-free form writes the same text either way.
  const absl::Time far = absl::FromCivil(absl::CivilSecond(12026, 1, 2, 3, 4, 5), utc);
  CHECK(common::SqlTime(far) == "12026-01-02 03:04:05.000000");
  for (const absl::Time t : {times[0], times[2], far}) CHECK(common::SqlTimeText(t).view() == common::SqlTime(t));
  for (const absl::Time t : times) {
    ASSIGN_OR_FAIL(std::string stored, pool.WithConnection([&](sql::Connection& c) -> absl::StatusOr<std::string> {
      std::unique_ptr<sql::Statement> st(c.createStatement());
      std::unique_ptr<sql::ResultSet> rs(
          st->executeQuery("SELECT CAST('" + common::SqlTime(t) + "' AS DATETIME(6))"));
      rs->next();
      return std::string(rs->getString(1));
    }));
    CHECK(stored == common::SqlTime(t));
    CHECK(common::ParseSqlTime(stored) == t);
  }
  // Shorter fractions (DATETIME(3), or none) and text that is not a time.
  CHECK(common::ParseSqlTime("2026-11-24 12:00:00.5") ==
        absl::FromCivil(absl::CivilSecond(2026, 11, 24, 12, 0, 0), utc) + absl::Milliseconds(500));
  CHECK(common::ParseSqlTime("2026-11-24 12:00:00") == absl::FromCivil(absl::CivilSecond(2026, 11, 24, 12, 0, 0), utc));
  CHECK(common::ParseSqlTime("2026-02-30 12:00:00") == absl::UnixEpoch());
  CHECK(common::ParseSqlTime("yesterday") == absl::UnixEpoch());
  // The China day: 16:00 UTC is midnight in Beijing.
  CHECK(common::ChinaDay(absl::FromCivil(absl::CivilSecond(2026, 12, 31, 15, 59, 59), utc)) == "2026-12-31");
  CHECK(common::ChinaDay(absl::FromCivil(absl::CivilSecond(2026, 12, 31, 16, 0, 0), utc)) == "2027-01-01");
}

TEST_CASE("a transaction's tail goes with its COMMIT; a failing tail statement rolls everything back") {
  Db d;
  ConnectionPool pool(d.db->config(), {.max_connections = 1, .multi_statements = true});
  REQUIRE_OK(pool.WithConnection([](sql::Connection& c) -> absl::Status {
    Execute(c, "CREATE TABLE t (id INT PRIMARY KEY, note VARCHAR(16))");
    return absl::OkStatus();
  }));
  auto rows = [&]() -> std::string {
    absl::StatusOr<std::string> r = pool.WithConnection([](sql::Connection& c) -> absl::StatusOr<std::string> {
      std::unique_ptr<sql::Statement> st(c.createStatement());
      std::unique_ptr<sql::ResultSet> rs(
          st->executeQuery("SELECT IFNULL(GROUP_CONCAT(id, ':', note ORDER BY id), '') FROM t"));
      rs->next();
      return std::string(rs->getString(1));
    });
    return r.ok() ? *r : r.status().ToString();
  };
  auto connection_id = [&]() -> int64_t {
    absl::StatusOr<int64_t> id = pool.WithConnection([](sql::Connection& c) -> absl::StatusOr<int64_t> {
      std::unique_ptr<sql::Statement> st(c.createStatement());
      std::unique_ptr<sql::ResultSet> rs(st->executeQuery("SELECT CONNECTION_ID()"));
      rs->next();
      return static_cast<int64_t>(rs->getInt64(1));
    });
    return id.ok() ? *id : -1;
  };
  const int64_t first_connection = connection_id();
  // Committed: the body's write and the tail's.
  REQUIRE_OK(pool.InTransactionWithTail([](sql::Connection& c, StatementBatch& tail) -> absl::Status {
    Execute(c, "INSERT INTO t VALUES (1, 'body')");
    tail.Add("INSERT INTO t VALUES (2, 'tail')");
    return absl::OkStatus();
  }));
  CHECK(rows() == "1:body,2:tail");
  // The second tail statement fails: the COMMIT after it does not run and the
  // body's write, the first tail statement's too, are rolled back.
  const absl::Status dup = pool.InTransactionWithTail([](sql::Connection& c, StatementBatch& tail) -> absl::Status {
    Execute(c, "INSERT INTO t VALUES (3, 'body')");
    tail.Add("INSERT INTO t VALUES (4, 'tail')");
    tail.Add("INSERT INTO t VALUES (1, 'again')");
    return absl::OkStatus();
  });
  CHECK(dup.code() == absl::StatusCode::kAlreadyExists);
  CHECK(rows() == "1:body,2:tail");
  // A body that fails sends no tail.
  const absl::Status refused =
      pool.InTransactionWithTail([](sql::Connection& c, StatementBatch& tail) -> absl::Status {
        Execute(c, "INSERT INTO t VALUES (5, 'body')");
        tail.Add("INSERT INTO t VALUES (6, 'tail')");
        return absl::FailedPreconditionError("the caller changed its mind");
      });
  CHECK(refused.code() == absl::StatusCode::kFailedPrecondition);
  CHECK(rows() == "1:body,2:tail");
  // The one connection was kept through the failures (rolled back, not
  // dropped) and still works in a transaction.
  CHECK(connection_id() == first_connection);
  REQUIRE_OK(pool.InTransactionWithTail([](sql::Connection&, StatementBatch& tail) -> absl::Status {
    tail.Add("INSERT INTO t VALUES (7, 'tail only')");
    return absl::OkStatus();
  }));
  CHECK(rows() == "1:body,2:tail,7:tail only");
}

// ------------------------------------------------------- shipment territories

TEST_CASE("a run of codes is stored as rows of whole aligned units, at most two per level") {
  std::vector<TerritoryRow> rows;
  AppendTerritoryRows(0, 63, 9, &rows);  // one whole unit of 64
  CHECK(rows == std::vector<TerritoryRow>{{uint64_t{1} << 56, 0, 63, 9}});
  rows.clear();
  AppendTerritoryRows(1, 200, 9, &rows);
  CHECK(rows == std::vector<TerritoryRow>{{0, 1, 63, 9}, {uint64_t{1} << 56, 64, 191, 9}, {3, 192, 200, 9}});
  rows.clear();
  // 20 million codes from an odd start: a few rows per level, never more than two.
  AppendTerritoryRows(1'000'003, 21'000'002, 9, &rows);
  std::map<uint64_t, int> per_level;
  uint64_t next = 1'000'003;
  for (const TerritoryRow& r : rows) {
    ++per_level[r.block >> 56];
    CHECK(r.first == next);  // in order, no gap, no overlap
    next = r.last + 1;
  }
  CHECK(next == 21'000'003);
  CHECK(rows.size() <= 16);
  for (const auto& [level, n] : per_level) CHECK(n <= 2);
  // Every code's probes name its row's block (a batch of 25 million codes).
  for (uint64_t code : {uint64_t{1'000'003}, uint64_t{1'048'576}, uint64_t{7'777'777}, uint64_t{21'000'002}}) {
    std::vector<uint64_t> keys;
    AppendCodeBlockProbes(code, 25'000'000, &keys);
    CHECK(keys.size() == 5);  // levels 0..4: 64^4 <= 25 million < 64^5
    std::map<uint64_t, TerritoryRow> by_first;
    for (const TerritoryRow& r : rows) by_first[r.first] = r;
    const TerritoryRow* row = FindTerritoryRow(by_first, code);
    REQUIRE(row != nullptr);
    CHECK(std::find(keys.begin(), keys.end(), row->block) != keys.end());
  }
}

// Batches laid side by side from code id 1,000: their first code ids and sizes.
const std::map<uint64_t, uint64_t> kBatches = {{1'000, 5'000}, {6'000, 300'000}, {306'000, 70}};

// kBatches as rows of `batches`, as CreateBatch writes them; the last one is brand b's.
void InsertBatches(sql::Connection& c) {
  for (const auto& [first, size] : kBatches) {
    Execute(c, absl::StrCat("INSERT INTO batches (batch_id, brand, request_id, params_digest, gtin, kind, set_size, "
                            "scheme, case_scheme, key_id, case_key_id, quantity, code_count, planned_territory, "
                            "production_line, activation, export_limit, actor, create_time) VALUES (",
                            first, ", '", first == 306'000 ? "b" : "a", "', '", first,
                            "', REPEAT('x', 32), '00000000000017', 1, 0, 1, 1, 1, 1, ", size, ", ", size,
                            ", '', '', 1, 0, 'test', NOW(6))"));
  }
}

// The whole table, keyed by first code id; fails the test if rows overlap.
std::map<uint64_t, TerritoryRow> ReadTerritories(ConnectionPool& pool) {
  std::map<uint64_t, TerritoryRow> rows;
  REQUIRE_OK(pool.WithConnection([&](sql::Connection& c) -> absl::Status {
    std::unique_ptr<sql::Statement> st(c.createStatement());
    std::unique_ptr<sql::ResultSet> rs(
        st->executeQuery("SELECT blk, first_code_id, last_code_id, shipment_id FROM shipment_territories"));
    while (rs->next()) {
      const TerritoryRow r{rs->getUInt64(1), rs->getUInt64(2), rs->getUInt64(3), rs->getUInt64(4)};
      rows[r.first] = r;
    }
    return absl::OkStatus();
  }));
  uint64_t end = 0;
  for (const auto& [first, r] : rows) {
    CHECK(first >= end);
    end = r.last + 1;
  }
  return rows;
}

// Checks every code of kBatches against `truth` (code id -> shipment, absent
// for none): the row found for it, and that the code's probes reach that row.
void CheckEveryCode(const std::map<uint64_t, TerritoryRow>& rows, const std::map<uint64_t, uint64_t>& truth) {
  int wrong = 0;
  for (const auto& [batch, size] : kBatches) {
    for (uint64_t code = batch; code < batch + size; ++code) {
      const TerritoryRow* row = FindTerritoryRow(rows, code);
      auto want = truth.find(code);
      const uint64_t got = row ? row->shipment_id : 0;
      bool ok = got == (want == truth.end() ? 0 : want->second);
      if (row != nullptr) {
        std::vector<uint64_t> keys;
        AppendCodeBlockProbes(code, size, &keys);
        ok = ok && std::find(keys.begin(), keys.end(), row->block) != keys.end();
      }
      if (!ok && ++wrong <= 5) FAIL_CHECK("code ", code, ": shipment ", got);
    }
  }
  CHECK(wrong == 0);
}

TEST_CASE("shipments painted over each other leave every code with the latest that carried it") {
  Db d;
  ConnectionPool pool(d.db->config(), {});
  REQUIRE_OK(ApplyMigrations(pool).status());
  const BatchOf batch_of = BatchesIn(kBatches);
  std::map<uint64_t, uint64_t> truth;
  std::mt19937_64 rng(20261207);
  size_t runs_written = 0;
  for (uint64_t shipment = 1; shipment <= 60; ++shipment) {
    // A few ranges of every size: single cases, pallets, whole stretches,
    // some across the batches' ends and some nested in earlier shipments.
    std::vector<std::pair<uint64_t, uint64_t>> ranges;
    for (int i = 1 + rng() % 4; i > 0; --i) {
      const uint64_t len = 1 + rng() % (uint64_t{1} << (rng() % 18));
      const uint64_t first = 1'000 + rng() % (306'070 - 1'000);
      ranges.push_back({first, std::min<uint64_t>(first + len - 1, 306'069)});
    }
    for (const auto& [first, last] : ranges) {
      for (uint64_t code = first; code <= last; ++code) truth[code] = shipment;
    }
    const std::vector<CodeRun> runs = BatchRuns(ranges, batch_of);
    runs_written += runs.size();
    REQUIRE_OK(pool.InTransaction([&](sql::Connection& c) -> absl::Status {
      PaintShipmentTerritory(c, runs, shipment);
      return absl::OkStatus();
    }));
  }
  const auto rows = ReadTerritories(pool);
  CheckEveryCode(rows, truth);
  // Every run and every piece left of one takes at most 16 rows.
  CHECK(rows.size() <= 16 * 2 * runs_written);
}

TEST_CASE("migration 15 fills the territories from shipments an older youma wrote; later ones are caught up") {
  Db d;
  ConnectionPool pool(d.db->config(), {});
  REQUIRE_OK(ApplyMigrations(pool).status());
  const Migration& fill = AllMigrations().at(14);
  REQUIRE(fill.version == 15);
  REQUIRE((fill.then == &BackfillShipmentTerritories));
  auto shipment = [](uint64_t id, const std::string& brand) {
    return absl::StrCat("INSERT INTO shipments (shipment_id, brand, dealer_id, territory, cases, codes, activated, "
                        "actor, ship_time, create_time) VALUES (",
                        id, ", '", brand, "', 'd', '44', 0, 0, 0, 'test', NOW(6), NOW(6))");
  };
  REQUIRE_OK(pool.WithConnection([&](sql::Connection& c) -> absl::Status {
    InsertBatches(c);
    // As an older youma wrote them: ranges in pieces of 65,536, one across
    // the first two batches, later shipments over earlier ones.
    for (const auto& [id, brand] : std::vector<std::pair<int, std::string>>{{1, "a"}, {2, "a"}, {3, "a"}, {4, "b"}}) {
      Execute(c, shipment(id, brand));
    }
    Execute(c, "INSERT INTO shipment_ranges (shipment_id, first_code_id, last_code_id, brand) VALUES "
               "(1, 1000, 66535, 'a'), (1, 66536, 70000, 'a'), (2, 3000, 3010, 'a'), (3, 2000, 9000, 'a'), "
               "(4, 306010, 306020, 'b')");
    for (int run = 0; run < 2; ++run) fill.then(c);  // a second run changes nothing
    return absl::OkStatus();
  }));
  std::map<uint64_t, uint64_t> truth;
  for (uint64_t code = 1'000; code <= 70'000; ++code) truth[code] = code >= 2'000 && code <= 9'000 ? 3 : 1;
  for (uint64_t code = 306'010; code <= 306'020; ++code) truth[code] = 4;
  CheckEveryCode(ReadTerritories(pool), truth);
  auto painted = [&](const std::string& brand) {
    return pool.WithConnection([&](sql::Connection& c) -> absl::StatusOr<int64_t> {
      std::unique_ptr<sql::Statement> st(c.createStatement());
      std::unique_ptr<sql::ResultSet> rs(st->executeQuery(
          absl::StrCat("SELECT painted_through FROM shipment_locks WHERE brand = '", brand, "'")));
      if (!rs->next()) return absl::NotFoundError(brand);
      return rs->getInt64(1);
    });
  };
  CHECK(painted("a").value_or(-1) == 3);
  CHECK(painted("b").value_or(-1) == 4);
  auto unpainted = [&] {
    return pool.WithConnection([](sql::Connection& c) -> absl::StatusOr<std::vector<std::string>> {
      return BrandsWithUnpaintedShipments(c);
    });
  };
  CHECK(unpainted().value_or(std::vector<std::string>{"?"}).empty());
  // An older youma, still running during an upgrade, reports one more, and
  // the first of a brand new to shipping: both found, and the brand's next
  // shipment (or the catch-up) paints them first.
  REQUIRE_OK(pool.InTransaction([&](sql::Connection& c) -> absl::Status {
    Execute(c, shipment(5, "a"));
    Execute(c, shipment(6, "c"));
    Execute(c, "INSERT INTO shipment_ranges (shipment_id, first_code_id, last_code_id, brand) VALUES "
               "(5, 5000, 5005, 'a'), (6, 306030, 306031, 'c')");
    return absl::OkStatus();
  }));
  CHECK(unpainted().value_or(std::vector<std::string>{}) == std::vector<std::string>{"a", "c"});
  ASSIGN_OR_FAIL(uint64_t through, pool.InTransaction([&](sql::Connection& c) -> absl::StatusOr<uint64_t> {
    return LockBrandShipments(c, "a", BatchesIn(kBatches));
  }));
  CHECK(through == 5);
  CHECK(painted("a").value_or(-1) == 5);
  CHECK(unpainted().value_or(std::vector<std::string>{}) == std::vector<std::string>{"c"});
  ASSIGN_OR_FAIL(through, pool.InTransaction([&](sql::Connection& c) -> absl::StatusOr<uint64_t> {
    return LockBrandShipments(c, "c", BatchesIn(kBatches));
  }));
  CHECK(through == 6);
  CHECK(unpainted().value_or(std::vector<std::string>{"?"}).empty());
  for (uint64_t code = 5'000; code <= 5'005; ++code) truth[code] = 5;
  truth[306'030] = truth[306'031] = 6;
  CheckEveryCode(ReadTerritories(pool), truth);
}

TEST_CASE("migration 16 indexes the range changes an older youma wrote; a scan group's keys find a code's changes") {
  Db d;
  ConnectionPool pool(d.db->config(), {});
  REQUIRE_OK(ApplyMigrations(pool).status());
  const Migration& index = AllMigrations().at(15);
  REQUIRE(index.version == 16);
  REQUIRE((index.then == &BackfillRangeChangeBlocks));
  // As an older youma wrote them (AUTO_INCREMENT ids): the batches activated,
  // then a freeze, single codes activated on shipment, and one change across
  // two batches' end (the bottles of one case).
  std::vector<std::pair<uint64_t, uint64_t>> spans = {{1'000, 5'999}, {6'000, 305'999}, {2'000, 2'500}};
  for (uint64_t code = 306'000; code < 306'070; code += 3) spans.push_back({code, code});
  spans.push_back({5'990, 6'010});
  auto change = [](uint64_t first, uint64_t last) {
    return absl::StrCat("INSERT INTO range_changes (brand, batch_id, action, first_code_id, last_code_id, reason, "
                        "actor, effective_time, create_time) VALUES ('a', 0, 1, ",
                        first, ", ", last, ", '', 'test', NOW(6), NOW(6))");
  };
  // Which changes hold `code`, as a scan group finds them.
  auto found = [&](sql::Connection& c, uint64_t code) {
    const auto batch = BatchesIn(kBatches)(code);
    std::vector<uint64_t> keys;
    AppendCodeBlockProbes(code, batch ? batch->second : 1, &keys);
    std::set<uint64_t> ids;
    std::unique_ptr<sql::Statement> st(c.createStatement());
    std::unique_ptr<sql::ResultSet> rs(st->executeQuery(RangeChangesHoldingSql(keys)));
    while (rs->next()) {
      if (rs->getUInt64(4) <= code && code <= rs->getUInt64(5)) ids.insert(rs->getUInt64(1));
    }
    return ids;
  };
  REQUIRE_OK(pool.WithConnection([&](sql::Connection& c) -> absl::Status {
    InsertBatches(c);
    for (const auto& [first, last] : spans) Execute(c, change(first, last));
    for (int run = 0; run < 2; ++run) index.then(c);  // a second run changes nothing
    // Every code of every batch finds exactly the changes that hold it.
    int wrong = 0;
    for (const auto& [batch, size] : kBatches) {
      for (uint64_t code = batch; code < batch + size; code += (code % 7 == 0 ? 1 : 13)) {
        std::set<uint64_t> want;
        for (size_t i = 0; i < spans.size(); ++i) {
          if (spans[i].first <= code && code <= spans[i].second) want.insert(i + 1);
        }
        if (found(c, code) != want && ++wrong <= 5) FAIL_CHECK("code ", code);
      }
    }
    CHECK(wrong == 0);
    // New ids continue above the old ones. A change that an older youma
    // records meanwhile (during an upgrade: no pieces) is indexed by the next
    // reservation, and the ids go on above it.
    REQUIRE(spans.size() == 28);
    InOneTransaction(c, [&] {
      CHECK(ReserveRangeChangeIds(c, 3) == 29);
      for (uint64_t id = 29; id <= 31; ++id) {
        Execute(c, absl::StrCat("INSERT INTO range_changes (change_id, brand, batch_id, action, first_code_id, "
                                "last_code_id, reason, actor, effective_time, create_time) VALUES (",
                                id, ", 'a', 0, 2, 7000, 7000, '', 'test', NOW(6), NOW(6))"));
        InsertRangeChangeBlocks(c, {{id, 7'000, 7'000}});
      }
    });
    CHECK_FALSE(HasUnindexedRangeChanges(c));
    Execute(c, change(7'000, 7'001));  // the older youma's AUTO_INCREMENT gives it 32
    CHECK(HasUnindexedRangeChanges(c));
    CHECK(found(c, 7'001) == std::set<uint64_t>{2});  // the batch's activation alone
    size_t indexed = 0;
    InOneTransaction(c, [&] { CHECK(ReserveRangeChangeIds(c, 1, &indexed) == 33); });
    CHECK(indexed == 1);
    CHECK_FALSE(HasUnindexedRangeChanges(c));
    CHECK(found(c, 7'000) == std::set<uint64_t>{2, 29, 30, 31, 32});
    CHECK(found(c, 7'001) == std::set<uint64_t>{2, 32});
    return absl::OkStatus();
  }));
}

TEST_CASE("migration 18 counts the awards recorded before it; an older youma's later ones are left uncounted") {
  Db d;
  ConnectionPool pool(d.db->config(), {});
  REQUIRE_OK(ApplyMigrations(pool).status());
  const Migration& totals = AllMigrations().at(17);
  REQUIRE(totals.version == 18);
  auto award = [](int campaign, int code, int tier, int fen) {
    return absl::StrCat("INSERT INTO awards (campaign_id, code_id, role, award_id, brand, user_id, tier, amount_fen, "
                        "client_scan_id, award_time) VALUES (", campaign, ", ", code, ", 1, 'award-", campaign, "-",
                        code, "', 'a', 'u', ", tier, ", ", fen, ", 's', NOW(6))");
  };
  ASSIGN_OR_FAIL(std::string rows, pool.WithConnection([&](sql::Connection& c) -> absl::StatusOr<std::string> {
    // The ledger as it stood before migration 18, with a campaign's awards.
    Execute(c, "ALTER TABLE awards DROP INDEX awards_uncounted, DROP COLUMN counted");
    Execute(c, "DROP TABLE award_totals");
    for (const std::string& sql : {award(1, 10, 0, 100), award(1, 11, 0, 100), award(1, 12, 1, 500),
                                   award(2, 10, 0, 7)}) {
      Execute(c, sql);
    }
    for (const std::string& sql : totals.statements) Execute(c, sql);
    // An older youma's award after the migration: uncounted.
    Execute(c, award(1, 13, 0, 100));
    std::unique_ptr<sql::Statement> st(c.createStatement());
    std::unique_ptr<sql::ResultSet> rs(st->executeQuery(
        "SELECT CONCAT((SELECT GROUP_CONCAT(CONCAT(campaign_id, '/', tier, '/', shard, ':', awards, '=', amount_fen) "
        "ORDER BY campaign_id, tier, shard SEPARATOR ' ') FROM award_totals), ' | ', "
        "(SELECT GROUP_CONCAT(CONCAT(code_id, ':', counted) ORDER BY campaign_id, code_id SEPARATOR ' ') "
        "FROM awards))"));
    rs->next();
    return std::string(rs->getString(1));
  }));
  CHECK(rows == "1/0/0:2=200 1/1/0:1=500 2/0/0:1=7 | 10:1 11:1 12:1 13:0 10:1");
}

TEST_CASE("migration 19 leaves pending payouts counted as they are and the others for the catch-up") {
  Db d;
  ConnectionPool pool(d.db->config(), {});
  REQUIRE_OK(ApplyMigrations(pool).status());
  const Migration& counts = AllMigrations().at(18);
  REQUIRE(counts.version == 19);
  ASSIGN_OR_FAIL(std::string rows, pool.WithConnection([&](sql::Connection& c) -> absl::StatusOr<std::string> {
    // The outbox as it stood before migration 19.
    Execute(c, "ALTER TABLE payouts DROP INDEX payouts_uncounted, DROP COLUMN uncounted, DROP COLUMN counted_state");
    Execute(c, "DROP TABLE payout_counts");
    for (int state = 1; state <= 4; ++state) {
      Execute(c, absl::StrCat("INSERT INTO payouts (payout_id, brand, campaign_id, user_id, amount_fen, state, "
                              "award_time) VALUES ('p", state, "', 'a', 1, 'u', 100, ", state, ", NOW(6))"));
    }
    for (const std::string& sql : counts.statements) Execute(c, sql);
    // An older youma's payout, made after it: PENDING, counted as it is.
    Execute(c, "INSERT INTO payouts (payout_id, brand, campaign_id, user_id, amount_fen, state, award_time) "
               "VALUES ('p5', 'a', 1, 'u', 100, 1, NOW(6))");
    std::unique_ptr<sql::Statement> st(c.createStatement());
    std::unique_ptr<sql::ResultSet> rs(st->executeQuery(
        "SELECT GROUP_CONCAT(CONCAT(payout_id, ':', state, '/', counted_state, '/', uncounted) ORDER BY payout_id "
        "SEPARATOR ' ') FROM payouts"));
    rs->next();
    return std::string(rs->getString(1));
  }));
  CHECK(rows == "p1:1/1/0 p2:2/1/1 p3:3/1/1 p4:4/1/1 p5:1/1/0");
  ASSIGN_OR_FAIL(int64_t moved, youma::payout::CountOlderPayoutStates(&pool));
  CHECK(moved == 3);
  ASSIGN_OR_FAIL(std::string kept, pool.WithConnection([&](sql::Connection& c) -> absl::StatusOr<std::string> {
    return youma::payout::CountPayoutStates(c, "a") == std::map<uint64_t, std::map<int, int64_t>>{
                                                            {1, {{2, 1}, {3, 1}, {4, 1}}}}
               ? std::string("exact")
               : std::string("wrong");
  }));
  CHECK(kept == "exact");
}

// Rows read by every handler of the server so far (the test's MariaDB is its own).
int64_t RowsRead(ConnectionPool& pool) {
  absl::StatusOr<int64_t> n = pool.WithConnection([](sql::Connection& c) -> absl::StatusOr<int64_t> {
    std::unique_ptr<sql::Statement> st(c.createStatement());
    std::unique_ptr<sql::ResultSet> rs(st->executeQuery("SHOW GLOBAL STATUS LIKE 'Handler_read%'"));
    int64_t total = 0;
    while (rs->next()) total += rs->getInt64(2);
    return total;
  });
  REQUIRE_OK(n.status());
  return *n;
}

int64_t CountRows(ConnectionPool& pool, const std::string& sql) {
  absl::StatusOr<int64_t> n = pool.WithConnection([&](sql::Connection& c) -> absl::StatusOr<int64_t> {
    std::unique_ptr<sql::Statement> st(c.createStatement());
    std::unique_ptr<sql::ResultSet> rs(st->executeQuery(sql));
    rs->next();
    return static_cast<int64_t>(rs->getInt64(1));
  });
  REQUIRE_OK(n.status());
  return *n;
}

TEST_CASE("a sweep by primary key changes every matching row in one pass over the table") {
  Db d;
  ConnectionPool pool(d.db->config(), {});
  // 30,000 rows under three values of the first key column, two of them one
  // apart above 2^53 (as doubles they are equal: a stretch that ended inside
  // one of them, compared as a double, would skip or repeat rows), and keys
  // with a quote in them. Every third row is old.
  REQUIRE_OK(pool.WithConnection([](sql::Connection& c) -> absl::Status {
    Execute(c, "CREATE TABLE swept (a BIGINT UNSIGNED NOT NULL, b VARCHAR(20) NOT NULL, day DATE NOT NULL, "
               "v INT NOT NULL, PRIMARY KEY (a, b)) ENGINE=InnoDB");
    Execute(c, "INSERT INTO swept SELECT ELT(1 + seq % 3, 7, 9007199254740992, 9007199254740993), "
               "CONCAT('u', LPAD(seq DIV 3, 6, '0'), IF(seq % 2, '''s', '')), "
               "IF(seq % 3 = 1, '2026-11-01', '2026-12-06'), 1 FROM seq_0_to_29999");
    return absl::OkStatus();
  }));
  REQUIRE(CountRows(pool, "SELECT COUNT(*) FROM swept WHERE day < '2026-12-01'") == 10'000);
  const std::vector<KeyColumn> key = {{"a", true}, {"b"}};

  const int64_t read_before = RowsRead(pool);
  ASSIGN_OR_FAIL(const int64_t deleted,
                 SweepByKey(pool, "DELETE FROM swept", "swept", key, "day < '2026-12-01'", 700));
  const int64_t read = RowsRead(pool) - read_before;
  CHECK(deleted == 10'000);
  CHECK(CountRows(pool, "SELECT COUNT(*) FROM swept WHERE day < '2026-12-01'") == 0);
  CHECK(CountRows(pool, "SELECT COUNT(*) FROM swept") == 20'000);
  // About two reads of each row (the stretch's end, then the change): one
  // pass. A DELETE ... LIMIT 700 repeated until short read 170,000 here, a
  // number that grows with the square of the rows it deletes.
  INFO("rows read: " << read);
  CHECK(read < 100'000);

  // An UPDATE the same way; a second sweep finds nothing left to change.
  ASSIGN_OR_FAIL(const int64_t updated, SweepByKey(pool, "UPDATE swept SET v = 0", "swept", key, "v <> 0", 999));
  CHECK(updated == 20'000);
  CHECK(CountRows(pool, "SELECT COUNT(*) FROM swept WHERE v = 0") == 20'000);
  ASSIGN_OR_FAIL(const int64_t again, SweepByKey(pool, "UPDATE swept SET v = 0", "swept", key, "v <> 0", 999));
  CHECK(again == 0);
  // A stretch of one key, and a table with nothing in it.
  ASSIGN_OR_FAIL(const int64_t one,
                 SweepByKey(pool, "DELETE FROM swept", "swept", key, "a = 7 AND b < 'u000010'", 1));
  CHECK(one == 10);
  REQUIRE_OK(pool.WithConnection([](sql::Connection& c) -> absl::Status {
    Execute(c, "DELETE FROM swept");
    return absl::OkStatus();
  }));
  ASSIGN_OR_FAIL(const int64_t none, SweepByKey(pool, "DELETE FROM swept", "swept", key, "TRUE", 10));
  CHECK(none == 0);
  CHECK(SweepByKey(pool, "DELETE FROM swept", "swept", key, "TRUE", 0).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("a daily job's day is claimed by one server, done once, and taken over when its claim is given back or runs out") {
  Db d;
  ConnectionPool pool(d.db->config(), {});
  REQUIRE_OK(ApplyMigrations(pool).status());
  DailyJobs a(&pool), b(&pool), quick(&pool, absl::Milliseconds(300));
  CHECK(a.owner() != b.owner());
  auto claim = [](DailyJobs& jobs, const std::string& day) {
    absl::StatusOr<DayClaim> c = jobs.Claim("prune", day);
    REQUIRE_OK(c.status());
    return *c;
  };
  // One claims the day; the other finds it taken, until it is done.
  CHECK(claim(a, "2026-12-05") == DayClaim::kMine);
  CHECK(claim(b, "2026-12-05") == DayClaim::kTaken);
  CHECK(claim(a, "2026-12-05") == DayClaim::kMine);  // its own claim, renewed
  REQUIRE_OK(a.Done("prune", "2026-12-05"));
  CHECK(claim(b, "2026-12-05") == DayClaim::kDone);
  CHECK(claim(b, "2026-12-04") == DayClaim::kDone);  // days before it too
  CHECK(claim(a, "2026-12-05") == DayClaim::kDone);
  // Other jobs keep their own days.
  absl::StatusOr<DayClaim> other = b.Claim("sweep", "2026-12-05");
  REQUIRE_OK(other.status());
  CHECK(*other == DayClaim::kMine);

  // The next day: a claim given back (a failed job) is the next one's to take.
  CHECK(claim(b, "2026-12-06") == DayClaim::kMine);
  CHECK(claim(a, "2026-12-06") == DayClaim::kTaken);
  REQUIRE_OK(a.Release("prune"));  // not a's to give back: still b's
  CHECK(claim(a, "2026-12-06") == DayClaim::kTaken);
  REQUIRE_OK(b.Release("prune"));
  CHECK(claim(a, "2026-12-06") == DayClaim::kMine);
  REQUIRE_OK(a.Done("prune", "2026-12-06"));
  // An older day done late does not move the record back.
  REQUIRE_OK(b.Done("prune", "2026-12-01"));
  CHECK(CountRows(pool, "SELECT done_day = '2026-12-06' FROM daily_jobs WHERE job = 'prune'") == 1);

  // A server that stopped holding a claim: the others wait for its lease.
  CHECK(claim(quick, "2026-12-07") == DayClaim::kMine);
  CHECK(claim(a, "2026-12-07") == DayClaim::kTaken);
  absl::SleepFor(absl::Milliseconds(400));
  CHECK(claim(a, "2026-12-07") == DayClaim::kMine);
  CHECK(claim(quick, "2026-12-07") == DayClaim::kTaken);
  // The late server's work still counts as done; a's claim stays a's.
  REQUIRE_OK(quick.Done("prune", "2026-12-07"));
  CHECK(CountRows(pool, absl::StrCat("SELECT done_day = '2026-12-07' AND claimed_by = '", a.owner(),
                                     "' AND claimed_until IS NOT NULL FROM daily_jobs WHERE job = 'prune'")) == 1);
  CHECK(claim(b, "2026-12-07") == DayClaim::kDone);

  // RunOnce: the work runs only on a claim of one's own; a failure gives it
  // back, with the work's error.
  int runs = 0;
  auto fail = [&] {
    ++runs;
    return absl::AbortedError("the sweep failed");
  };
  auto work = [&] {
    ++runs;
    return absl::OkStatus();
  };
  absl::StatusOr<DayClaim> ran = a.RunOnce("prune", "2026-12-08", fail);
  CHECK(ran.status().code() == absl::StatusCode::kAborted);
  CHECK(ran.status().message() == "the sweep failed");
  CHECK(claim(b, "2026-12-08") == DayClaim::kMine);  // given back
  ran = a.RunOnce("prune", "2026-12-08", work);
  REQUIRE_OK(ran.status());
  CHECK(*ran == DayClaim::kTaken);
  CHECK(runs == 1);
  REQUIRE_OK(b.Release("prune"));
  ran = a.RunOnce("prune", "2026-12-08", work);
  REQUIRE_OK(ran.status());
  CHECK(*ran == DayClaim::kMine);
  CHECK(runs == 2);
  ran = b.RunOnce("prune", "2026-12-08", work);
  REQUIRE_OK(ran.status());
  CHECK(*ran == DayClaim::kDone);
  CHECK(runs == 2);

  CHECK(a.Claim("prune", "7 Dec").status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(a.Done("prune", "2026-12-7x").code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("the embedded MariaDB keeps its data across a restart and a kill") {
  Db d;
  ConnectionPool pool(d.db->config(), {});
  REQUIRE_OK(pool.WithConnection([](sql::Connection& c) -> absl::Status {
    Execute(c, "CREATE TABLE kept (v INT)");
    Execute(c, "INSERT INTO kept VALUES (42)");
    return absl::OkStatus();
  }));
  REQUIRE_OK(d.db->Restart());
  d.db->Kill();
  CHECK(pool.WithConnection([](sql::Connection& c) -> absl::Status {
          Execute(c, "SELECT 1");
          return absl::OkStatus();
        }).code() == absl::StatusCode::kUnavailable);
  REQUIRE_OK(d.db->Restart());
  // The pool reconnects by itself.
  ASSIGN_OR_FAIL(int64_t v, pool.WithConnection([](sql::Connection& c) -> absl::StatusOr<int64_t> {
    std::unique_ptr<sql::Statement> st(c.createStatement());
    std::unique_ptr<sql::ResultSet> rs(st->executeQuery("SELECT v FROM kept"));
    rs->next();
    return static_cast<int64_t>(rs->getInt(1));
  }));
  CHECK(v == 42);
}

}  // namespace
}  // namespace youma::storage

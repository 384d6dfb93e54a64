// Storage: MySQL URLs, migrations, status mapping and the embedded MariaDB.
#include <filesystem>

#include "services/storage/local_mariadb.h"
#include "services/storage/migrations.h"
#include "services/storage/mysql.h"
#include "tests/test_util.h"

namespace youma::storage {
namespace {

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

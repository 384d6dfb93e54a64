// Where the database is and how to log in.
//
//   mysql://user@host:3306/youma
//   mysql://user@unix(/run/mysqld/mysqld.sock)/youma
//
// The password comes from a file (--mysql-password-file) or $YOUMA_MYSQL_PASSWORD,
// never from the URL, so it stays out of process lists and logs.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace youma::storage {

struct MySqlConfig {
  std::string host;         // empty when `socket` is set
  int port = 3306;
  std::string socket;       // unix socket path
  std::string user = "root";
  std::string password;
  std::string database = "youma";

  // "unix:///path" or "tcp://host:port", as Connector/C++ wants it.
  std::string ConnectorHost() const;
  // For logs: never includes the password.
  std::string Describe() const;
};

// INVALID_ARGUMENT names what is wrong with the URL.
absl::StatusOr<MySqlConfig> ParseMySqlUrl(absl::string_view url);

}  // namespace youma::storage

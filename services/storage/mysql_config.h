// Where the database is and how to log in.
//
//   mysql://user@host:3306/youma
//   mysql://user@unix(/run/mysqld/mysqld.sock)/youma
//
// The password comes from a file (--mysql-password-file) or $YOUMA_MYSQL_PASSWORD,
// never from the URL, so it stays out of process lists and logs. TLS (for a
// database across a network: scans carry openids, IPs and positions) comes
// from --mysql-ca and, for a client certificate, --mysql-cert/--mysql-key.
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
  // TLS, over TCP only. With `tls_ca` (PEM file) every connection must be
  // encrypted and the server's certificate must chain to that CA and name the
  // host connected to; there is no fallback to plaintext. `tls_cert` and
  // `tls_key` (PEM files, both or neither) present a client certificate.
  std::string tls_ca;
  std::string tls_cert;
  std::string tls_key;

  // "unix:///path" or "tcp://host:port", as Connector/C++ wants it.
  std::string ConnectorHost() const;
  // For logs: never includes the password.
  std::string Describe() const;
};

// INVALID_ARGUMENT names what is wrong with the URL.
absl::StatusOr<MySqlConfig> ParseMySqlUrl(absl::string_view url);

// Sets the TLS files of `config`: INVALID_ARGUMENT for a file that cannot be
// read, a certificate without its key (or the reverse), a client certificate
// without a CA, or TLS to a unix socket.
absl::Status SetMySqlTls(MySqlConfig& config, const std::string& ca, const std::string& cert,
                         const std::string& key);

}  // namespace youma::storage

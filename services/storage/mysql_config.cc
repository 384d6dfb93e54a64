#include "services/storage/mysql_config.h"

#include <fstream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace youma::storage {

std::string MySqlConfig::ConnectorHost() const {
  if (!socket.empty()) return absl::StrCat("unix://", socket);
  return absl::StrCat("tcp://", host, ":", port);
}

std::string MySqlConfig::Describe() const {
  return absl::StrCat("mysql://", user, "@",
                      socket.empty() ? absl::StrCat(host, ":", port)
                                     : absl::StrCat("unix(", socket, ")"),
                      "/", database, tls_ca.empty() ? "" : " with TLS");
}

absl::Status SetMySqlTls(MySqlConfig& config, const std::string& ca, const std::string& cert,
                         const std::string& key) {
  if (ca.empty() && cert.empty() && key.empty()) return absl::OkStatus();
  if (ca.empty()) {
    return absl::InvalidArgumentError(
        "--mysql-cert and --mysql-key need --mysql-ca: the CA that signed the server's certificate");
  }
  if (cert.empty() != key.empty()) {
    return absl::InvalidArgumentError("--mysql-cert and --mysql-key go together: a client certificate and its key");
  }
  if (!config.socket.empty()) {
    return absl::InvalidArgumentError("TLS to MySQL is for a TCP address (mysql://USER@HOST:PORT/DB), not a unix socket");
  }
  for (const auto& [flag, path] : {std::pair<const char*, const std::string&>{"--mysql-ca", ca},
                                   {"--mysql-cert", cert},
                                   {"--mysql-key", key}}) {
    if (path.empty()) continue;
    std::ifstream in(path);
    if (!in) return absl::InvalidArgumentError(absl::StrCat(flag, " ", path, " cannot be read"));
  }
  config.tls_ca = ca;
  config.tls_cert = cert;
  config.tls_key = key;
  return absl::OkStatus();
}

absl::StatusOr<MySqlConfig> ParseMySqlUrl(absl::string_view url) {
  const absl::string_view example =
      " (expected mysql://USER@HOST[:PORT]/DATABASE or mysql://USER@unix(/path.sock)/DATABASE)";
  if (!absl::ConsumePrefix(&url, "mysql://")) {
    return absl::InvalidArgumentError(absl::StrCat("MySQL URL must start with mysql://", example));
  }
  MySqlConfig config;
  const size_t at = url.find('@');
  if (at == absl::string_view::npos || at == 0) {
    return absl::InvalidArgumentError(absl::StrCat("MySQL URL has no USER@", example));
  }
  const absl::string_view user = url.substr(0, at);
  if (user.find(':') != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        "put the MySQL password in --mysql-password-file or YOUMA_MYSQL_PASSWORD, not the URL");
  }
  config.user = std::string(user);
  url.remove_prefix(at + 1);
  if (absl::ConsumePrefix(&url, "unix(")) {
    const size_t close = url.find(')');
    if (close == absl::string_view::npos || close == 0) {
      return absl::InvalidArgumentError(absl::StrCat("unclosed unix( in MySQL URL", example));
    }
    config.socket = std::string(url.substr(0, close));
    url.remove_prefix(close + 1);
  } else {
    const size_t slash = url.find('/');
    absl::string_view hostport = url.substr(0, slash);
    url.remove_prefix(slash == absl::string_view::npos ? url.size() : slash);
    const size_t colon = hostport.rfind(':');
    if (colon != absl::string_view::npos) {
      if (!absl::SimpleAtoi(hostport.substr(colon + 1), &config.port) || config.port <= 0 ||
          config.port > 65535) {
        return absl::InvalidArgumentError(absl::StrCat("bad port in MySQL URL", example));
      }
      hostport = hostport.substr(0, colon);
    }
    if (hostport.empty()) return absl::InvalidArgumentError(absl::StrCat("no host", example));
    config.host = std::string(hostport);
  }
  if (!absl::ConsumePrefix(&url, "/") || url.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("MySQL URL names no database", example));
  }
  config.database = std::string(url);
  return config;
}

}  // namespace youma::storage

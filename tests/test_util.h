// Helpers shared by youma's doctest suites.
#pragma once

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "codegen/keyset.h"
#include "tests/vector_keyset.h"

// Fails the test with the status message unless `expr` is OK.
#define REQUIRE_OK(expr)                                         \
  do {                                                           \
    const absl::Status youma_test_st_ = ::youma::testing::AsStatus(expr); \
    INFO(youma_test_st_.ToString());                             \
    REQUIRE(youma_test_st_.ok());                                \
  } while (false)

#define YOUMA_TEST_CONCAT_(a, b) a##b
#define YOUMA_TEST_CONCAT(a, b) YOUMA_TEST_CONCAT_(a, b)
// `lhs = *expr` after REQUIRE_OK(expr).
#define ASSIGN_OR_FAIL(lhs, expr)                                 \
  auto YOUMA_TEST_CONCAT(youma_test_or_, __LINE__) = (expr);      \
  REQUIRE_OK(YOUMA_TEST_CONCAT(youma_test_or_, __LINE__).status()); \
  lhs = std::move(*YOUMA_TEST_CONCAT(youma_test_or_, __LINE__))

namespace youma::testing {

inline absl::Status AsStatus(const absl::Status& s) { return s; }
template <typename T>
absl::Status AsStatus(const absl::StatusOr<T>& s) {
  return s.status();
}

// Runs a shell command; returns its exit code (-1 when it did not exit) and
// appends what it printed (stdout and stderr) to `output`.
inline int RunCommand(const std::string& command, std::string* output) {
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) return -1;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) output->append(buf, n);
  const int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// A TCP port on 127.0.0.1 that nothing listens on now.
inline int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

// VectorKeysetProto() as a Keyset.
codegen::Keyset VectorKeyset();

}  // namespace youma::testing

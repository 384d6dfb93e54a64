// Early-return helpers for absl::Status and absl::StatusOr.
//
//   absl::StatusOr<Keyset> Load(...) {
//     YOUMA_ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
//     YOUMA_RETURN_IF_ERROR(CheckMagic(bytes));
//     ...
//   }
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define YOUMA_STATUS_CONCAT_INNER(a, b) a##b
#define YOUMA_STATUS_CONCAT(a, b) YOUMA_STATUS_CONCAT_INNER(a, b)

#define YOUMA_RETURN_IF_ERROR(expr)                \
  do {                                             \
    if (absl::Status youma_status_ = (expr);       \
        !youma_status_.ok()) {                     \
      return youma_status_;                        \
    }                                              \
  } while (false)

#define YOUMA_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp.ok()) return std::move(tmp).status();    \
  lhs = std::move(*tmp)

#define YOUMA_ASSIGN_OR_RETURN(lhs, expr) \
  YOUMA_ASSIGN_OR_RETURN_IMPL(            \
      YOUMA_STATUS_CONCAT(youma_statusor_, __COUNTER__), lhs, expr)

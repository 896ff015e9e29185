// Status propagation macros used across the project.
//
// Abseil 20220623 ships no RETURN_IF_ERROR, so the project defines one pair:
//
//   ENGRAM_RETURN_IF_ERROR(file.Flush());
//   ENGRAM_ASSIGN_OR_RETURN(std::unique_ptr<Table> table, Table::Create(opts));
#ifndef ENGRAM_COMMON_STATUS_MACROS_H_
#define ENGRAM_COMMON_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define ENGRAM_STATUS_MACROS_CONCAT_INNER_(x, y) x##y
#define ENGRAM_STATUS_MACROS_CONCAT_(x, y) \
  ENGRAM_STATUS_MACROS_CONCAT_INNER_(x, y)

// Evaluates `expr` (an absl::Status) and returns it from the enclosing
// function when it is not OK.
#define ENGRAM_RETURN_IF_ERROR(expr)                                  \
  do {                                                                \
    if (absl::Status engram_status_ = (expr); !engram_status_.ok()) { \
      return engram_status_;                                          \
    }                                                                 \
  } while (false)

// Evaluates `rexpr` (an absl::StatusOr<T>); on error returns its status,
// otherwise moves the value into `lhs` (which may be a declaration).
#define ENGRAM_ASSIGN_OR_RETURN(lhs, rexpr) \
  ENGRAM_ASSIGN_OR_RETURN_IMPL_(            \
      ENGRAM_STATUS_MACROS_CONCAT_(engram_statusor_, __LINE__), lhs, rexpr)

#define ENGRAM_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                  \
  if (!statusor.ok()) return std::move(statusor).status();  \
  lhs = std::move(statusor).value()

#endif  // ENGRAM_COMMON_STATUS_MACROS_H_

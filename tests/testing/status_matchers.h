// Test-only gMock matchers for absl::Status / StatusOr, named as upstream's
// (absl/status/status_matchers.h is newer than the Abseil we build with), so
// a later switch is mechanical: IsOk(), StatusIs(code[, message matcher]),
// IsOkAndHolds(matcher), ASSERT_OK, EXPECT_OK, ASSERT_OK_AND_ASSIGN.
#ifndef ANNALS_TESTS_TESTING_STATUS_MATCHERS_H_
#define ANNALS_TESTS_TESTING_STATUS_MATCHERS_H_

#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace annals::testing {

inline const absl::Status& GetStatus(const absl::Status& status) { return status; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& status_or) {
  return status_or.status();
}

MATCHER(IsOk, "is OK") {
  const absl::Status& status = GetStatus(arg);
  *result_listener << "status is " << status.ToString();
  return status.ok();
}

MATCHER_P(StatusIs, code, "has status code " + absl::StatusCodeToString(code)) {
  const absl::Status& status = GetStatus(arg);
  *result_listener << "status is " << status.ToString();
  return status.code() == code;
}

MATCHER_P2(StatusIs, code, message_matcher,
           "has status code " + absl::StatusCodeToString(code) + " and a matching message") {
  const absl::Status& status = GetStatus(arg);
  *result_listener << "status is " << status.ToString();
  return status.code() == code &&
         ::testing::Matches(message_matcher)(std::string(status.message()));
}

MATCHER_P(IsOkAndHolds, value_matcher, "is OK and holds a matching value") {
  if (!arg.ok()) {
    *result_listener << "status is " << arg.status().ToString();
    return false;
  }
  return ::testing::ExplainMatchResult(value_matcher, *arg, result_listener);
}

}  // namespace annals::testing

#define ANNALS_TEST_CONCAT_INNER_(a, b) a##b
#define ANNALS_TEST_CONCAT_(a, b) ANNALS_TEST_CONCAT_INNER_(a, b)

#define ASSERT_OK(expr) ASSERT_THAT((expr), ::annals::testing::IsOk())
#define EXPECT_OK(expr) EXPECT_THAT((expr), ::annals::testing::IsOk())
#define ASSERT_OK_AND_ASSIGN(lhs, expr) \
  ASSERT_OK_AND_ASSIGN_IMPL_(ANNALS_TEST_CONCAT_(statusor_, __LINE__), lhs, expr)
#define ASSERT_OK_AND_ASSIGN_IMPL_(statusor, lhs, expr)      \
  auto statusor = (expr);                                    \
  ASSERT_THAT(statusor.status(), ::annals::testing::IsOk()); \
  lhs = std::move(statusor).value()

#endif  // ANNALS_TESTS_TESTING_STATUS_MATCHERS_H_

#include "common/logging.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace engram {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Runs `body` with this process's stderr sent to a temp file and returns
// what it wrote there.
template <typename Body>
std::string CaptureStderr(Body body) {
  char path[] = "/tmp/engram-logging-test-XXXXXX";
  const int file = mkstemp(path);
  EXPECT_GE(file, 0);
  const int saved = dup(STDERR_FILENO);
  dup2(file, STDERR_FILENO);
  body();
  dup2(saved, STDERR_FILENO);
  close(saved);
  std::string text;
  char buffer[4096];
  lseek(file, 0, SEEK_SET);
  for (ssize_t n; (n = read(file, buffer, sizeof(buffer))) > 0;) {
    text.append(buffer, n);
  }
  close(file);
  unlink(path);
  return text;
}

TEST(ScopedLogRequestIdTest, LinesInsideAScopeCarryItsId) {
  const std::string text = CaptureStderr([] {
    LOG(INFO) << "before";
    {
      const ScopedLogRequestId outer("outer-1");
      LOG(INFO) << "in outer";
      {
        const ScopedLogRequestId inner("inner-2");
        LOG(WARNING) << "in inner";
      }
      LOG(INFO) << "outer again";
    }
    LOG(INFO) << "after";
  });
  EXPECT_THAT(text, HasSubstr("] before\n"));
  EXPECT_THAT(text, HasSubstr("] request_id=outer-1 in outer\n"));
  EXPECT_THAT(text, HasSubstr("] request_id=inner-2 in inner\n"));
  EXPECT_THAT(text, HasSubstr("] request_id=outer-1 outer again\n"));
  EXPECT_THAT(text, HasSubstr("] after\n"));
  EXPECT_THAT(text, Not(HasSubstr("request_id=outer-1 in inner")));
}

}  // namespace
}  // namespace engram

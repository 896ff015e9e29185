#include "common/status_context.h"

#include "absl/status/status.h"
#include "gtest/gtest.h"

namespace engram {
namespace {

TEST(AnnotateTest, WrapsTheMessageAndKeepsTheCode) {
  const absl::Status annotated =
      Annotate(absl::UnavailableError("connection refused"),
               "asking server a: ", "; nothing was dropped");
  EXPECT_EQ(annotated.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(annotated.message(),
            "asking server a: connection refused; nothing was dropped");
}

TEST(AnnotateTest, TheSuffixIsOptional) {
  EXPECT_EQ(Annotate(absl::InvalidArgumentError("bad magic"), "x.npy: "),
            absl::InvalidArgumentError("x.npy: bad magic"));
}

TEST(AnnotateTest, AnOkStatusStaysOk) {
  EXPECT_TRUE(Annotate(absl::OkStatus(), "prefix: ", "; suffix").ok());
}

}  // namespace
}  // namespace engram

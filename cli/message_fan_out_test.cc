#include "cli/message_fan_out.h"

#include <memory>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace engram::cli {
namespace {

// Everything consumer `c` pops until the end (or an error, returned).
absl::StatusOr<std::vector<int>> Drain(MessageFanOut<int>& fan_out, int c) {
  std::vector<int> got;
  while (true) {
    absl::StatusOr<std::shared_ptr<const int>> next = fan_out.Pop(c);
    if (!next.ok()) return next.status();
    if (*next == nullptr) return got;
    got.push_back(**next);
  }
}

TEST(MessageFanOutTest, EveryConsumerGetsEveryMessageInOrder) {
  MessageFanOut<int> fan_out(3, 2);
  std::vector<absl::StatusOr<std::vector<int>>> got(3);
  std::vector<std::thread> consumers;
  for (int c = 0; c < 3; ++c) {
    consumers.emplace_back([&, c] { got[c] = Drain(fan_out, c); });
  }
  std::vector<int> sent;
  for (int i = 0; i < 100; ++i) {
    EXPECT_TRUE(fan_out.Push(std::make_shared<const int>(i)));
    sent.push_back(i);
  }
  fan_out.Close(absl::OkStatus());
  for (std::thread& consumer : consumers) consumer.join();
  for (int c = 0; c < 3; ++c) {
    ASSERT_TRUE(got[c].ok()) << got[c].status();
    EXPECT_EQ(*got[c], sent) << "consumer " << c;
  }
}

TEST(MessageFanOutTest, TheReaderWaitsForTheSlowestConsumerOnly) {
  MessageFanOut<int> fan_out(2, 2);
  EXPECT_TRUE(fan_out.Push(std::make_shared<const int>(0)));
  EXPECT_TRUE(fan_out.Push(std::make_shared<const int>(1)));
  // Consumer 0 takes one; consumer 1 still holds two, so a third waits.
  ASSERT_EQ(**fan_out.Pop(0), 0);
  absl::Notification pushed;
  std::thread reader([&] {
    EXPECT_TRUE(fan_out.Push(std::make_shared<const int>(2)));
    pushed.Notify();
  });
  EXPECT_FALSE(pushed.WaitForNotificationWithTimeout(absl::Milliseconds(100)));
  ASSERT_EQ(**fan_out.Pop(1), 0);
  EXPECT_TRUE(pushed.WaitForNotificationWithTimeout(absl::Seconds(10)));
  reader.join();
}

TEST(MessageFanOutTest, AConsumerThatLeavesNoLongerHoldsTheReaderBack) {
  MessageFanOut<int> fan_out(2, 1);
  EXPECT_TRUE(fan_out.Push(std::make_shared<const int>(0)));
  fan_out.Leave(1);
  ASSERT_EQ(**fan_out.Pop(0), 0);
  // Consumer 1 never pops, yet the reader goes on.
  EXPECT_TRUE(fan_out.Push(std::make_shared<const int>(1)));
  ASSERT_EQ(**fan_out.Pop(0), 1);
  fan_out.Leave(0);
  EXPECT_FALSE(fan_out.Push(std::make_shared<const int>(2)));
}

TEST(MessageFanOutTest, AReaderErrorReachesConsumersAtOnce) {
  MessageFanOut<int> fan_out(1, 4);
  EXPECT_TRUE(fan_out.Push(std::make_shared<const int>(0)));
  fan_out.Close(absl::DataLossError("the file went away"));
  const absl::StatusOr<std::shared_ptr<const int>> next = fan_out.Pop(0);
  EXPECT_EQ(next.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(next.status().message(), ::testing::HasSubstr("went away"));
}

}  // namespace
}  // namespace engram::cli

// Command classification drives routing (keyed vs broadcast) and mirroring (writes only).
#include "proxy/message.h"

#include "gtest/gtest.h"

namespace mcmesh {
namespace {

TEST(MessageTest, ClassifiesCommands) {
  EXPECT_TRUE(isRetrieval(Command::kGats));
  EXPECT_FALSE(isRetrieval(Command::kSet));
  EXPECT_TRUE(isStorage(Command::kCas));
  EXPECT_FALSE(isStorage(Command::kDelete));
  EXPECT_TRUE(isWrite(Command::kTouch));
  EXPECT_TRUE(isWrite(Command::kIncr));
  EXPECT_FALSE(isWrite(Command::kGet));
  EXPECT_FALSE(isKeyed(Command::kFlushAll));
  EXPECT_FALSE(isKeyed(Command::kStats));
  EXPECT_EQ(commandName(Command::kPrepend), "prepend");
}

}  // namespace
}  // namespace mcmesh

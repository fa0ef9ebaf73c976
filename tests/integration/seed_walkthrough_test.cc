// Replays the magent tutorial (../shared/seeds) against mcmesh with real memcached processes:
// 2 primaries + 1 backup; writes land on one primary and the backup; with both primaries
// killed reads and writes still work; after they restart empty, nothing is lost (magent's defect).
#include <optional>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/support/harness.h"
#include "tests/support/mcmesh_process.h"

namespace mcmesh::testing {
namespace {

class SeedWalkthroughTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (auto* server : {&primary1_, &primary2_, &backup_}) {
      auto started = MemcachedServer::start();
      ASSERT_TRUE(started.ok()) << started.status();
      *server = std::move(*started);
    }
    // The seed's exact command line shape: -s twice (one glued, as in the tutorial) and -b.
    auto proxy = McmeshProcess::start({"-n", "51200", "-s", primary1_->address(),
                                       "-s" + primary2_->address(), "-b", backup_->address(),
                                       "--concurrency=2"});
    ASSERT_TRUE(proxy.ok()) << proxy.status();
    proxy_ = std::move(*proxy);
  }

  std::unique_ptr<TextClient> connect(int port) {
    auto client = TextClient::connect(port);
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? std::move(*client) : nullptr;
  }

  std::optional<std::string> getDirect(const MemcachedServer& server, const std::string& key) {
    auto client = connect(server.port());
    if (client == nullptr) return std::nullopt;
    auto value = client->get(key);
    EXPECT_TRUE(value.ok()) << value.status();
    return value.ok() ? *value : std::nullopt;
  }

  // Async mirroring: the backup copy follows the primary's ack within milliseconds.
  std::optional<std::string> waitForDirect(const MemcachedServer& server, const std::string& key) {
    absl::Time deadline = absl::Now() + absl::Seconds(2);
    while (absl::Now() < deadline) {
      auto v = getDirect(server, key);
      if (v.has_value()) return v;
      absl::SleepFor(absl::Milliseconds(20));
    }
    return std::nullopt;
  }

  MemcachedServerPtr primary1_, primary2_, backup_;
  std::unique_ptr<McmeshProcess> proxy_;
};

TEST_F(SeedWalkthroughTest, StatsListsThePools) {
  auto client = connect(proxy_->port());
  ASSERT_NE(client, nullptr);
  auto stats = client->roundTrip("stats\r\n", "END\r\n");
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_NE(stats->find(absl::StrCat("STAT primary_1 ", primary1_->address())), std::string::npos)
      << *stats;
  EXPECT_NE(stats->find(absl::StrCat("STAT primary_2 ", primary2_->address())), std::string::npos);
  EXPECT_NE(stats->find(absl::StrCat("STAT backup_3 ", backup_->address())), std::string::npos);
}

TEST_F(SeedWalkthroughTest, KeysLandOnOnePrimaryAndTheBackupAndSurviveBothPrimariesDying) {
  auto client = connect(proxy_->port());
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(*client->roundTrip("set key1 0 0 1\r\n1\r\n", "\r\n"), "STORED\r\n");
  EXPECT_EQ(*client->roundTrip("set key2 0 0 1\r\n2\r\n", "\r\n"), "STORED\r\n");

  for (const auto& [key, value] : {std::pair<std::string, std::string>{"key1", "1"}, {"key2", "2"}}) {
    auto on1 = getDirect(*primary1_, key);
    auto on2 = getDirect(*primary2_, key);
    EXPECT_NE(on1.has_value(), on2.has_value()) << key << " must be on exactly one primary";
    EXPECT_EQ(on1.value_or(on2.value_or("")), value);
    EXPECT_EQ(waitForDirect(*backup_, key), value) << key << " must be mirrored to the backup";
  }

  primary1_->kill();
  primary2_->kill();
  // Reads through mcmesh still return both values (from the backup), promptly.
  for (const auto& [key, value] : {std::pair<std::string, std::string>{"key1", "1"}, {"key2", "2"}}) {
    absl::Time start = absl::Now();
    auto got = client->get(key);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(*got, value) << key;
    EXPECT_LT(absl::Now() - start, absl::Milliseconds(1000));
  }
  // Writes still succeed (to the backup) and are readable.
  EXPECT_EQ(*client->roundTrip("set key3 5 0 5\r\nthree\r\n", "\r\n"), "STORED\r\n");
  EXPECT_EQ(*client->roundTrip("get key3\r\n", "END\r\n"), "VALUE key3 5 5\r\nthree\r\nEND\r\n");
  // Multi-get across both dead primaries: one reply, keys in request order.
  EXPECT_EQ(*client->roundTrip("get key2 nope key1\r\n", "END\r\n"),
            "VALUE key2 0 1\r\n2\r\nVALUE key1 0 1\r\n1\r\nEND\r\n");
}

TEST_F(SeedWalkthroughTest, RestartedEmptyPrimariesStillServeEveryKeyAndAreRepaired) {
  auto client = connect(proxy_->port());
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(*client->roundTrip("set key1 7 0 8\r\nzhangyan\r\n", "\r\n"), "STORED\r\n");
  EXPECT_EQ(*client->roundTrip("set key2 9 300 8\r\nzhangyan\r\n", "\r\n"), "STORED\r\n");
  ASSERT_TRUE(waitForDirect(*backup_, "key1").has_value());
  ASSERT_TRUE(waitForDirect(*backup_, "key2").has_value());

  ASSERT_TRUE(primary1_->restart().ok());
  ASSERT_TRUE(primary2_->restart().ok());
  // magent returns nothing here; mcmesh finds the keys on the backup.
  EXPECT_EQ(*client->roundTrip("get key1 key2\r\n", "END\r\n"),
            "VALUE key1 7 8\r\nzhangyan\r\nVALUE key2 9 8\r\nzhangyan\r\nEND\r\n");
  // ...and copies them back to their primary with their flags.
  for (const std::string key : {"key1", "key2"}) {
    absl::Time deadline = absl::Now() + absl::Seconds(2);
    bool repaired = false;
    while (!repaired && absl::Now() < deadline) {
      repaired = getDirect(*primary1_, key).has_value() || getDirect(*primary2_, key).has_value();
      if (!repaired) absl::SleepFor(absl::Milliseconds(20));
    }
    EXPECT_TRUE(repaired) << key << " was not repaired to its primary";
  }
  // Each key came from the backup: read there on the primary's miss (backup_hits), or copied back
  // first by the rehydration that the prober starts when it sees the restart (a busy machine can
  // delay the get past that).
  auto stats = client->roundTrip("stats proxy\r\n", "END\r\n");
  ASSERT_TRUE(stats.ok());
  uint64_t from_backup = 0;
  for (absl::string_view line : absl::StrSplit(*stats, "\r\n")) {
    uint64_t n = 0;
    if (absl::ConsumePrefix(&line, "STAT backup_hits ") && absl::SimpleAtoi(line, &n)) {
      from_backup += n;
    }
    const size_t copied = line.find(" copied=");
    if (absl::StartsWith(line, "STAT rehydrate:") && copied != absl::string_view::npos) {
      absl::string_view rest = line.substr(copied + 8);
      if (absl::SimpleAtoi(rest.substr(0, rest.find(' ')), &n)) from_backup += n;
    }
  }
  EXPECT_GE(from_backup, 2u) << *stats;  // more when both counted one key.
}

}  // namespace
}  // namespace mcmesh::testing

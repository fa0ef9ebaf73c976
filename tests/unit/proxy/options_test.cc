// parseOptions accepts magent's command lines unchanged and rejects bad input with a reason.
#include "proxy/options.h"

#include <vector>

#include "gtest/gtest.h"

namespace mcmesh {
namespace {

absl::StatusOr<Options> parse(std::vector<std::string> args) {
  args.insert(args.begin(), "mcmesh");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return parseOptions(static_cast<int>(argv.size()), argv.data());
}

TEST(OptionsTest, AcceptsTheSeedCommandLine) {
  auto o = parse({"-u", "root", "-n", "51200", "-l", "127.0.0.1", "-p", "12000", "-s",
                  "127.0.0.1:11211", "-s127.0.0.1:11212", "-b", "127.0.0.1:11213"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->user, "root");
  EXPECT_EQ(o->max_connections, 51200u);
  EXPECT_EQ(o->listen_host, "127.0.0.1");
  EXPECT_EQ(o->port, 12000);
  EXPECT_EQ(o->servers, (std::vector<std::string>{"127.0.0.1:11211", "127.0.0.1:11212"}));
  EXPECT_EQ(o->backups, (std::vector<std::string>{"127.0.0.1:11213"}));
  EXPECT_FALSE(o->foreground);
}

TEST(OptionsTest, AcceptsGroupedFlagsAndLongOptions) {
  auto o = parse({"-Dkv", "-s", "10.0.0.1:11211:3", "--mirror=sync", "--concurrency", "4",
                  "--timeout_ms=100", "--eject_policy=rehash", "--filter_chain=stats,ketama_router"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_TRUE(o->foreground);
  EXPECT_EQ(o->verbose, 1);
  EXPECT_EQ(o->mirror, "sync");
  EXPECT_EQ(o->concurrency, 4);
  EXPECT_EQ(o->request_timeout, absl::Milliseconds(100));
  EXPECT_EQ(o->eject_policy, "rehash");
  EXPECT_EQ(o->filter_chain, (std::vector<std::string>{"stats", "ketama_router"}));
}

TEST(OptionsTest, RejectsBadInputWithAReason) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  for (const auto& c : std::vector<Case>{
           {{"-s", "127.0.0.1"}, "expected host:port"},
           {{"-s", "127.0.0.1:70000"}, "port must be 1..65535"},
           {{"-s", "127.0.0.1:11211:0"}, "expected a number"},
           {{"-p", "abc", "-s", "1.2.3.4:1"}, "option -p"},
           {{"-x"}, "unknown option -x"},
           {{"--nope=1", "-s", "1.2.3.4:1"}, "unknown option --nope"},
           {{"-s"}, "needs a value"},
           {{"--mirror=maybe", "-s", "1.2.3.4:1"}, "async or sync"},
           {{}, "no servers"},
       }) {
    auto o = parse(c.args);
    ASSERT_FALSE(o.ok()) << c.message;
    EXPECT_NE(std::string(o.status().message()).find(c.message), std::string::npos)
        << o.status().message();
  }
}

}  // namespace
}  // namespace mcmesh

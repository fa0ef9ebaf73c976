// Tests parseEtcdUrl: endpoints, prefix normalisation and the errors a typo gets.
#include "control_plane/etcd_config.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace mcmesh {
namespace control_plane {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(EtcdConfigTest, ParsesEndpointsAndPrefix) {
  auto config = parseEtcdUrl("etcd://10.0.0.1:2379,10.0.0.2:2379,etcd-3.example:2379/mcmesh/prod");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_THAT(config->endpoints,
              ElementsAre("10.0.0.1:2379", "10.0.0.2:2379", "etcd-3.example:2379"));
  EXPECT_EQ(config->prefix, "/mcmesh/prod/");
  EXPECT_EQ(config->topologyKey(), "/mcmesh/prod/topology");
  EXPECT_EQ(config->proxiesPrefix(), "/mcmesh/prod/proxies/");
  EXPECT_EQ(config->endpointList(), "10.0.0.1:2379,10.0.0.2:2379,etcd-3.example:2379");
}

TEST(EtcdConfigTest, TrailingSlashIsTheSamePrefix) {
  auto config = parseEtcdUrl("etcd://127.0.0.1:2379/mcmesh/");
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->prefix, "/mcmesh/");
}

TEST(EtcdConfigTest, RefusesWhatIsNotAnEtcdUrl) {
  EXPECT_FALSE(isEtcdUrl("/var/lib/mcmesh/topology.pb"));
  EXPECT_TRUE(isEtcdUrl("etcd://127.0.0.1:2379/mcmesh"));
  for (const char* bad : {"etcd://127.0.0.1:2379", "etcd://127.0.0.1:2379/", "etcd:///mcmesh",
                          "etcd://127.0.0.1/mcmesh", "etcd://127.0.0.1:0/mcmesh",
                          "etcd://127.0.0.1:2379,:2379/mcmesh", "http://127.0.0.1:2379/mcmesh"}) {
    auto config = parseEtcdUrl(bad);
    EXPECT_FALSE(config.ok()) << bad;
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(config.status().message(), HasSubstr("etcd://HOST:PORT")) << bad;
  }
}

} // namespace
} // namespace control_plane
} // namespace mcmesh

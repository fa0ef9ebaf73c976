// Tests validateTopology/validateAddress: one invalid case per test, checking the message.
#include "control_plane/validator.h"

#include <string>

#include "google/protobuf/text_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace mcmesh {
namespace control_plane {
namespace {

using ::testing::HasSubstr;

mcmesh::v1::Topology parse(const std::string& text) {
  mcmesh::v1::Topology topology;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &topology)) << text;
  return topology;
}

// A valid one-cluster topology; tests append or tweak one thing.
const char* const kValid = R"pb(
  version: 3
  clusters {
    name: "web"
    primary {
      nodes { address: "10.0.0.1:11211" weight: 1 state: NODE_STATE_ACTIVE }
      nodes { address: "cache-2.example.com:11211" weight: 2 state: NODE_STATE_DRAINING }
    }
    backup { nodes { address: "[fd00::1]:11211" weight: 1 state: NODE_STATE_ACTIVE } }
    filters { name: "some_unknown_filter" config { key: "k" value: "v" } }
    warmup_window { seconds: 300 }
    mirror_mode: MIRROR_MODE_SYNC
  }
)pb";

absl::Status validateText(const std::string& text) { return validateTopology(parse(text)); }

TEST(ValidatorTest, ValidTopologyPasses) { EXPECT_TRUE(validateText(kValid).ok()); }

TEST(ValidatorTest, EmptyTopologyIsValid) {
  EXPECT_TRUE(validateTopology(mcmesh::v1::Topology()).ok());
}

TEST(ValidatorTest, UnknownFilterNamesAreLeftToTheProxy) {
  mcmesh::v1::Topology topology = parse(kValid);
  topology.mutable_clusters(0)->add_filters()->set_name("no_such_filter_anywhere");
  EXPECT_TRUE(validateTopology(topology).ok());
}

TEST(ValidatorTest, DuplicateNodeInOnePool) {
  mcmesh::v1::Topology topology = parse(kValid);
  *topology.mutable_clusters(0)->mutable_primary()->add_nodes() =
      topology.clusters(0).primary().nodes(0);
  absl::Status status = validateTopology(topology);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(
      status.message(),
      HasSubstr("cluster \"web\": duplicate node \"10.0.0.1:11211\" (in primary and primary)"));
}

TEST(ValidatorTest, DuplicateNodeAcrossPools) {
  mcmesh::v1::Topology topology = parse(kValid);
  auto* node = topology.mutable_clusters(0)->mutable_backup()->add_nodes();
  *node = topology.clusters(0).primary().nodes(1);
  node->set_address("CACHE-2.example.com:11211"); // Host names compare case-insensitively.
  absl::Status status = validateTopology(topology);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              HasSubstr("duplicate node \"CACHE-2.example.com:11211\" (in primary and backup)"));
}

TEST(ValidatorTest, SameAddressInTwoClustersIsAllowed) {
  mcmesh::v1::Topology topology = parse(kValid);
  auto* other = topology.add_clusters();
  *other = topology.clusters(0);
  other->set_name("api");
  EXPECT_TRUE(validateTopology(topology).ok());
}

TEST(ValidatorTest, EmptyPrimaryPool) {
  mcmesh::v1::Topology topology = parse(kValid);
  topology.mutable_clusters(0)->mutable_primary()->clear_nodes();
  absl::Status status = validateTopology(topology);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "cluster \"web\": primary pool has no ACTIVE node");
}

TEST(ValidatorTest, PrimaryWithOnlyDrainingNodesCountsAsEmpty) {
  mcmesh::v1::Topology topology = parse(kValid);
  topology.mutable_clusters(0)->mutable_primary()->mutable_nodes(0)->set_state(
      mcmesh::v1::NODE_STATE_DRAINING);
  EXPECT_THAT(validateTopology(topology).message(), HasSubstr("primary pool has no ACTIVE node"));
}

TEST(ValidatorTest, ZeroWeight) {
  mcmesh::v1::Topology topology = parse(kValid);
  topology.mutable_clusters(0)->mutable_primary()->mutable_nodes(0)->set_weight(0);
  absl::Status status = validateTopology(topology);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(),
            "cluster \"web\" primary node \"10.0.0.1:11211\": weight must be > 0");
}

TEST(ValidatorTest, UnsetNodeState) {
  mcmesh::v1::Topology topology = parse(kValid);
  topology.mutable_clusters(0)->mutable_backup()->mutable_nodes(0)->clear_state();
  EXPECT_EQ(validateTopology(topology).message(),
            "cluster \"web\" backup node \"[fd00::1]:11211\": state is unset (want ACTIVE, "
            "DRAINING or REMOVED)");
}

TEST(ValidatorTest, BadAddressIsReportedWithTheNode) {
  mcmesh::v1::Topology topology = parse(kValid);
  topology.mutable_clusters(0)->mutable_primary()->mutable_nodes(0)->set_address("10.0.0.1");
  absl::Status status = validateTopology(topology);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "cluster \"web\" primary node \"10.0.0.1\": bad address: missing "
                              "port (want host:port)");
}

TEST(ValidatorTest, DuplicateClusterName) {
  mcmesh::v1::Topology topology = parse(kValid);
  *topology.add_clusters() = topology.clusters(0);
  EXPECT_EQ(validateTopology(topology).message(), "duplicate cluster name \"web\"");
}

TEST(ValidatorTest, EmptyClusterName) {
  mcmesh::v1::Topology topology = parse(kValid);
  topology.mutable_clusters(0)->clear_name();
  EXPECT_EQ(validateTopology(topology).message(), "a cluster has an empty name");
}

TEST(ValidatorTest, NegativeWarmupWindow) {
  mcmesh::v1::Topology topology = parse(kValid);
  topology.mutable_clusters(0)->mutable_warmup_window()->set_seconds(-1);
  EXPECT_EQ(validateTopology(topology).message(),
            "cluster \"web\": warmup_window must be a non-negative duration");
}

TEST(ValidatorTest, FilterWithoutName) {
  mcmesh::v1::Topology topology = parse(kValid);
  topology.mutable_clusters(0)->add_filters();
  EXPECT_EQ(validateTopology(topology).message(), "cluster \"web\": filter #1 has no name");
}

TEST(ValidatorTest, ReportsEveryProblemAtOnce) {
  mcmesh::v1::Topology topology = parse(kValid);
  topology.mutable_clusters(0)->mutable_primary()->mutable_nodes(0)->set_weight(0);
  topology.mutable_clusters(0)->mutable_backup()->mutable_nodes(0)->set_address("x:0");
  absl::Status status = validateTopology(topology);
  EXPECT_THAT(status.message(), HasSubstr("weight must be > 0; "));
  EXPECT_THAT(status.message(), HasSubstr("port \"0\" is not a number in 1..65535"));
}

TEST(ValidatorTest, UnknownClusterLookup) {
  mcmesh::v1::Topology topology = parse(kValid);
  EXPECT_TRUE(findCluster(topology, "web").ok());
  absl::StatusOr<const mcmesh::v1::Cluster*> missing = findCluster(topology, "nope");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(missing.status().message(), "unknown cluster \"nope\"");
}

google::protobuf::RepeatedPtrField<mcmesh::v1::FilterConfig> chain(const std::string& text) {
  mcmesh::v1::Cluster cluster;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &cluster)) << text;
  return cluster.filters();
}

TEST(FilterChainTest, IdentifiersWithOptionsPass) {
  EXPECT_TRUE(validateFilterChain("web", chain(R"pb(
                filters { name: "stats" }
                filters { name: "backup_mirror" config { key: "mode" value: "sync" } }
                filters { name: "rate_limit2" config { key: "burst" value: "" } }
                filters { name: "ketama_router" }
              )pb"))
                  .ok());
}

TEST(FilterChainTest, EmptyChainMeansTheDefaultAndPasses) {
  EXPECT_TRUE(validateFilterChain("web", chain("")).ok());
}

TEST(FilterChainTest, BadNamesAndEmptyKeysAreAllReported) {
  absl::Status status = validateFilterChain("web", chain(R"pb(
    filters { name: "stats" }
    filters {}
    filters { name: "Backup-Mirror" }
    filters { name: "backup_mirror" config { key: "" value: "sync" } }
    filters { name: "ketama router" }
  )pb"));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(),
            "cluster \"web\": filter #1 has no name; "
            "cluster \"web\": filter #2 name \"Backup-Mirror\" is not an identifier (want "
            "[a-z0-9_]+); "
            "cluster \"web\": filter #3 (backup_mirror) has an empty option key; "
            "cluster \"web\": filter #4 name \"ketama router\" is not an identifier (want "
            "[a-z0-9_]+)");
}

TEST(FilterChainTest, TopologyValidationStaysLenientForStoredTopologies) {
  // Stores and bootstrap files written before the admin calls checked names must still load.
  mcmesh::v1::Topology topology = parse(kValid);
  topology.mutable_clusters(0)->add_filters()->set_name("Legacy-Name");
  EXPECT_TRUE(validateTopology(topology).ok());
}

TEST(FilterChainTest, IsFilterName) {
  EXPECT_TRUE(isFilterName("ketama_router"));
  EXPECT_TRUE(isFilterName("a1_"));
  EXPECT_FALSE(isFilterName(""));
  EXPECT_FALSE(isFilterName("Stats"));
  EXPECT_FALSE(isFilterName("back-up"));
  EXPECT_FALSE(isFilterName("stats,ketama_router"));
  EXPECT_FALSE(isFilterName("mirror:mode=sync"));
}

TEST(AddressTest, AcceptsIpv4Ipv6AndHostnames) {
  for (const char* good : {"127.0.0.1:11211", "[::1]:1", "[2001:db8::7]:65535", "localhost:11211",
                           "cache-1.prod.example.com:11211", "cache.example.com.:11211", "a1:99"}) {
    EXPECT_TRUE(validateAddress(good).ok()) << good << ": " << validateAddress(good);
  }
}

struct BadAddress {
  const char* address;
  const char* message;
};

TEST(AddressTest, RejectsBadAddressesWithAReason) {
  const BadAddress cases[] = {
      {"", "address is empty (want host:port)"},
      {"host", "missing port (want host:port)"},
      {":11211", "host is empty (want host:port)"},
      {"host:", "port \"\" is not a number in 1..65535"},
      {"host:0", "port \"0\" is not a number in 1..65535"},
      {"host:65536", "port \"65536\" is not a number in 1..65535"},
      {"host:-1", "port \"-1\" is not a number in 1..65535"},
      {"host:11211x", "port \"11211x\" is not a number in 1..65535"},
      {"host:000011211", "port \"000011211\" is not a number in 1..65535"},
      {"::1:11211", "IPv6 addresses must be bracketed, e.g. [::1]:11211"},
      {"[::1]", "missing port (want [ipv6]:port)"},
      {"[::1:11211", "missing ']' after IPv6 address"},
      {"[]:11211", "host is empty"},
      {"[fe80::zz]:11211", "\"fe80::zz\" is not a valid IPv6 address"},
      {"999.1.1.1:11211", "host \"999.1.1.1\" is not a valid IPv4 address"},
      {"bad_host:11211", "host \"bad_host\" contains invalid character '_'"},
      {"-bad.example:11211", "host \"-bad.example\" has a label starting or ending with '-'"},
      {"a..b:11211", "host \"a..b\" has an empty or over-long label"},
  };
  for (const BadAddress& c : cases) {
    absl::Status status = validateAddress(c.address);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.address;
    EXPECT_EQ(status.message(), c.message) << c.address;
  }
}

} // namespace
} // namespace control_plane
} // namespace mcmesh

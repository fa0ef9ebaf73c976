// Tests FileTopologyStore: round trips in both formats, atomic replacement, restart, bad data.
#include "control_plane/file_store.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "google/protobuf/util/message_differencer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace mcmesh {
namespace control_plane {
namespace {

using google::protobuf::util::MessageDifferencer;

std::string tempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  const std::string path = std::string(dir != nullptr ? dir : "/tmp") + "/" + name;
  ::unlink(path.c_str());
  return path;
}

mcmesh::v1::Topology sample(uint64_t version) {
  mcmesh::v1::Topology topology;
  topology.set_version(version);
  auto* cluster = topology.add_clusters();
  cluster->set_name("web");
  auto* node = cluster->mutable_primary()->add_nodes();
  node->set_address("10.0.0.1:11211");
  node->set_weight(1);
  node->set_state(mcmesh::v1::NODE_STATE_ACTIVE);
  (*cluster->add_filters()->mutable_config())["k"] = "v";
  cluster->mutable_warmup_window()->set_seconds(60);
  return topology;
}

bool exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

TEST(FileStoreTest, EmptyStoreIsNotFound) {
  FileTopologyStore store(tempPath("empty.pb"));
  EXPECT_EQ(store.load().status().code(), absl::StatusCode::kNotFound);
}

TEST(FileStoreTest, BinaryRoundTrip) {
  FileTopologyStore store(tempPath("topology.pb"));
  EXPECT_EQ(store.format(), FileTopologyStore::Format::Binary);
  ASSERT_TRUE(store.save(sample(7)).ok());
  absl::StatusOr<mcmesh::v1::Topology> loaded = store.load();
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_TRUE(MessageDifferencer::Equals(*loaded, sample(7)));
}

TEST(FileStoreTest, TextRoundTripIsReadable) {
  const std::string path = tempPath("topology.textproto");
  FileTopologyStore store(path);
  EXPECT_EQ(store.format(), FileTopologyStore::Format::Text);
  ASSERT_TRUE(store.save(sample(2)).ok());
  absl::StatusOr<std::string> text = readFile(path);
  ASSERT_TRUE(text.ok());
  EXPECT_THAT(*text, ::testing::HasSubstr("address: \"10.0.0.1:11211\""));
  absl::StatusOr<mcmesh::v1::Topology> loaded = store.load();
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_TRUE(MessageDifferencer::Equals(*loaded, sample(2)));
}

TEST(FileStoreTest, SaveReplacesAtomicallyAndLeavesNoTempFile) {
  const std::string path = tempPath("replace.pb");
  FileTopologyStore store(path);
  ASSERT_TRUE(store.save(sample(1)).ok());
  ASSERT_TRUE(store.save(sample(2)).ok());
  EXPECT_FALSE(exists(path + ".tmp"));
  EXPECT_EQ(store.load()->version(), 2u);
}

TEST(FileStoreTest, LeftoverTempFileFromACrashIsIgnored) {
  const std::string path = tempPath("crash.pb");
  FileTopologyStore store(path);
  ASSERT_TRUE(store.save(sample(4)).ok());
  // A crash between "write temp" and "rename" leaves a partial temp file behind.
  std::ofstream(path + ".tmp") << "partial garbage";
  FileTopologyStore restarted(path);
  EXPECT_EQ(restarted.load()->version(), 4u);
  ASSERT_TRUE(restarted.save(sample(5)).ok());
  EXPECT_EQ(FileTopologyStore(path).load()->version(), 5u);
}

TEST(FileStoreTest, RestartKeepsData) {
  const std::string path = tempPath("restart.pb");
  {
    FileTopologyStore store(path);
    ASSERT_TRUE(store.save(sample(9)).ok());
  }
  FileTopologyStore reopened(path);
  absl::StatusOr<mcmesh::v1::Topology> loaded = reopened.load();
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_TRUE(MessageDifferencer::Equals(*loaded, sample(9)));
}

TEST(FileStoreTest, CorruptFileIsAnErrorNotAnEmptyTopology) {
  const std::string path = tempPath("corrupt.textproto");
  std::ofstream(path) << "clusters { name: ";
  FileTopologyStore store(path);
  absl::StatusOr<mcmesh::v1::Topology> loaded = store.load();
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(loaded.status().message(), ::testing::HasSubstr("is not a valid topology"));
}

TEST(FileStoreTest, UnwritableDirectoryFailsAndKeepsOldData) {
  FileTopologyStore store("/nonexistent-dir-for-mcmesh-test/topology.pb");
  absl::Status status = store.save(sample(1));
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(status.message(), ::testing::HasSubstr("cannot create"));
}

TEST(FileStoreTest, ParseTextTopologyReportsLine) {
  absl::StatusOr<mcmesh::v1::Topology> parsed = parseTextTopology("version: 1\nclusterz {}\n");
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(parsed.status().message(), ::testing::HasSubstr("line 2"));
}

TEST(FileStoreTest, ZeroByteFileIsRefusedNamingTheFile) {
  const std::string path = tempPath("zero.pb");
  std::ofstream(path).close();
  absl::StatusOr<mcmesh::v1::Topology> loaded = FileTopologyStore(path).load();
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(loaded.status().message(), ::testing::HasSubstr("store " + path + " is empty"));
  EXPECT_THAT(loaded.status().message(), ::testing::HasSubstr("move it away"));
}

TEST(FileStoreTest, TruncatedStoreIsRefused) {
  const std::string path = tempPath("truncated.pb");
  ASSERT_TRUE(FileTopologyStore(path).save(sample(3)).ok());
  absl::StatusOr<std::string> data = readFile(path);
  ASSERT_TRUE(data.ok());
  std::ofstream(path, std::ios::binary | std::ios::trunc) << data->substr(0, data->size() - 3);
  absl::StatusOr<mcmesh::v1::Topology> loaded = FileTopologyStore(path).load();
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(loaded.status().message(), ::testing::HasSubstr("store " + path + " is truncated"));
}

// Users upgrade in place: a store written before the checksum loads once and is rewritten with
// one, so the next load is checked.
TEST(FileStoreTest, OldBinaryStoreIsLoadedAndRewrittenWithAChecksum) {
  const std::string path = tempPath("old.pb");
  std::string old;
  ASSERT_TRUE(sample(41).SerializeToString(&old));
  std::ofstream(path, std::ios::binary) << old;
  absl::StatusOr<mcmesh::v1::Topology> loaded = FileTopologyStore(path).load();
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_TRUE(MessageDifferencer::Equals(*loaded, sample(41)));
  absl::StatusOr<std::string> rewritten = readFile(path);
  ASSERT_TRUE(rewritten.ok());
  EXPECT_EQ(rewritten->substr(0, 8), "MCMESHTS");
  absl::StatusOr<DecodedStore> decoded = decodeStore(*rewritten, StoreEncoding::Binary);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_FALSE(decoded->legacy);
  EXPECT_TRUE(MessageDifferencer::Equals(decoded->topology, sample(41)));
}

TEST(FileStoreTest, OldTextStoreIsLoadedAndRewrittenWithAChecksum) {
  const std::string path = tempPath("old.textproto");
  std::ofstream(path) << "version: 5\n"
                         "clusters { name: \"web\" primary { nodes { address: \"10.0.0.1:11211\" "
                         "weight: 1 state: NODE_STATE_ACTIVE } } }\n";
  absl::StatusOr<mcmesh::v1::Topology> loaded = FileTopologyStore(path).load();
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->version(), 5u);
  absl::StatusOr<std::string> rewritten = readFile(path);
  ASSERT_TRUE(rewritten.ok());
  EXPECT_THAT(*rewritten, ::testing::StartsWith("# mcmesh-topology-store v1 length="));
  EXPECT_EQ(FileTopologyStore(path).load()->version(), 5u);
}

} // namespace
} // namespace control_plane
} // namespace mcmesh

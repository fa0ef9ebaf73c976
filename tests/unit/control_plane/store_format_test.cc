// Tests the file store's framing byte by byte: round trips, every truncation, every bit flip, the
// old unframed formats, and the header checks.
#include "control_plane/store_format.h"

#include <string>

#include "google/protobuf/text_format.h"
#include "google/protobuf/util/message_differencer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace mcmesh {
namespace control_plane {
namespace {

using google::protobuf::util::MessageDifferencer;
using ::testing::HasSubstr;

mcmesh::v1::Topology sample() {
  mcmesh::v1::Topology topology;
  topology.set_version(108);
  for (const char* name : {"web", "api"}) {
    auto* cluster = topology.add_clusters();
    cluster->set_name(name);
    auto* node = cluster->mutable_primary()->add_nodes();
    node->set_address("10.0.0.1:11211");
    node->set_weight(1);
    node->set_state(mcmesh::v1::NODE_STATE_ACTIVE);
  }
  return topology;
}

std::string encoded(StoreEncoding encoding, const mcmesh::v1::Topology& topology = sample()) {
  absl::StatusOr<std::string> data = encodeStore(topology, encoding);
  EXPECT_TRUE(data.ok()) << data.status();
  return data.ok() ? *data : std::string();
}

class StoreFormatTest : public ::testing::TestWithParam<StoreEncoding> {};

INSTANTIATE_TEST_SUITE_P(Encodings, StoreFormatTest,
                         ::testing::Values(StoreEncoding::Binary, StoreEncoding::Text),
                         [](const auto& info) {
                           return info.param == StoreEncoding::Binary ? "Binary" : "Text";
                         });

TEST(Crc32cTest, KnownVector) {
  // The check value of CRC-32C (RFC 3720, B.4).
  EXPECT_EQ(crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(crc32c("56789", crc32c("1234")), 0xE3069283u);
}

TEST_P(StoreFormatTest, RoundTrip) {
  absl::StatusOr<DecodedStore> decoded = decodeStore(encoded(GetParam()), GetParam());
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_FALSE(decoded->legacy);
  EXPECT_TRUE(MessageDifferencer::Equals(decoded->topology, sample()));
}

TEST_P(StoreFormatTest, EmptyIsRefused) {
  absl::StatusOr<DecodedStore> decoded = decodeStore("", GetParam());
  EXPECT_EQ(decoded.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(decoded.status().message(), HasSubstr("is empty (0 bytes)"));
}

// A crash cannot produce these (the store is replaced by rename), but a disk, a copy or a person
// can: every proper prefix of a store is refused, none loads as a smaller topology.
TEST_P(StoreFormatTest, EveryTruncationIsRefused) {
  const std::string data = encoded(GetParam());
  for (size_t length = 0; length < data.size(); ++length) {
    absl::StatusOr<DecodedStore> decoded = decodeStore(data.substr(0, length), GetParam());
    EXPECT_FALSE(decoded.ok()) << "cut at " << length << " of " << data.size()
                               << " bytes loaded version " << decoded->topology.version()
                               << " with " << decoded->topology.clusters_size() << " cluster(s)";
  }
}

TEST_P(StoreFormatTest, CutAtAMessageBoundaryNamesTheTruncation) {
  // The case: the last cluster cut off whole, which the old format loaded as version
  // 108 with one cluster.
  mcmesh::v1::Topology one = sample();
  one.mutable_clusters()->RemoveLast();
  const std::string full = encoded(GetParam());
  // The payload ends with the last cluster, so dropping as many bytes as it takes there cuts the
  // file exactly at the end of the first cluster.
  std::string with_both;
  std::string with_one;
  if (GetParam() == StoreEncoding::Binary) {
    ASSERT_TRUE(sample().SerializeToString(&with_both));
    ASSERT_TRUE(one.SerializeToString(&with_one));
  } else {
    ASSERT_TRUE(google::protobuf::TextFormat::PrintToString(sample(), &with_both));
    ASSERT_TRUE(google::protobuf::TextFormat::PrintToString(one, &with_one));
  }
  const size_t cut = full.size() - (with_both.size() - with_one.size());
  absl::StatusOr<DecodedStore> decoded = decodeStore(full.substr(0, cut), GetParam());
  EXPECT_EQ(decoded.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(decoded.status().message(), HasSubstr("is truncated"));
}

TEST(StoreFormatBinaryTest, EveryBitFlipIsRefused) {
  const std::string data = encoded(StoreEncoding::Binary);
  for (size_t i = 0; i < data.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string flipped = data;
      flipped[i] = static_cast<char>(flipped[i] ^ (1 << bit));
      absl::StatusOr<DecodedStore> decoded = decodeStore(flipped, StoreEncoding::Binary);
      EXPECT_FALSE(decoded.ok()) << "byte " << i << " bit " << bit << " loaded";
    }
  }
}

// In a text store a flip inside the comment part of the header can leave a file that reads as
// the old, unframed format with the very same topology: that is harmless. What must never
// happen is a different topology.
TEST(StoreFormatTextTest, NoBitFlipLoadsADifferentTopology) {
  const std::string data = encoded(StoreEncoding::Text);
  int refused = 0;
  for (size_t i = 0; i < data.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string flipped = data;
      flipped[i] = static_cast<char>(flipped[i] ^ (1 << bit));
      absl::StatusOr<DecodedStore> decoded = decodeStore(flipped, StoreEncoding::Text);
      if (!decoded.ok()) {
        ++refused;
        continue;
      }
      EXPECT_TRUE(MessageDifferencer::Equals(decoded->topology, sample()))
          << "byte " << i << " bit " << bit << " loaded " << decoded->topology.ShortDebugString();
    }
  }
  // Every flip in the payload is caught by the checksum.
  EXPECT_GT(refused, static_cast<int>(data.size() * 8 * 3 / 4));
}

TEST(StoreFormatTextTest, PayloadFlipNamesTheChecksum) {
  std::string data = encoded(StoreEncoding::Text);
  data[data.size() - 5] ^= 0x01;
  absl::StatusOr<DecodedStore> decoded = decodeStore(data, StoreEncoding::Text);
  EXPECT_EQ(decoded.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(decoded.status().message(), HasSubstr("is corrupt: its CRC-32C is"));
}

TEST(StoreFormatBinaryTest, OldUnframedStoreLoadsAsLegacy) {
  std::string old;
  ASSERT_TRUE(sample().SerializeToString(&old));
  absl::StatusOr<DecodedStore> decoded = decodeStore(old, StoreEncoding::Binary);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_TRUE(decoded->legacy);
  EXPECT_TRUE(MessageDifferencer::Equals(decoded->topology, sample()));
}

TEST(StoreFormatTextTest, OldUnframedStoreLoadsAsLegacy) {
  std::string old;
  ASSERT_TRUE(google::protobuf::TextFormat::PrintToString(sample(), &old));
  absl::StatusOr<DecodedStore> decoded = decodeStore(old, StoreEncoding::Text);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_TRUE(decoded->legacy);
  EXPECT_TRUE(MessageDifferencer::Equals(decoded->topology, sample()));
}

TEST_P(StoreFormatTest, VersionZeroIsRefused) {
  mcmesh::v1::Topology empty;
  absl::StatusOr<DecodedStore> decoded = decodeStore(encoded(GetParam(), empty), GetParam());
  EXPECT_EQ(decoded.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(decoded.status().message(), HasSubstr("version 0"));
}

TEST(StoreFormatBinaryTest, OtherFileIsRefused) {
  absl::StatusOr<DecodedStore> decoded = decodeStore("hello world\n", StoreEncoding::Binary);
  EXPECT_EQ(decoded.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(decoded.status().message(), HasSubstr("is not an mcmesh topology store"));
}

TEST(StoreFormatBinaryTest, TrailingBytesAreRefused) {
  absl::StatusOr<DecodedStore> decoded =
      decodeStore(encoded(StoreEncoding::Binary) + "x", StoreEncoding::Binary);
  EXPECT_EQ(decoded.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(decoded.status().message(), HasSubstr("bytes were added"));
}

TEST(StoreFormatBinaryTest, NewerFormatIsNamed) {
  // A well-formed header of format 2 (checksum right): written by a later mcmesh_cp.
  std::string data = encoded(StoreEncoding::Binary);
  data[8] = 2;
  const uint32_t crc =
      crc32c(absl::string_view(data).substr(kBinaryStoreHeaderBytes), crc32c(data.substr(0, 20)));
  for (int i = 0; i < 4; ++i) {
    data[20 + i] = static_cast<char>((crc >> (8 * i)) & 0xff);
  }
  absl::StatusOr<DecodedStore> decoded = decodeStore(data, StoreEncoding::Binary);
  EXPECT_EQ(decoded.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(decoded.status().message(), HasSubstr("newer mcmesh_cp"));
}

} // namespace
} // namespace control_plane
} // namespace mcmesh

// The on-disk framing of the file store: a header with a length and a CRC-32C, so that an empty,
// truncated or damaged store is refused instead of loading as a smaller or empty topology.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "api/mcmesh/v1/topology.pb.h"

namespace mcmesh {
namespace control_plane {

/**
 * Binary store (version 1), little-endian, 24-byte header then the payload:
 *   0  8 bytes  magic "MCMESHTS"
 *   8  4 bytes  format version (1)
 *  12  8 bytes  payload length
 *  20  4 bytes  CRC-32C (Castagnoli) of bytes 0..19 followed by the payload
 *  24  payload  a serialized mcmesh.v1.Topology
 * Text store (version 1): one header line, then the payload (text-format Topology):
 *   "# mcmesh-topology-store v1 length=<payload bytes> crc32c=<8 lowercase hex digits>\n"
 * The header line is a text-format comment, so the file still reads as a text proto.
 */
enum class StoreEncoding { Binary, Text };

inline constexpr absl::string_view kBinaryStoreMagic = "MCMESHTS";
inline constexpr uint32_t kStoreFormatVersion = 1;
inline constexpr size_t kBinaryStoreHeaderBytes = 24;
inline constexpr absl::string_view kTextStoreHeaderPrefix = "# mcmesh-topology-store v";

/** What decodeStore() found. */
struct DecodedStore {
  mcmesh::v1::Topology topology;
  // True for a store written by an mcmesh_cp from before the framing (no header, no checksum):
  // it loads, and the caller rewrites it in the current format.
  bool legacy = false;
};

/** CRC-32C (Castagnoli, as iSCSI, ext4 and leveldb use), continuing from `crc` (0 to start). */
uint32_t crc32c(absl::string_view data, uint32_t crc = 0);

/** @return the file contents for `topology` (INTERNAL only if it cannot be serialized). */
absl::StatusOr<std::string> encodeStore(const mcmesh::v1::Topology& topology,
                                        StoreEncoding encoding);

/**
 * Parses file contents written by encodeStore() or by an older mcmesh_cp (legacy = true).
 * @return DATA_LOSS naming the problem (empty, truncated, checksum mismatch, damaged header,
 *         trailing bytes, version 0) without the file name, which the caller adds;
 *         FAILED_PRECONDITION for a format version newer than this build reads.
 */
absl::StatusOr<DecodedStore> decodeStore(absl::string_view data, StoreEncoding encoding);

/** Parses a text-format Topology (bootstrap files). INVALID_ARGUMENT with the parser's errors. */
absl::StatusOr<mcmesh::v1::Topology> parseTextTopology(absl::string_view text);

} // namespace control_plane
} // namespace mcmesh

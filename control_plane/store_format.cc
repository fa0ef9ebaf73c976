// Implements the file store's framing: encode with a header, decode with every check before use.
#include "control_plane/store_format.h"

#include <array>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"

namespace mcmesh {
namespace control_plane {
namespace {

using mcmesh::v1::Topology;

std::array<uint32_t, 256> makeCrcTable() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t crc = i;
    for (int bit = 0; bit < 8; ++bit) {
      crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F63B78u : crc >> 1; // Castagnoli, reflected.
    }
    table[i] = crc;
  }
  return table;
}

void putLittleEndian(std::string& out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) {
    out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
  }
}

uint64_t getLittleEndian(absl::string_view data, size_t offset, int bytes) {
  uint64_t value = 0;
  for (int i = 0; i < bytes; ++i) {
    value |= static_cast<uint64_t>(static_cast<unsigned char>(data[offset + i])) << (8 * i);
  }
  return value;
}

// Collects text-format parse errors so the message says where the text is wrong.
class ErrorCollector : public google::protobuf::io::ErrorCollector {
public:
  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    errors_.push_back(absl::StrCat("line ", line + 1, " column ", column + 1, ": ", message));
  }
  std::string joined() const { return absl::StrJoin(errors_, "; "); }

private:
  std::vector<std::string> errors_;
};

std::string textHeader(uint32_t format, size_t length, uint32_t crc) {
  return absl::StrFormat("%s%u length=%u crc32c=%08x\n", kTextStoreHeaderPrefix, format, length,
                         crc);
}

// mcmesh_cp saves only after bumping the version to >= 1: version 0 is no topology it wrote.
absl::Status checkWritten(const Topology& topology) {
  if (topology.version() == 0) {
    return absl::DataLossError(
        "holds no topology (version 0, which mcmesh_cp never saves): it was cut or replaced");
  }
  return absl::OkStatus();
}

absl::Status checksumMismatch(uint32_t stored, uint32_t computed) {
  return absl::DataLossError(absl::StrFormat(
      "is corrupt: its CRC-32C is %08x but the content sums to %08x (a changed byte)", stored,
      computed));
}

absl::Status newerFormat(uint64_t format) {
  return absl::FailedPreconditionError(
      absl::StrCat("is in store format ", format, ", written by a newer mcmesh_cp (this one reads ",
                   kStoreFormatVersion, "); run that version or restore a backup"));
}

absl::StatusOr<DecodedStore> decodeBinary(absl::string_view data) {
  DecodedStore decoded;
  if (!absl::StartsWith(data, kBinaryStoreMagic)) {
    // Before the framing, the store was a bare serialized Topology; mcmesh_cp always wrote its
    // version first (field 1, varint: tag 0x08). Anything else is not a store at all.
    if (static_cast<unsigned char>(data[0]) != 0x08 ||
        !decoded.topology.ParseFromString(std::string(data))) {
      return absl::DataLossError(
          "is not an mcmesh topology store (no \"MCMESHTS\" header, and not a topology written "
          "by an older mcmesh_cp either): it is damaged or is some other file");
    }
    decoded.legacy = true;
    absl::Status written = checkWritten(decoded.topology);
    if (!written.ok()) {
      return written;
    }
    return decoded;
  }
  if (data.size() < kBinaryStoreHeaderBytes) {
    return absl::DataLossError(absl::StrCat("is truncated: ", data.size(),
                                            " bytes, shorter than its ", kBinaryStoreHeaderBytes,
                                            "-byte header"));
  }
  const uint64_t format = getLittleEndian(data, 8, 4);
  const uint64_t length = getLittleEndian(data, 12, 8);
  const uint32_t stored_crc = static_cast<uint32_t>(getLittleEndian(data, 20, 4));
  const uint64_t present = data.size() - kBinaryStoreHeaderBytes;
  if (length != present) {
    return absl::DataLossError(absl::StrCat(
        "is ", length > present ? "truncated" : "damaged", ": its header says ", length,
        " bytes of topology follow, but ", present, " do (",
        length > present ? "the end of the file is missing" : "bytes were added or the header "
                                                               "was changed",
        ")"));
  }
  const absl::string_view payload = data.substr(kBinaryStoreHeaderBytes);
  const uint32_t crc = crc32c(payload, crc32c(data.substr(0, 20)));
  if (crc != stored_crc) {
    return checksumMismatch(stored_crc, crc);
  }
  if (format != kStoreFormatVersion) {
    return newerFormat(format);
  }
  if (!decoded.topology.ParseFromString(std::string(payload))) {
    return absl::DataLossError("has a valid checksum but its topology cannot be parsed");
  }
  absl::Status written = checkWritten(decoded.topology);
  if (!written.ok()) {
    return written;
  }
  return decoded;
}

absl::StatusOr<DecodedStore> decodeText(absl::string_view data) {
  DecodedStore decoded;
  // Old text stores were printed by TextFormat and never start with a comment; a line that
  // starts like our header is one, and must be whole.
  if (!absl::StartsWith(data, "# mcmesh")) {
    absl::StatusOr<Topology> parsed = parseTextTopology(data);
    if (!parsed.ok()) {
      return absl::DataLossError(absl::StrCat(
          "has no \"", kTextStoreHeaderPrefix, "...\" header and is not a valid topology "
          "in the older text format either: ", parsed.status().message()));
    }
    decoded.topology = *std::move(parsed);
    decoded.legacy = true;
    absl::Status written = checkWritten(decoded.topology);
    if (!written.ok()) {
      return written;
    }
    return decoded;
  }
  const size_t newline = data.find('\n');
  if (newline == absl::string_view::npos) {
    return absl::DataLossError("is truncated: its header line has no end");
  }
  const absl::string_view line = data.substr(0, newline + 1);
  const absl::string_view payload = data.substr(newline + 1);
  uint32_t format = 0;
  uint64_t length = 0;
  uint32_t stored_crc = 0;
  bool parsed = false;
  if (absl::StartsWith(line, kTextStoreHeaderPrefix)) {
    const std::vector<std::string> fields =
        absl::StrSplit(line.substr(kTextStoreHeaderPrefix.size()), ' ');
    parsed = fields.size() == 3 && absl::SimpleAtoi(fields[0], &format) &&
             absl::StartsWith(fields[1], "length=") &&
             absl::SimpleAtoi(fields[1].substr(7), &length) &&
             absl::StartsWith(fields[2], "crc32c=") && fields[2].size() == 7 + 8 + 1 &&
             absl::SimpleHexAtoi(fields[2].substr(7, 8), &stored_crc);
  }
  // Only the exact line encodeStore() writes: any other spelling is a changed header.
  if (!parsed || line != textHeader(format, length, stored_crc)) {
    return absl::DataLossError(absl::StrCat("has a damaged header line: \"",
                                            absl::CHexEscape(line.substr(0, 120)), "\""));
  }
  if (length != payload.size()) {
    return absl::DataLossError(absl::StrCat(
        "is ", length > payload.size() ? "truncated" : "damaged", ": its header says ", length,
        " bytes of topology follow, but ", payload.size(), " do"));
  }
  const uint32_t crc = crc32c(payload);
  if (crc != stored_crc) {
    return checksumMismatch(stored_crc, crc);
  }
  if (format != kStoreFormatVersion) {
    return newerFormat(format);
  }
  absl::StatusOr<Topology> topology = parseTextTopology(payload);
  if (!topology.ok()) {
    return absl::DataLossError(absl::StrCat("has a valid checksum but its topology cannot be "
                                            "parsed: ",
                                            topology.status().message()));
  }
  decoded.topology = *std::move(topology);
  absl::Status written = checkWritten(decoded.topology);
  if (!written.ok()) {
    return written;
  }
  return decoded;
}

} // namespace

uint32_t crc32c(absl::string_view data, uint32_t crc) {
  static const std::array<uint32_t, 256> table = makeCrcTable();
  crc = ~crc;
  for (const char c : data) {
    crc = table[(crc ^ static_cast<unsigned char>(c)) & 0xff] ^ (crc >> 8);
  }
  return ~crc;
}

absl::StatusOr<std::string> encodeStore(const Topology& topology, StoreEncoding encoding) {
  std::string payload;
  if (encoding == StoreEncoding::Text) {
    if (!google::protobuf::TextFormat::PrintToString(topology, &payload)) {
      return absl::InternalError("cannot print topology as text");
    }
    return absl::StrCat(textHeader(kStoreFormatVersion, payload.size(), crc32c(payload)),
                        payload);
  }
  if (!topology.SerializeToString(&payload)) {
    return absl::InternalError("cannot serialize topology");
  }
  std::string out(kBinaryStoreMagic);
  putLittleEndian(out, kStoreFormatVersion, 4);
  putLittleEndian(out, payload.size(), 8);
  putLittleEndian(out, crc32c(payload, crc32c(out)), 4);
  out += payload;
  return out;
}

absl::StatusOr<DecodedStore> decodeStore(absl::string_view data, StoreEncoding encoding) {
  if (data.empty()) {
    return absl::DataLossError(
        "is empty (0 bytes); mcmesh_cp never writes an empty store, so it was cut or replaced "
        "outside mcmesh_cp");
  }
  return encoding == StoreEncoding::Text ? decodeText(data) : decodeBinary(data);
}

absl::StatusOr<Topology> parseTextTopology(absl::string_view text) {
  Topology topology;
  ErrorCollector errors;
  google::protobuf::TextFormat::Parser parser;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(std::string(text), &topology)) {
    return absl::InvalidArgumentError(absl::StrCat("bad text topology: ", errors.joined()));
  }
  return topology;
}

} // namespace control_plane
} // namespace mcmesh

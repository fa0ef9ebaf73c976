// BinaryClientCodec: frame validation and decoding, and the replies memcached sends for each.
#include "codec/binary_codec.h"

#include <algorithm>
#include <array>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace mcmesh::codec {
namespace binary {

namespace {

void appendBig(uint64_t value, int bytes, std::string* out) {
  for (int shift = (bytes - 1) * 8; shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>((value >> shift) & 0xff));
  }
}

uint64_t readBig(absl::string_view in, size_t offset, int bytes) {
  uint64_t value = 0;
  for (int i = 0; i < bytes; ++i) {
    value = (value << 8) | static_cast<uint8_t>(in[offset + i]);
  }
  return value;
}

// memcached's texts for its error statuses (write_bin_error).
absl::string_view statusText(uint16_t status) {
  switch (status) {
    case kKeyNotFound:
      return "Not found";
    case kKeyExists:
      return "Data exists for key.";
    case kTooLarge:
      return "Too large.";
    case kInvalidArguments:
      return "Invalid arguments";
    case kNotStored:
      return "Not stored.";
    case kNonNumeric:
      return "Non-numeric server-side value for incr or decr";
    case kUnknownCommand:
      return "Unknown command";
    case kOutOfMemory:
      return "Out of memory";
    default:
      return "Temporary failure";
  }
}

// What the decoder knows of an opcode: one row each, so a frame's shape, its command, its quiet
// variant and whether replies echo the key are all read from the same place. An opcode with no
// row (verbosity, SASL, anything unknown) is answered "unknown command".
enum class Family : uint8_t {
  kUnknown,
  kGet,     // no extras, a key, no value
  kStore,   // 8 bytes of extras (flags, expiration), a key, a value
  kConcat,  // no extras, a key, a value
  kDelete,  // no extras, a key, no value
  kArith,   // 20 bytes of extras (delta, initial value, expiration), a key, no value
  kBare,    // no body at all (quit, noop, version)
  kFlush,   // no extras or 4 (a delay), no key, no value
  kStat,    // no extras, a key (the stats group) or none, no value
  kExpire,  // 4 bytes of extras (expiration), a key, no value (touch and the GAT family)
};

struct OpcodeInfo {
  Family family = Family::kUnknown;
  Command command = Command::kGet;
  bool quiet = false;
  bool echoes_key = false;  // GETK and GATK replies, hits and misses, carry the key.
};

constexpr void setRow(std::array<OpcodeInfo, 256>& table, uint8_t opcode, Family family,
                      Command command, bool quiet, bool echoes_key = false) {
  table[opcode] = OpcodeInfo{family, command, quiet, echoes_key};
}

constexpr std::array<OpcodeInfo, 256> makeOpcodeTable() {
  std::array<OpcodeInfo, 256> t{};
  // Every get reports its cas, so all of them become gets (gats for the GAT family).
  setRow(t, kGet, Family::kGet, Command::kGets, false);
  setRow(t, kGetQ, Family::kGet, Command::kGets, true);
  setRow(t, kGetK, Family::kGet, Command::kGets, false, true);
  setRow(t, kGetKQ, Family::kGet, Command::kGets, true, true);
  setRow(t, kSet, Family::kStore, Command::kSet, false);
  setRow(t, kSetQ, Family::kStore, Command::kSet, true);
  setRow(t, kAdd, Family::kStore, Command::kAdd, false);
  setRow(t, kAddQ, Family::kStore, Command::kAdd, true);
  setRow(t, kReplace, Family::kStore, Command::kReplace, false);
  setRow(t, kReplaceQ, Family::kStore, Command::kReplace, true);
  setRow(t, kAppend, Family::kConcat, Command::kAppend, false);
  setRow(t, kAppendQ, Family::kConcat, Command::kAppend, true);
  setRow(t, kPrepend, Family::kConcat, Command::kPrepend, false);
  setRow(t, kPrependQ, Family::kConcat, Command::kPrepend, true);
  setRow(t, kDelete, Family::kDelete, Command::kDelete, false);
  setRow(t, kDeleteQ, Family::kDelete, Command::kDelete, true);
  setRow(t, kIncrement, Family::kArith, Command::kIncr, false);
  setRow(t, kIncrementQ, Family::kArith, Command::kIncr, true);
  setRow(t, kDecrement, Family::kArith, Command::kDecr, false);
  setRow(t, kDecrementQ, Family::kArith, Command::kDecr, true);
  setRow(t, kQuit, Family::kBare, Command::kQuit, false);
  setRow(t, kQuitQ, Family::kBare, Command::kQuit, true);
  setRow(t, kNoop, Family::kBare, Command::kNoop, false);
  setRow(t, kVersion, Family::kBare, Command::kVersion, false);
  setRow(t, kFlush, Family::kFlush, Command::kFlushAll, false);
  setRow(t, kFlushQ, Family::kFlush, Command::kFlushAll, true);
  setRow(t, kStat, Family::kStat, Command::kStats, false);
  setRow(t, kTouch, Family::kExpire, Command::kTouch, false);
  setRow(t, kGat, Family::kExpire, Command::kGats, false);
  setRow(t, kGatQ, Family::kExpire, Command::kGats, true);
  setRow(t, kGatK, Family::kExpire, Command::kGats, false, true);
  setRow(t, kGatKQ, Family::kExpire, Command::kGats, true, true);
  return t;
}

constexpr std::array<OpcodeInfo, 256> kOpcodes = makeOpcodeTable();

// Whether a frame's key, extras and value lengths fit its opcode (memcached refuses the others
// with "Invalid arguments" and closes).
bool shapeFits(Family family, uint16_t key_length, uint8_t extras_length, uint32_t value_length) {
  const bool keyed = key_length > 0;
  switch (family) {
    case Family::kGet:
    case Family::kDelete:
      return extras_length == 0 && keyed && value_length == 0;
    case Family::kStore:
      return extras_length == 8 && keyed;
    case Family::kConcat:
      return extras_length == 0 && keyed;
    case Family::kArith:
      return extras_length == 20 && keyed && value_length == 0;
    case Family::kBare:
      return key_length == 0 && extras_length == 0 && value_length == 0;
    case Family::kFlush:
      return key_length == 0 && value_length == 0 && (extras_length == 0 || extras_length == 4);
    case Family::kStat:
      return extras_length == 0 && value_length == 0;
    case Family::kExpire:
      return extras_length == 4 && keyed && value_length == 0;
    case Family::kUnknown:
      break;
  }
  return false;
}

// An error reply: status and text body, no extras, key or cas (GETK misses carry the key).
void appendError(const Request& request, uint16_t status, absl::string_view text,
                 std::string* out) {
  appendHeader(request.meta.opcode, status, 0, 0, static_cast<uint32_t>(text.size()),
               request.meta.binary_opaque, 0, out);
  out->append(text.data(), text.size());
}

void appendStatus(const Request& request, uint16_t status, std::string* out) {
  appendError(request, status, statusText(status), out);
}

void appendSuccess(const Request& request, uint64_t cas, std::string* out) {
  appendHeader(request.meta.opcode, kSuccess, 0, 0, 0, request.meta.binary_opaque, cas, out);
}

uint64_t itemCas(const Response& response) {
  return response.items.empty() ? 0 : response.items.front().cas;
}

// Errors any command can get back from the proxy or memcached.
void appendFailure(const Request& request, const Response& response, std::string* out) {
  switch (response.type) {
    case ResponseType::kError:
      appendStatus(request, kUnknownCommand, out);
      return;
    case ResponseType::kClientError:
      if (response.error == ErrorKind::kNonNumeric) {
        appendStatus(request, kNonNumeric, out);
      } else {
        appendStatus(request, kInvalidArguments, out);
      }
      return;
    case ResponseType::kServerError:
      if (response.error == ErrorKind::kTooLarge) {
        appendStatus(request, kTooLarge, out);
        return;
      }
      if (response.error == ErrorKind::kOutOfMemory) {
        appendStatus(request, kOutOfMemory, out);
        return;
      }
      appendError(request, kTemporaryFailure, response.text, out);
      return;
    case ResponseType::kUpstreamFailure:
      appendError(request, kTemporaryFailure, response.text, out);
      return;
    case ResponseType::kNotFound:
      appendStatus(request, kKeyNotFound, out);
      return;
    case ResponseType::kExists:
      appendStatus(request, kKeyExists, out);
      return;
    case ResponseType::kNotStored:
      appendStatus(request, kNotStored, out);
      return;
    default:
      appendError(request, kTemporaryFailure, "unexpected reply from server", out);
      return;
  }
}

void encodeRetrieval(const Request& request, const Response& response, std::string* out) {
  const bool key = kOpcodes[request.meta.opcode].echoes_key;
  if (response.type != ResponseType::kValues) {
    appendFailure(request, response, out);
    return;
  }
  const std::string& name = request.keys.front();
  if (response.items.empty()) {
    if (request.meta.quiet) return;
    if (key) {
      // GETK/GATK misses name the key and carry no text.
      appendHeader(request.meta.opcode, kKeyNotFound, static_cast<uint16_t>(name.size()), 0,
                   static_cast<uint32_t>(name.size()), request.meta.binary_opaque, 0, out);
      out->append(name);
    } else {
      appendStatus(request, kKeyNotFound, out);
    }
    return;
  }
  const Item& item = response.items.front();
  const size_t key_length = key ? name.size() : 0;
  appendHeader(request.meta.opcode, kSuccess, static_cast<uint16_t>(key_length), 4,
               static_cast<uint32_t>(4 + key_length + item.value.size()),
               request.meta.binary_opaque, item.cas, out);
  appendBig(item.flags, 4, out);
  if (key) out->append(name);
  out->append(item.value);
}

void encodeStats(const Request& request, const Response& response, std::string* out) {
  if (response.type == ResponseType::kError) {
    appendStatus(request, kKeyNotFound, out);  // memcached: an unknown stats group.
    return;
  }
  if (response.type != ResponseType::kStats && response.type != ResponseType::kOk) {
    appendFailure(request, response, out);
    return;
  }
  for (const auto& [name, value] : response.stats) {
    if (name.empty()) continue;  // Lines that are not "name value" have no binary form.
    appendHeader(request.meta.opcode, kSuccess, static_cast<uint16_t>(name.size()), 0,
                 static_cast<uint32_t>(name.size() + value.size()), request.meta.binary_opaque, 0,
                 out);
    absl::StrAppend(out, name, value);
  }
  appendSuccess(request, 0, out);  // The empty packet that ends the list.
}

}  // namespace

void appendHeader(uint8_t opcode, uint16_t status, uint16_t key_length, uint8_t extras_length,
                  uint32_t body_length, uint32_t opaque, uint64_t cas, std::string* out) {
  out->push_back(static_cast<char>(kResponseMagic));
  out->push_back(static_cast<char>(opcode));
  appendBig(key_length, 2, out);
  out->push_back(static_cast<char>(extras_length));
  out->push_back(0);  // data type: raw bytes.
  appendBig(status, 2, out);
  appendBig(body_length, 4, out);
  appendBig(opaque, 4, out);
  appendBig(cas, 8, out);
}

}  // namespace binary

using namespace binary;  // NOLINT: the protocol's constants, in this file only.

namespace {

// A binary expiration (or flush delay) is unsigned 32-bit; the text and meta commands that carry
// it to memcached take a signed one, and memcached refuses a larger number there. Above
// INT32_MAX it is an absolute time past 2038 (memcached's realtime()); INT32_MAX, the largest
// time text can say, means the same far future.
int64_t textExptime(uint64_t expiration) {
  return static_cast<int64_t>(std::min<uint64_t>(expiration, 0x7fffffff));
}

}  // namespace

ParseStatus BinaryClientCodec::fail(uint8_t opcode, uint16_t status, uint32_t opaque,
                                    bool close) {
  error_.reply.clear();
  const absl::string_view text = statusText(status);
  appendHeader(opcode, status, 0, 0, static_cast<uint32_t>(text.size()), opaque, 0,
               &error_.reply);
  error_.reply.append(text.data(), text.size());
  error_.close = close;
  error_.kind = status == kTooLarge ? ErrorKind::kTooLarge : ErrorKind::kOther;
  return ParseStatus::kError;
}

ParseStatus BinaryClientCodec::parse(absl::string_view input, Request* request,
                                     size_t* consumed) {
  size_t skipped = 0;
  if (error_.begin(input, skipped)) {
    *consumed = skipped;
    return ParseStatus::kNeedMore;
  }
  *consumed = skipped;
  if (input.size() < kHeaderSize) return ParseStatus::kNeedMore;

  const uint8_t magic = static_cast<uint8_t>(input[0]);
  const uint8_t opcode = static_cast<uint8_t>(input[1]);
  const uint16_t key_length = static_cast<uint16_t>(readBig(input, 2, 2));
  const uint8_t extras_length = static_cast<uint8_t>(input[4]);
  const uint32_t body_length = static_cast<uint32_t>(readBig(input, 8, 4));
  const uint32_t opaque = static_cast<uint32_t>(readBig(input, 12, 4));
  const uint64_t cas = readBig(input, 16, 8);
  const uint64_t frame = kHeaderSize + uint64_t{body_length};
  // Errors that close the connection drop everything; the stream cannot be trusted.
  auto closeWith = [&](uint16_t status) {
    *consumed = skipped + input.size();
    return fail(opcode, status, opaque, /*close=*/true);
  };
  // Refuses a frame but keeps the connection: its body is skipped, now or as it arrives.
  auto skipWith = [&](uint16_t status) {
    const uint64_t now = std::min<uint64_t>(frame, input.size());
    error_.swallow = frame - now;
    *consumed = skipped + static_cast<size_t>(now);
    return fail(opcode, status, opaque, /*close=*/false);
  };

  if (magic != kRequestMagic) {
    // memcached closes without a word on a bad magic.
    *consumed = skipped + input.size();
    error_.reply.clear();
    error_.close = true;
    return ParseStatus::kError;
  }
  if (key_length > limits_.max_key_length) return closeWith(kInvalidArguments);
  if (key_length > body_length || uint32_t{key_length} + extras_length > body_length) {
    return closeWith(kUnknownCommand);
  }
  const uint32_t value_length = body_length - key_length - extras_length;
  const OpcodeInfo& op = kOpcodes[opcode];
  if (op.family == Family::kUnknown) return skipWith(kUnknownCommand);
  if (!shapeFits(op.family, key_length, extras_length, value_length)) {
    return closeWith(kInvalidArguments);
  }
  // The key travels as the argument of a text "stats" line: a newline in it would end that line
  // and smuggle a second command to memcached. memcached knows no such stats group.
  if (op.family == Family::kStat && input.size() >= frame &&
      input.substr(kHeaderSize, key_length).find_first_of("\r\n") != absl::string_view::npos) {
    return skipWith(kKeyNotFound);
  }
  if (value_length > limits_.max_value_bytes) return skipWith(kTooLarge);
  if (input.size() < frame) return ParseStatus::kNeedMore;

  request->clear();
  const absl::string_view extras = input.substr(kHeaderSize, extras_length);
  const absl::string_view key = input.substr(kHeaderSize + extras_length, key_length);
  const absl::string_view value = input.substr(kHeaderSize + extras_length + key_length,
                                               value_length);
  MetaFlags& meta = request->meta;
  meta.opcode = opcode;
  meta.binary_opaque = opaque;
  meta.quiet = op.quiet;
  request->command = op.command;
  if (key_length > 0) request->keys.emplace_back(key);
  switch (op.family) {
    case Family::kStore:
      // As in memcached, any of these with a cas only stores over that exact item.
      if (cas != 0) request->command = Command::kCas;
      request->flags = static_cast<uint32_t>(readBig(extras, 0, 4));
      request->exptime = textExptime(readBig(extras, 4, 4));
      request->cas_unique = cas;
      request->value.assign(value.data(), value.size());
      meta.return_cas = true;
      break;
    case Family::kConcat:
      request->cas_unique = cas;
      request->value.assign(value.data(), value.size());
      meta.return_cas = true;
      break;
    case Family::kDelete:
      request->cas_unique = cas;
      break;
    case Family::kArith: {
      request->delta = readBig(extras, 0, 8);
      meta.initial = readBig(extras, 8, 8);
      const uint32_t expiration = static_cast<uint32_t>(readBig(extras, 16, 4));
      // 0xffffffff: fail on a miss; anything else creates the item holding `initial`.
      meta.vivify = expiration != 0xffffffffu;
      if (meta.vivify) request->exptime = textExptime(expiration);
      request->cas_unique = cas;
      meta.return_cas = true;
      break;
    }
    case Family::kFlush: {
      const int64_t delay = extras_length == 4 ? textExptime(readBig(extras, 0, 4)) : 0;
      if (delay != 0) request->args = absl::StrCat(delay);
      break;
    }
    case Family::kStat:
      request->args.assign(key.data(), key.size());
      request->keys.clear();
      break;
    case Family::kExpire:
      request->exptime = textExptime(readBig(extras, 0, 4));
      // touch's reply reports the item's flags and cas; a GAT's is a get's.
      meta.return_cas = request->command == Command::kTouch;
      break;
    case Family::kGet:
    case Family::kBare:
    case Family::kUnknown:
      break;
  }
  *consumed = skipped + static_cast<size_t>(frame);
  return ParseStatus::kOk;
}

void BinaryClientCodec::encode(const Request& request, const Response& response,
                               std::string* out) const {
  const bool quiet = request.meta.quiet;
  switch (request.command) {
    case Command::kQuit:
    case Command::kNoop:
      if (!quiet) appendSuccess(request, 0, out);  // quitq closes without a word.
      return;
    case Command::kVersion:
      if (response.type != ResponseType::kVersion) break;
      appendHeader(request.meta.opcode, kSuccess, 0, 0, static_cast<uint32_t>(response.text.size()),
                   request.meta.binary_opaque, 0, out);
      out->append(response.text);
      return;
    case Command::kFlushAll:
      if (response.type != ResponseType::kOk) break;
      if (!quiet) appendSuccess(request, 0, out);
      return;
    case Command::kStats:
      encodeStats(request, response, out);
      return;
    case Command::kGets:
    case Command::kGats:
      encodeRetrieval(request, response, out);
      return;
    case Command::kTouch:
      if (response.type != ResponseType::kTouched) break;
      appendHeader(request.meta.opcode, kSuccess, 0, 4, 4, request.meta.binary_opaque,
                   itemCas(response), out);
      appendBig(response.items.empty() ? 0 : response.items.front().flags, 4, out);
      return;
    case Command::kDelete:
      if (response.type != ResponseType::kDeleted) break;
      if (!quiet) appendSuccess(request, 0, out);
      return;
    case Command::kIncr:
    case Command::kDecr: {
      if (response.type != ResponseType::kNumber) break;
      if (quiet) return;
      uint64_t value = 0;
      if (!absl::SimpleAtoi(response.text, &value)) {
        appendError(request, kTemporaryFailure, "unexpected reply from server", out);
        return;
      }
      appendHeader(request.meta.opcode, kSuccess, 0, 0, 8, request.meta.binary_opaque,
                   itemCas(response), out);
      appendBig(value, 8, out);
      return;
    }
    default:
      if (!isStorage(request.command)) break;
      if (response.type == ResponseType::kStored) {
        if (!quiet) appendSuccess(request, itemCas(response), out);
        return;
      }
      if (response.type == ResponseType::kNotStored) {
        // memcached: a refused add means the key exists, a refused replace that it does not
        // (also when a cas made it a compare-and-set).
        const Command asked = kOpcodes[request.meta.opcode].command;
        appendStatus(request,
                     asked == Command::kAdd       ? kKeyExists
                     : asked == Command::kReplace ? kKeyNotFound
                                                  : kNotStored,
                     out);
        return;
      }
      break;
  }
  appendFailure(request, response, out);
}

}  // namespace mcmesh::codec

// TextRequestParser::parseMeta: meta command lines (mg, ms, md, ma, mn, me) -> Request.
//
// Validation and error replies follow memcached 1.6.18 (proto_text.c, _meta_flag_preparse and
// process_m*_command), checked against the real server: the same flags are accepted, the same
// errors answered, and an ms whose flags are refused has its data block swallowed.
#include <algorithm>
#include <limits>

#include "codec/base64.h"
#include "codec/text_codec.h"
#include "codec/text_number.h"

namespace mcmesh::codec {
namespace {

using internal::kReplyBadChunk;
using internal::kReplyBadFormat;
using internal::kReplyError;
using internal::kReplyTooLarge;
using internal::nextToken;

constexpr absl::string_view kReplyBadToken = "CLIENT_ERROR bad token in command line format\r\n";
constexpr absl::string_view kReplyBadKey = "CLIENT_ERROR error decoding key\r\n";
constexpr absl::string_view kReplyDuplicate = "CLIENT_ERROR duplicate flag\r\n";
constexpr absl::string_view kReplyInvalidFlag = "CLIENT_ERROR invalid flag\r\n";
// md and ma answer every flag error with this one line.
constexpr absl::string_view kReplyInvalidOrDuplicate = "CLIENT_ERROR invalid or duplicate flag\r\n";
constexpr absl::string_view kReplyOpaqueTooLong = "CLIENT_ERROR opaque token too long\r\n";

// memcached's MFLAG_MAX_OPT_LENGTH: tokens counted with the command and a terminal token.
constexpr size_t kMaxMetaTokens = 20;
// memcached's MFLAG_MAX_OPAQUE_LENGTH, counted with the 'O'.
constexpr size_t kMaxOpaqueToken = 32;
constexpr size_t kMaxTokens = 24;  // memcached tokenizes at most this many.

enum class MetaCommand { kGet, kSet, kDelete, kArithmetic, kNoop, kDebug };

bool lookupMeta(absl::string_view name, MetaCommand* command) {
  static constexpr struct {
    absl::string_view name;
    MetaCommand command;
  } kCommands[] = {
      {"mg", MetaCommand::kGet},        {"ms", MetaCommand::kSet},  {"md", MetaCommand::kDelete},
      {"ma", MetaCommand::kArithmetic}, {"mn", MetaCommand::kNoop}, {"me", MetaCommand::kDebug},
  };
  for (const auto& entry : kCommands) {
    if (entry.name == name) {
      *command = entry.command;
      return true;
    }
  }
  return false;
}

// The tokens after the command name, as views into the line.
struct Tokens {
  absl::string_view t[kMaxTokens];
  size_t count = 0;

  explicit Tokens(absl::string_view rest) {
    for (absl::string_view tok = nextToken(&rest); !tok.empty() && count < kMaxTokens;
         tok = nextToken(&rest)) {
      t[count++] = tok;
    }
  }
  // memcached's ntokens: the command, these, and its terminal token.
  size_t memcachedCount() const { return count + 2; }
};

// The flags every meta command shares, checked in the client's order like memcached's
// _meta_flag_preparse: a duplicate or unknown flag stops at once, a bad token value is remembered
// (the last one wins) and the scan goes on.
struct Preparse {
  absl::string_view error;  // empty: the flags are valid.
  std::string key;          // the key, base64-decoded if 'b' was given.
  int32_t t_value = 0, n_value = 0;
  uint32_t f_value = 0;
  uint64_t c_value = 0, j_value = 0, d_value = 1;
  char mode = 0;
  bool seen[128] = {};

  bool has(char flag) const { return seen[static_cast<unsigned char>(flag)]; }

  void run(absl::string_view key_token, const absl::string_view* flags, size_t count) {
    key.assign(key_token.data(), key_token.size());
    for (size_t i = 0; i < count; ++i) {
      const absl::string_view tok = flags[i];
      const unsigned char o = static_cast<unsigned char>(tok[0]);
      if (o >= 127 || seen[o]) {
        error = kReplyDuplicate;
        return;
      }
      seen[o] = true;
      const absl::string_view arg = tok.substr(1);
      switch (o) {
        case 'b':
          key.clear();
          if (!internal::base64Decode(key_token, &key)) error = kReplyBadKey;
          break;
        case 'N':
          if (!internal::parseInt32(arg, &n_value)) error = kReplyBadToken;
          break;
        case 'T':
          if (!internal::parseInt32(arg, &t_value)) error = kReplyBadToken;
          break;
        case 'R': {
          int32_t ignored = 0;
          if (!internal::parseInt32(arg, &ignored)) error = kReplyBadToken;
          break;
        }
        case 'F':
          if (!internal::parseUint32(arg, &f_value)) error = kReplyBadFormat;
          break;
        case 'C':
          if (!internal::parseUint64(arg, &c_value)) error = kReplyBadToken;
          break;
        case 'M':
          if (tok.size() != 2) {
            error = "CLIENT_ERROR incorrect length for M token\r\n";
          } else {
            mode = tok[1];
          }
          break;
        case 'J':
          if (!internal::parseUint64(arg, &j_value)) {
            error = "CLIENT_ERROR invalid numeric initial value\r\n";
          }
          break;
        case 'D':
          if (!internal::parseUint64(arg, &d_value)) {
            error = "CLIENT_ERROR invalid numeric delta value\r\n";
          }
          break;
        case 'l': case 'h': case 'O': case 'P': case 'L': case 'k': case 's': case 't':
        case 'c': case 'f': case 'v': case 'u': case 'q': case 'I':
          break;
        default:
          error = kReplyInvalidFlag;
          return;
      }
    }
  }
};

// Fills the parts of Request::meta every meta command shares: quiet, opaque, b, the order of
// the client's flags, and the flags forwarded to memcached verbatim (`known` lists the letters
// this command models or returns; everything else valid goes to `extra`, proxy hints P/L aside).
// @return false if the opaque token is too long.
bool fillMeta(const absl::string_view* flags, size_t count, absl::string_view known,
              Request* request) {
  MetaFlags& meta = request->meta;
  meta.meta = true;
  for (size_t i = 0; i < count; ++i) {
    const absl::string_view tok = flags[i];
    const char o = tok[0];
    switch (o) {
      case 'q':
        meta.quiet = true;
        continue;
      case 'b':
        meta.base64_key = true;
        continue;
      case 'P':
      case 'L':
        continue;  // Hints for proxies like this one; memcached ignores them too.
      case 'O':
        if (tok.size() > kMaxOpaqueToken) return false;
        meta.opaque.assign(tok.data() + 1, tok.size() - 1);
        break;
      default:
        break;
    }
    meta.order.push_back(o);
    if (o != 'O' && known.find(o) == absl::string_view::npos) {
      if (!meta.extra.empty()) meta.extra.push_back(' ');
      meta.extra.append(tok.data(), tok.size());
    }
  }
  return true;
}

}  // namespace

ParseStatus TextRequestParser::parseMeta(absl::string_view input, absl::string_view name,
                                         absl::string_view rest, size_t line_end,
                                         Request* request, size_t* consumed) {
  MetaCommand command;
  if (!lookupMeta(name, &command)) return fail(kReplyError);
  const Tokens tokens(rest);
  if (command == MetaCommand::kNoop) {
    request->command = Command::kNoop;  // memcached ignores mn's arguments.
    request->meta.meta = true;
    return ParseStatus::kOk;
  }
  if (command == MetaCommand::kDebug) {
    // "me <key> [b]": anything after the flag is refused, an unknown flag ignored.
    if (tokens.count < 1 || tokens.count > 2 || tokens.t[0].size() > limits_.max_key_length) {
      return fail(kReplyBadFormat);
    }
    request->command = Command::kMetaDebug;
    request->meta.meta = true;
    std::string key(tokens.t[0]);
    if (tokens.count == 2 && tokens.t[1] == "b") {
      key.clear();
      if (!internal::base64Decode(tokens.t[0], &key)) return fail(kReplyBadFormat);
      request->meta.base64_key = true;
    }
    request->keys.push_back(std::move(key));
    return ParseStatus::kOk;
  }

  const bool set = command == MetaCommand::kSet;
  if (tokens.count < 1) return fail(kReplyError);
  if (tokens.t[0].size() > limits_.max_key_length) return fail(kReplyBadFormat);
  if (set && tokens.count == 1) return fail(kReplyBadFormat);
  if (tokens.memcachedCount() > kMaxMetaTokens) {
    return fail(command == MetaCommand::kGet ? "CLIENT_ERROR options flags are too long\r\n"
                                             : "CLIENT_ERROR options flags too long\r\n");
  }
  // ms: the data length comes first; a bad one is refused without swallowing anything.
  int32_t length = 0;
  if (set && (!internal::parseInt32(tokens.t[1], &length) || length < 0 ||
              length > std::numeric_limits<int32_t>::max() - 2)) {
    return fail(kReplyBadFormat);
  }
  const size_t first_flag = set ? 2 : 1;
  const absl::string_view* flags = tokens.t + first_flag;
  const size_t flag_count = tokens.count - first_flag;

  // Refuses an ms after its line was understood: memcached then swallows the data block.
  auto failSet = [&](absl::string_view reply, ErrorKind kind = ErrorKind::kOther) {
    const uint64_t block = static_cast<uint64_t>(length) + 2;
    const uint64_t now = std::min<uint64_t>(block, input.size() - line_end);
    error_.swallow = block - now;
    *consumed = line_end + static_cast<size_t>(now);
    return fail(reply, false, kind);
  };
  auto flagError = [&](absl::string_view reply) {
    if (command == MetaCommand::kDelete || command == MetaCommand::kArithmetic) {
      reply = kReplyInvalidOrDuplicate;
    }
    return set ? failSet(reply) : fail(reply);
  };

  Preparse pre;
  pre.run(tokens.t[0], flags, flag_count);
  if (!pre.error.empty()) return flagError(pre.error);

  MetaFlags& meta = request->meta;
  bool opaque_ok = true;
  switch (command) {
    case MetaCommand::kGet:
      // T turns the read into a touch; c asks for the cas, as gets/gats do.
      opaque_ok = fillMeta(flags, flag_count, "vftcshlkT", request);
      if (pre.has('T')) {
        request->command = pre.has('c') ? Command::kGats : Command::kGat;
        request->exptime = pre.t_value;
      } else {
        request->command = pre.has('c') ? Command::kGets : Command::kGet;
      }
      break;
    case MetaCommand::kSet:
      opaque_ok = fillMeta(flags, flag_count, "ckCFTM", request);
      switch (pre.mode) {
        case 0:
        case 'S':
          request->command = pre.has('C') ? Command::kCas : Command::kSet;
          break;
        case 'E':
          request->command = Command::kAdd;
          break;
        case 'A':
          request->command = Command::kAppend;
          break;
        case 'P':
          request->command = Command::kPrepend;
          break;
        case 'R':
          request->command = Command::kReplace;
          break;
        default:
          return failSet("CLIENT_ERROR invalid mode for ms M token\r\n");
      }
      request->flags = pre.f_value;
      request->exptime = pre.t_value;
      request->cas_unique = pre.c_value;
      meta.return_cas = pre.has('c');
      break;
    case MetaCommand::kDelete:
      opaque_ok = fillMeta(flags, flag_count, "kC", request);
      request->command = Command::kDelete;
      request->cas_unique = pre.c_value;
      break;
    case MetaCommand::kArithmetic:
      opaque_ok = fillMeta(flags, flag_count, "vtckCNJDM", request);
      if (pre.mode == 0 || pre.mode == 'I' || pre.mode == '+') {
        request->command = Command::kIncr;
      } else if (pre.mode == 'D' || pre.mode == '-') {
        request->command = Command::kDecr;
      } else {
        return fail("CLIENT_ERROR invalid mode for ma M token\r\n");
      }
      request->cas_unique = pre.c_value;
      request->delta = pre.d_value;
      meta.return_cas = pre.has('c');
      meta.vivify = pre.has('N');
      meta.initial = pre.j_value;
      if (meta.vivify) request->exptime = pre.n_value;
      break;
    default:
      break;
  }
  if (!opaque_ok) return set ? failSet(kReplyOpaqueTooLong) : fail(kReplyOpaqueTooLong);
  request->keys.push_back(std::move(pre.key));
  if (!set) return ParseStatus::kOk;

  // The data block, as for set (see parseStorage).
  const uint64_t block = static_cast<uint64_t>(length) + 2;
  if (static_cast<uint64_t>(length) > limits_.max_value_bytes) return failSet(kReplyTooLarge, ErrorKind::kTooLarge);
  if (input.size() - line_end < block) {
    *consumed = 0;
    return ParseStatus::kNeedMore;
  }
  *consumed = line_end + static_cast<size_t>(block);
  if (input.substr(line_end + length, 2) != "\r\n") return fail(kReplyBadChunk);
  request->value.assign(input.data() + line_end, static_cast<size_t>(length));
  return ParseStatus::kOk;
}

}  // namespace mcmesh::codec

// TextRequestParser: client command lines (and storage data blocks) -> Request, memcached-exact.
#include <algorithm>
#include <limits>

#include "absl/strings/match.h"
#include "codec/text_codec.h"
#include "codec/text_number.h"

namespace mcmesh::codec {
namespace {

using internal::kReplyBadChunk;
using internal::kReplyBadFormat;
using internal::kReplyError;
using internal::kReplyTooLarge;
using internal::nextToken;
using internal::parseInt32;
using internal::parseUint32;
using internal::parseUint64;
using internal::trimSpaces;

// memcached 1.6 replies (proto_text.c), with their line endings.
constexpr absl::string_view kReplyBadExptime = "CLIENT_ERROR invalid exptime argument\r\n";
constexpr absl::string_view kReplyBadDelta = "CLIENT_ERROR invalid numeric delta argument\r\n";
constexpr absl::string_view kReplyBadDelete =
    "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n";

// No supported command other than get/stats takes more arguments than this; more means the
// token count is wrong, which memcached answers with ERROR.
constexpr size_t kMaxArgs = 8;

// Argument tokens as views into the caller's buffer: nothing is copied until a command is valid.
struct Args {
  absl::string_view tokens[kMaxArgs];
  size_t count = 0;

  explicit Args(absl::string_view rest) {
    for (absl::string_view t = nextToken(&rest); !t.empty(); t = nextToken(&rest)) {
      if (count == kMaxArgs) {
        count = kMaxArgs + 1;  // Too many: no command accepts this, the value is never read.
        return;
      }
      tokens[count++] = t;
    }
  }
  bool between(size_t lo, size_t hi) const { return count >= lo && count <= hi; }
  // memcached's set_noreply_maybe: only the last token counts.
  bool lastIsNoreply() const {
    return count > 0 && count <= kMaxArgs && tokens[count - 1] == "noreply";
  }
};

bool lookupCommand(absl::string_view name, Command* command) {
  static constexpr struct {
    absl::string_view name;
    Command command;
  } kCommands[] = {
      {"get", Command::kGet},
      {"gets", Command::kGets},
      {"gat", Command::kGat},
      {"gats", Command::kGats},
      {"set", Command::kSet},
      {"add", Command::kAdd},
      {"replace", Command::kReplace},
      {"append", Command::kAppend},
      {"prepend", Command::kPrepend},
      {"cas", Command::kCas},
      {"delete", Command::kDelete},
      {"incr", Command::kIncr},
      {"decr", Command::kDecr},
      {"touch", Command::kTouch},
      {"flush_all", Command::kFlushAll},
      {"version", Command::kVersion},
      {"verbosity", Command::kVerbosity},
      {"stats", Command::kStats},
      {"quit", Command::kQuit},
  };
  for (const auto& entry : kCommands) {
    if (entry.name == name) {
      *command = entry.command;
      return true;
    }
  }
  return false;
}

// Raw argument text without a trailing "noreply" token (it lives in Request::noreply instead).
absl::string_view argsWithoutNoreply(absl::string_view rest, bool noreply) {
  absl::string_view args = trimSpaces(rest);
  if (noreply) {
    args.remove_suffix(sizeof("noreply") - 1);
    args = trimSpaces(args);
  }
  return args;
}

}  // namespace

TextRequestParser::TextRequestParser(ParseLimits limits) : limits_(limits) {}

ParseStatus TextRequestParser::fail(absl::string_view reply, bool close, ErrorKind kind) {
  error_.reply.assign(reply.data(), reply.size());
  error_.close = close;
  error_.kind = kind;
  return ParseStatus::kError;
}

size_t TextRequestParser::lineLimit(absl::string_view line_start) const {
  // Like memcached's try_read_command_ascii, only get/gets lines (after leading spaces) may grow
  // past the normal limit: those are large multigets, anything else is junk.
  const size_t first = line_start.find_first_not_of(' ');
  const absl::string_view s =
      first == absl::string_view::npos ? absl::string_view() : line_start.substr(first);
  if (absl::StartsWith(s, "get ") || absl::StartsWith(s, "gets ")) {
    return limits_.max_line_bytes + limits_.max_keys_per_get * (limits_.max_key_length + 1);
  }
  return limits_.max_line_bytes;
}

ParseStatus TextRequestParser::parse(absl::string_view input, Request* request, size_t* consumed) {
  size_t skipped = 0;
  if (error_.begin(input, skipped)) {
    *consumed = skipped;
    return ParseStatus::kNeedMore;
  }

  size_t used = 0;
  ParseStatus status;
  absl::string_view line;
  size_t line_end = 0;
  if (!internal::findLine(input, 0, &line, &line_end)) {
    // memcached closes without a reply rather than buffer an endless line.
    if (input.size() > lineLimit(input)) {
      used = input.size();
      status = fail("", true);
    } else {
      status = ParseStatus::kNeedMore;
    }
  } else if (line.size() > lineLimit(line)) {
    used = input.size();
    status = fail("", true);
  } else {
    status = parseLine(input, line, line_end, request, &used);
  }
  *consumed = skipped + used;
  return status;
}

ParseStatus TextRequestParser::parseLine(absl::string_view input, absl::string_view line,
                                         size_t line_end, Request* request, size_t* consumed) {
  *consumed = line_end;  // Every outcome but a data block drops exactly the line.
  request->clear();
  absl::string_view rest = line;
  const absl::string_view name = nextToken(&rest);
  Command command;
  if (!lookupCommand(name, &command)) {
    // Meta commands: two letters starting with 'm' (parseMeta refuses the unknown ones).
    if (name.size() == 2 && name[0] == 'm') {
      return parseMeta(input, name, rest, line_end, request, consumed);
    }
    // memcached drops connections that speak HTTP to it instead of answering.
    const absl::string_view trimmed = trimSpaces(line);
    const size_t space = trimmed.rfind(' ');
    const absl::string_view last =
        space == absl::string_view::npos ? trimmed : trimmed.substr(space + 1);
    if (absl::StartsWith(last, "HTTP/")) {
      *consumed = input.size();
      return fail("", true);
    }
    return fail(kReplyError);
  }
  request->command = command;

  switch (command) {
    case Command::kGet:
    case Command::kGets:
    case Command::kGat:
    case Command::kGats:
      return parseRetrieval(rest, request);
    case Command::kSet:
    case Command::kAdd:
    case Command::kReplace:
    case Command::kAppend:
    case Command::kPrepend:
    case Command::kCas:
      return parseStorage(input, rest, line_end, request, consumed);
    case Command::kStats:
      // memcached has no noreply for stats: "noreply" would be a (bad) stats subcommand.
      request->args.assign(trimSpaces(rest).data(), trimSpaces(rest).size());
      return ParseStatus::kOk;
    case Command::kVersion:
    case Command::kQuit:
      return ParseStatus::kOk;  // memcached ignores any arguments.
    default:
      break;
  }

  const Args args(rest);
  switch (command) {
    case Command::kDelete: {
      if (!args.between(1, 3)) return fail(kReplyError);
      // "delete <key> 0" is the only legacy hold time memcached still accepts.
      if (args.count > 1) {
        const bool hold_is_zero = args.tokens[1] == "0";
        request->noreply = args.lastIsNoreply();
        const bool valid = (args.count == 2 && (hold_is_zero || request->noreply)) ||
                           (args.count == 3 && hold_is_zero && request->noreply);
        if (!valid) return fail(request->noreply ? "" : kReplyBadDelete);
      }
      if (args.tokens[0].size() > limits_.max_key_length) {
        return fail(request->noreply ? "" : kReplyBadFormat);
      }
      request->keys.emplace_back(args.tokens[0]);
      return ParseStatus::kOk;
    }
    case Command::kIncr:
    case Command::kDecr:
    case Command::kTouch: {
      if (!args.between(2, 3)) return fail(kReplyError);
      request->noreply = args.lastIsNoreply();
      const absl::string_view quiet = "";
      if (args.tokens[0].size() > limits_.max_key_length) {
        return fail(request->noreply ? quiet : kReplyBadFormat);
      }
      if (command == Command::kTouch) {
        int32_t exptime = 0;
        if (!parseInt32(args.tokens[1], &exptime)) {
          return fail(request->noreply ? quiet : kReplyBadExptime);
        }
        request->exptime = exptime;
      } else if (!parseUint64(args.tokens[1], &request->delta)) {
        return fail(request->noreply ? quiet : kReplyBadDelta);
      }
      request->keys.emplace_back(args.tokens[0]);
      return ParseStatus::kOk;
    }
    case Command::kVerbosity: {
      if (!args.between(1, 2)) return fail(kReplyError);
      request->noreply = args.lastIsNoreply();
      uint32_t level = 0;
      if (!parseUint32(args.tokens[0], &level)) {
        return fail(request->noreply ? "" : kReplyBadFormat);
      }
      const absl::string_view raw = argsWithoutNoreply(rest, request->noreply);
      request->args.assign(raw.data(), raw.size());
      return ParseStatus::kOk;
    }
    case Command::kFlushAll: {
      if (!args.between(0, 2)) return fail(kReplyError);
      request->noreply = args.lastIsNoreply();
      int32_t delay = 0;
      if (args.count != (request->noreply ? 1u : 0u) && !parseInt32(args.tokens[0], &delay)) {
        return fail(request->noreply ? "" : kReplyBadExptime);
      }
      const absl::string_view raw = argsWithoutNoreply(rest, request->noreply);
      request->args.assign(raw.data(), raw.size());
      return ParseStatus::kOk;
    }
    default:
      return fail(kReplyError);
  }
}

ParseStatus TextRequestParser::parseRetrieval(absl::string_view rest, Request* request) {
  const bool touch = request->command == Command::kGat || request->command == Command::kGats;
  if (touch) {
    const absl::string_view exptime_token = nextToken(&rest);
    if (exptime_token.empty()) return fail(kReplyError);
    int32_t exptime = 0;
    if (!parseInt32(exptime_token, &exptime)) return fail(kReplyBadExptime);
    request->exptime = exptime;
  }
  for (absl::string_view key = nextToken(&rest); !key.empty(); key = nextToken(&rest)) {
    if (key.size() > limits_.max_key_length || request->keys.size() >= limits_.max_keys_per_get) {
      return fail(kReplyBadFormat);
    }
    request->keys.emplace_back(key);
  }
  if (request->keys.empty()) return fail(kReplyError);
  return ParseStatus::kOk;
}

ParseStatus TextRequestParser::parseStorage(absl::string_view input, absl::string_view rest,
                                            size_t line_end, Request* request, size_t* consumed) {
  const bool cas = request->command == Command::kCas;
  const Args args(rest);
  const size_t required = cas ? 5 : 4;
  if (!args.between(required, required + 1)) return fail(kReplyError);
  request->noreply = args.lastIsNoreply();
  const absl::string_view bad_format = request->noreply ? "" : kReplyBadFormat;

  if (args.tokens[0].size() > limits_.max_key_length) return fail(bad_format);
  int32_t exptime = 0;
  int32_t length = 0;
  if (!parseUint32(args.tokens[1], &request->flags) || !parseInt32(args.tokens[2], &exptime) ||
      !parseInt32(args.tokens[3], &length)) {
    return fail(bad_format);
  }
  request->exptime = exptime;
  if (cas && !parseUint64(args.tokens[4], &request->cas_unique)) return fail(bad_format);
  if (length < 0 || length > std::numeric_limits<int32_t>::max() - 2) return fail(bad_format);

  const uint64_t block = static_cast<uint64_t>(length) + 2;  // Data plus its "\r\n".
  if (static_cast<uint64_t>(length) > limits_.max_value_bytes) {
    // memcached refuses before reading, then swallows the data block as it arrives.
    const uint64_t available = input.size() - line_end;
    const uint64_t now = std::min(block, available);
    error_.swallow = block - now;
    *consumed = line_end + static_cast<size_t>(now);
    return fail(request->noreply ? "" : kReplyTooLarge, false, ErrorKind::kTooLarge);
  }
  if (input.size() - line_end < block) {
    *consumed = 0;
    return ParseStatus::kNeedMore;
  }
  *consumed = line_end + static_cast<size_t>(block);
  const absl::string_view data = input.substr(line_end, static_cast<size_t>(length));
  if (input.substr(line_end + length, 2) != "\r\n") {
    return fail(request->noreply ? "" : kReplyBadChunk);
  }
  request->keys.emplace_back(args.tokens[0]);
  request->value.assign(data.data(), data.size());
  return ParseStatus::kOk;
}

}  // namespace mcmesh::codec

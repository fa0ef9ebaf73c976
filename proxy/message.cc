// Classification helpers for Command.
#include "proxy/message.h"

#include "absl/strings/match.h"

namespace mcmesh {

bool isRetrieval(Command c) {
  return c == Command::kGet || c == Command::kGets || c == Command::kGat || c == Command::kGats ||
         c == Command::kMetaGet;
}

bool isStorage(Command c) {
  switch (c) {
    case Command::kSet:
    case Command::kAdd:
    case Command::kReplace:
    case Command::kAppend:
    case Command::kPrepend:
    case Command::kCas:
      return true;
    default:
      return false;
  }
}

bool isWrite(Command c) {
  return isStorage(c) || c == Command::kDelete || c == Command::kIncr || c == Command::kDecr ||
         c == Command::kTouch;
}

bool isKeyed(Command c) { return isRetrieval(c) || isWrite(c) || c == Command::kMetaDebug; }

absl::string_view commandName(Command c) {
  switch (c) {
    case Command::kGet: return "get";
    case Command::kGets: return "gets";
    case Command::kGat: return "gat";
    case Command::kGats: return "gats";
    case Command::kSet: return "set";
    case Command::kAdd: return "add";
    case Command::kReplace: return "replace";
    case Command::kAppend: return "append";
    case Command::kPrepend: return "prepend";
    case Command::kCas: return "cas";
    case Command::kDelete: return "delete";
    case Command::kIncr: return "incr";
    case Command::kDecr: return "decr";
    case Command::kTouch: return "touch";
    case Command::kFlushAll: return "flush_all";
    case Command::kVersion: return "version";
    case Command::kVerbosity: return "verbosity";
    case Command::kStats: return "stats";
    case Command::kQuit: return "quit";
    case Command::kNoop: return "noop";
    case Command::kMetaDebug: return "me";
    case Command::kMetaGet: return "mg";
  }
  return "unknown";
}

ErrorKind classifyErrorText(absl::string_view text) {
  // memcached's wording (proto_text.c, proto_bin.c): "object too large for cache", "out of
  // memory storing object", "cannot increment or decrement non-numeric value".
  if (absl::StrContains(text, "too large")) return ErrorKind::kTooLarge;
  if (absl::StrContains(text, "out of memory")) return ErrorKind::kOutOfMemory;
  if (absl::StrContains(text, "non-numeric")) return ErrorKind::kNonNumeric;
  return ErrorKind::kOther;
}

}  // namespace mcmesh

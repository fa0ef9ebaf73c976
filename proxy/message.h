// Protocol-neutral memcached requests and responses: the only types filters see.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace mcmesh {

// Every command a client may send. Codecs map their syntax onto these; filters never see syntax.
enum class Command : uint8_t {
  kGet,
  kGets,
  kGat,
  kGats,
  kSet,
  kAdd,
  kReplace,
  kAppend,
  kPrepend,
  kCas,
  kDelete,
  kIncr,
  kDecr,
  kTouch,
  kFlushAll,
  kVersion,
  kVerbosity,
  kStats,
  kQuit,
  // Internal, never decoded from clients: "mg <key> s v f t" to a backend, used by read-repair and
  // warm-up copies to learn an item's flags and remaining TTL (memcached >= 1.6).
  kMetaGet,
};

// Reads that carry keys and return VALUE items (get/gets/gat/gats).
bool isRetrieval(Command command);
// set/add/replace/append/prepend/cas: carry a value.
bool isStorage(Command command);
// Any command that changes data on a server (storage, delete, incr/decr, touch).
bool isWrite(Command command);
// Commands routed by key (as opposed to broadcast/local: flush_all, version, stats, ...).
bool isKeyed(Command command);
absl::string_view commandName(Command command);

// One decoded client command. Values are owned here so a request can be re-encoded for any
// upstream (primary, backup, mirror) after the client buffer has moved on.
struct Request {
  Command command = Command::kGet;
  std::vector<std::string> keys;  // 1 for keyed commands, >= 1 for the get family.
  uint32_t flags = 0;             // storage commands.
  int64_t exptime = 0;            // storage commands, touch, gat/gats.
  uint64_t cas_unique = 0;        // cas.
  uint64_t delta = 0;             // incr/decr.
  std::string value;              // storage commands, without the trailing "\r\n".
  bool noreply = false;           // the client wants no reply; upstreams are always asked for one.
  std::string args;               // raw arguments of stats / verbosity / flush_all.
};

enum class ResponseType : uint8_t {
  kValues,  // retrieval reply: `items` holds the hits (possibly none), then END.
  kStored,
  kNotStored,
  kExists,
  kNotFound,
  kDeleted,
  kTouched,
  kOk,
  kNumber,       // incr/decr result, digits in `text`.
  kVersion,      // `text` holds the version string.
  kStats,        // `stats` holds name/value pairs, then END.
  kError,        // "ERROR".
  kClientError,  // "CLIENT_ERROR <text>".
  kServerError,  // "SERVER_ERROR <text>".
  // No reply from the upstream at all (connect/IO error, timeout, ejected host); `text` says
  // why. Filters may retry elsewhere; if it reaches the client it becomes SERVER_ERROR <text>.
  kUpstreamFailure,
};

struct Item {
  std::string key;
  uint32_t flags = 0;
  uint64_t cas = 0;
  std::string value;
  int64_t ttl = -1;  // remaining seconds, -1 = never expires; set only by kMetaGet replies.
};

struct Response {
  ResponseType type = ResponseType::kValues;
  std::vector<Item> items;
  std::string text;
  std::vector<std::pair<std::string, std::string>> stats;
  // Retrieval only: keys whose server gave no answer (they read as misses to the client unless a
  // filter such as failover_reader finds them elsewhere).
  std::vector<std::string> failed_keys;

  static Response upstreamFailure(std::string reason) {
    Response r;
    r.type = ResponseType::kUpstreamFailure;
    r.text = std::move(reason);
    return r;
  }
  static Response serverError(std::string reason) {
    Response r;
    r.type = ResponseType::kServerError;
    r.text = std::move(reason);
    return r;
  }
  static Response ofType(ResponseType type) {
    Response r;
    r.type = type;
    return r;
  }
};

}  // namespace mcmesh

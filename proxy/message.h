// Protocol-neutral memcached requests and responses: the only types filters see.
#pragma once

#include <cstdint>
#include <string>
#include <tuple>
#include <type_traits>
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
  // Meta "mn" / binary noop: answered by the client connection in request order (so it marks the
  // end of a pipeline of quiet requests); never reaches the filters.
  kNoop,
  // Meta "me <key>": an item's debug line from the key's server (ResponseType::kDebug).
  kMetaDebug,
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
// kMetaDebug is keyed too.
bool isKeyed(Command command);
absl::string_view commandName(Command command);

// What the meta and binary protocols can ask for beyond the text protocol's fields. Codecs fill
// it from the client's command and read it back to shape the reply; encodeRequest sends a request
// that uses any upstream option here as a meta command (memcached >= 1.6 speaks both), so what
// the client asked for reaches memcached exactly. Filters never need to look inside: every field
// is about this request's one key, so a copied request (mirror, failover) keeps its meaning.
struct MetaFlags {
  // --- Upstream options (change what memcached does or returns) ---
  // The client spoke a meta command: memcached is asked in meta form too and the reply is
  // encoded in meta form.
  bool meta = false;
  // A write's reply must carry the item's new cas (binary writes, meta ms/ma "c").
  bool return_cas = false;
  // incr/decr: create a missing item holding `initial`, expiring per Request::exptime (binary
  // incr/decr unless expiration is 0xffffffff; meta ma N<ttl> J<initial>).
  bool vivify = false;
  uint64_t initial = 0;
  // Valid meta flags the proxy has no field for (mg u N R, md I T, ma T, ...), passed to
  // memcached verbatim in the client's spelling, space-separated.
  std::string extra;

  // --- Reply shape (read only by the client's codec) ---
  // Meta q, binary quiet opcodes: suppress the reply that says nothing new (miss for reads,
  // success for writes; see the codecs for the exact per-command rule). Errors always answer.
  bool quiet = false;
  // Meta: the client's flags as letters in its order (q, b, P and L left out), e.g. "vTtkO". The
  // reply returns the values of the return flags among them in this order; encodeRequest sends
  // the others in this order too, since memcached applies and reports flags one after another
  // (mg "T30 t" reports the new TTL, "t T30" the old one).
  std::string order;
  // Meta: the O<token> to echo (<= 32 bytes).
  std::string opaque;
  // Meta b: the client sent keys base64-encoded; keys[] hold the decoded bytes.
  bool base64_key = false;
  // Binary: the request's opcode and opaque, echoed in the reply header.
  uint8_t opcode = 0;
  uint32_t binary_opaque = 0;
};

namespace upstream {
struct HostConfig;
}  // namespace upstream

// Where a single-key request is placed: the primary it goes to, or null for the backup's turn
// (its primary is ejected). Decided once per request, key and topology, so a filter that asks
// before the router and the router itself agree without placing it twice. Read it only through
// replication::Placement::routeOf, which checks that it still holds: `primary` points into the
// snapshot it was decided on, which only the current topology (or a pin) keeps alive.
struct RequestRoute {
  uint64_t snapshot_id = 0;  // the ClusterSnapshot::id() it was decided on; 0: not decided yet.
  uint64_t key_hash = 0;     // of keys[0] then: a filter that rewrites the key gets a new decision.
  const upstream::HostConfig* primary = nullptr;  // points into that snapshot.
};

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
  MetaFlags meta;                 // meta and binary clients only (see MetaFlags).
  RequestRoute route;             // set by the proxy, never by a codec (see RequestRoute).

  /** Back to a default-constructed Request, keeping buffers' capacity (parsers reuse it). */
  void clear();
};

// The one list of each struct's fields. swap(), clear() and releaseLargeBuffers() walk it, and
// message_test checks at compile time that it names every field: a new field is added here once.
// Every scalar field's default is zero (clear() relies on it).
inline constexpr auto kMetaFlagsFields = std::make_tuple(
    &MetaFlags::meta, &MetaFlags::return_cas, &MetaFlags::vivify, &MetaFlags::initial,
    &MetaFlags::extra, &MetaFlags::quiet, &MetaFlags::order, &MetaFlags::opaque,
    &MetaFlags::base64_key, &MetaFlags::opcode, &MetaFlags::binary_opaque);
inline constexpr auto kRequestFields = std::make_tuple(
    &Request::command, &Request::keys, &Request::flags, &Request::exptime, &Request::cas_unique,
    &Request::delta, &Request::value, &Request::noreply, &Request::args, &Request::meta,
    &Request::route);

/** Calls f(a.*field, b.*field...) for every field in `fields` (a tuple of member pointers). */
template <class Fields, class F, class... S>
void forEachField(const Fields& fields, F&& f, S&... objects) {
  std::apply(
      [&](auto... member) {
        auto one = [&](auto m) { f((objects.*m)...); };
        (one(member), ...);
      },
      fields);
}

// Member-wise swaps (found by ADL): a pooled request swaps buffers with the connection's parse
// target for every request (ActiveRequest::reuse), and std::swap's three whole-struct moves cost
// about three times as much. Strings and vectors exchange their buffers.
inline void swap(MetaFlags& a, MetaFlags& b) noexcept {
  forEachField(kMetaFlagsFields, [](auto& x, auto& y) { using std::swap; swap(x, y); }, a, b);
}
inline void swap(Request& a, Request& b) noexcept {
  forEachField(kRequestFields, [](auto& x, auto& y) { using std::swap; swap(x, y); }, a, b);
}

namespace message_internal {
inline void clearField(std::string& s) { s.clear(); }
inline void clearField(std::vector<std::string>& v) { v.clear(); }
template <class T>
std::enable_if_t<std::is_scalar_v<T>> clearField(T& v) {
  v = T{};
}
inline void clearField(RequestRoute& r) { r = RequestRoute{}; }
inline void clearField(MetaFlags& m) {
  forEachField(kMetaFlagsFields, [](auto& f) { clearField(f); }, m);
}
}  // namespace message_internal

inline void Request::clear() {
  forEachField(kRequestFields, [](auto& f) { message_internal::clearField(f); }, *this);
}

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
  kDebug,        // kMetaDebug hit: `text` holds the "<name>=<value> ..." part of memcached's ME line.
  // No reply from the upstream at all (connect/IO error, timeout, ejected host); `text` says
  // why. Filters may retry elsewhere; if it reaches the client it becomes SERVER_ERROR <text>.
  kUpstreamFailure,
};

// Why a request failed, beyond the reply type: codecs map it to their protocol's status (binary
// "too large", "non-numeric") and counters count it. Set where the error is made (or, for
// memcached's text replies, where they are parsed: classifyErrorText); never read reply text.
enum class ErrorKind : uint8_t {
  kNone,
  kTooLarge,     // a value over a size limit (memcached's item size or --max_value_bytes).
  kOutOfMemory,  // memcached or the proxy had no memory for it.
  kNonNumeric,   // incr/decr of a value that is not a number.
  kOther,
};
/** The kind of a memcached CLIENT_ERROR/SERVER_ERROR text (the one place such text is read). */
ErrorKind classifyErrorText(absl::string_view text);

struct Item {
  std::string key;
  uint32_t flags = 0;
  uint64_t cas = 0;
  std::string value;
  int64_t ttl = -1;  // remaining seconds, -1 = never expires; set only by meta replies.
  // Meta reply flags the proxy does not model (s, h, l, W, X, Z), as memcached sent them
  // (space-separated), so a meta client gets them back unchanged.
  std::string meta_extra;
};

struct Response {
  ResponseType type = ResponseType::kValues;
  ErrorKind error = ErrorKind::kNone;  // for kClientError/kServerError: which error.
  // Retrieval: the hits. A write or touch answered in meta form may carry one item describing
  // the stored item as memcached reported it (cas, ttl, flags), e.g. for a binary client's cas.
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
  static Response serverError(std::string reason, ErrorKind kind = ErrorKind::kOther) {
    Response r;
    r.type = ResponseType::kServerError;
    r.error = kind;
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

// Fuzzes TextResponseParser with arbitrary upstream bytes, as the reply to every command in text
// form and to every command the proxy sends in meta form. For all: no crash, no out-of-bounds
// read, no UB; consumed never exceeds the input (kError consumes all of it); a complete reply
// parses the same on its own, and every strict prefix of it is kNeedMore (a truncated reply must
// never look complete). kOk must mean a well-formed Response: the right kind for the command,
// and, for text replies, one the proxy can re-encode for its client without changing it
// (encodeResponse, then a re-parse gives back the same Response from exactly those bytes).
//
// Input layout: bytes 0-1 pick a prefix length to check; the rest is what the upstream sent.
#include <string>

#include "codec/text_codec.h"
#include "fuzz/fuzz_input.h"

namespace {

using mcmesh::Command;
using mcmesh::Item;
using mcmesh::Request;
using mcmesh::Response;
using mcmesh::ResponseType;
using mcmesh::codec::ParseStatus;
using mcmesh::codec::ReplyContext;
using mcmesh::codec::TextResponseParser;

bool isErrorType(ResponseType t) {
  return t == ResponseType::kError || t == ResponseType::kClientError ||
         t == ResponseType::kServerError;
}

bool noNewline(const std::string& s) { return s.find('\n') == std::string::npos; }

// What a reply to `command` may parse as.
void checkShape(Command command, const Response& r) {
  const int type = static_cast<int>(r.type);
  MCMESH_FUZZ_CHECK(noNewline(r.text), "newline in text");
  MCMESH_FUZZ_CHECK(r.failed_keys.empty(), "failed keys from a parser");
  MCMESH_FUZZ_CHECK(r.type != ResponseType::kUpstreamFailure, "parser made an upstream failure");
  if (isErrorType(r.type)) {
    MCMESH_FUZZ_CHECK(r.items.empty() && r.stats.empty(), "error with items or stats");
    return;
  }
  if (mcmesh::isRetrieval(command)) {
    MCMESH_FUZZ_CHECK(r.type == ResponseType::kValues, "retrieval answered with type %d", type);
    MCMESH_FUZZ_CHECK(command != Command::kMetaGet || r.items.size() <= 1, "%zu meta items",
                      r.items.size());
    for (const Item& item : r.items) {
      if (command == Command::kMetaGet) continue;  // meta replies need not name the key
      MCMESH_FUZZ_CHECK(!item.key.empty() && item.key.find_first_of(" \n") == std::string::npos,
                        "bad item key");
    }
    MCMESH_FUZZ_CHECK(r.stats.empty() && r.text.empty(), "retrieval with stats or text");
    return;
  }
  MCMESH_FUZZ_CHECK(r.items.empty(), "items on a non-retrieval reply");
  if (command == Command::kStats) {
    MCMESH_FUZZ_CHECK(r.type == ResponseType::kStats || r.type == ResponseType::kOk,
                      "stats answered with type %d", type);
    for (const auto& stat : r.stats) {
      MCMESH_FUZZ_CHECK(noNewline(stat.first) && noNewline(stat.second), "newline in a stat");
      MCMESH_FUZZ_CHECK(stat.first.find(' ') == std::string::npos, "space in a stat name");
    }
    return;
  }
  MCMESH_FUZZ_CHECK(r.stats.empty(), "stats on a non-stats reply");
  MCMESH_FUZZ_CHECK(r.type != ResponseType::kValues && r.type != ResponseType::kStats,
                    "single-line reply of type %d", type);
  if (r.type == ResponseType::kNumber) {
    MCMESH_FUZZ_CHECK(command == Command::kIncr || command == Command::kDecr,
                      "a number answering a non-incr/decr");
    MCMESH_FUZZ_CHECK(!r.text.empty() &&
                          r.text.find_first_not_of("0123456789") == std::string::npos,
                      "number '%s'", r.text.c_str());
  }
}

// Fields the client encoding carries for `command` (e.g. get replies drop cas, meta-get replies
// drop the key and cas).
void checkSame(Command command, const Response& a, const Response& b) {
  MCMESH_FUZZ_CHECK(a.type == b.type, "type %d -> %d", static_cast<int>(a.type),
                    static_cast<int>(b.type));
  MCMESH_FUZZ_CHECK(a.text == b.text, "text '%s' -> '%s'", a.text.c_str(), b.text.c_str());
  MCMESH_FUZZ_CHECK(a.stats == b.stats, "stats changed (%zu -> %zu entries)", a.stats.size(),
                    b.stats.size());
  MCMESH_FUZZ_CHECK(a.items.size() == b.items.size(), "%zu items -> %zu", a.items.size(),
                    b.items.size());
  const bool meta = command == Command::kMetaGet;
  const bool with_cas = command == Command::kGets || command == Command::kGats;
  for (size_t i = 0; i < a.items.size(); ++i) {
    const Item& x = a.items[i];
    const Item& y = b.items[i];
    MCMESH_FUZZ_CHECK(meta || x.key == y.key, "item key changed");
    MCMESH_FUZZ_CHECK(x.flags == y.flags, "item flags changed");
    MCMESH_FUZZ_CHECK(x.value == y.value, "item value changed");
    MCMESH_FUZZ_CHECK(!with_cas || x.cas == y.cas, "item cas changed");
    MCMESH_FUZZ_CHECK(!meta || x.ttl == y.ttl, "item ttl changed");
    MCMESH_FUZZ_CHECK(meta || x.meta_extra == y.meta_extra, "item meta flags changed");
  }
}

// Meta-form replies: the kinds each command may get back.
void checkMetaShape(Command command, const Response& r) {
  MCMESH_FUZZ_CHECK(noNewline(r.text), "newline in text");
  MCMESH_FUZZ_CHECK(r.failed_keys.empty() && r.stats.empty(), "failed keys or stats");
  MCMESH_FUZZ_CHECK(r.type != ResponseType::kUpstreamFailure, "parser made an upstream failure");
  MCMESH_FUZZ_CHECK(r.items.size() <= 1, "%zu items in a meta reply", r.items.size());
  for (const Item& item : r.items) {
    MCMESH_FUZZ_CHECK(noNewline(item.meta_extra), "newline in meta flags");
  }
  if (isErrorType(r.type)) return;
  if (mcmesh::isRetrieval(command)) {
    MCMESH_FUZZ_CHECK(r.type == ResponseType::kValues, "meta retrieval answered with type %d",
                      static_cast<int>(r.type));
  } else if (r.type == ResponseType::kNumber) {
    // ma without v answers HD: a success with no number, which the meta client gets back as HD.
    MCMESH_FUZZ_CHECK(command == Command::kIncr || command == Command::kDecr,
                      "a number answering a non-arithmetic meta command");
    MCMESH_FUZZ_CHECK(r.text.find_first_not_of("0123456789") == std::string::npos,
                      "number '%s'", r.text.c_str());
  }
  MCMESH_FUZZ_CHECK(r.type != ResponseType::kStats, "stats from a meta reply");
}

void checkReply(const ReplyContext& context, absl::string_view input, size_t prefix_pick) {
  const Command command = context.command;
  TextResponseParser parser;
  Response response;
  size_t consumed = 0;
  const ParseStatus status = parser.parse(input, context, &response, &consumed);
  MCMESH_FUZZ_CHECK(consumed <= input.size(), "consumed %zu of %zu", consumed, input.size());
  if (status == ParseStatus::kNeedMore) {
    MCMESH_FUZZ_CHECK(consumed == 0, "kNeedMore consumed %zu", consumed);
    return;
  }
  if (status == ParseStatus::kError) {
    MCMESH_FUZZ_CHECK(consumed == input.size(), "kError consumed %zu of %zu", consumed,
                      input.size());
    return;
  }
  MCMESH_FUZZ_CHECK(consumed > 0, "kOk from no bytes");
  if (context.meta) {
    checkMetaShape(command, response);
  } else {
    checkShape(command, response);
  }

  // The reply alone parses the same, and any strict prefix of it is incomplete.
  const absl::string_view reply = input.substr(0, consumed);
  Response alone;
  size_t alone_consumed = 0;
  MCMESH_FUZZ_CHECK(parser.parse(reply, context, &alone, &alone_consumed) == ParseStatus::kOk &&
                        alone_consumed == consumed,
                    "the reply alone does not parse the same");
  checkSame(Command::kGets, response, alone);  // every field, whatever the command
  const size_t prefix = prefix_pick % consumed;
  Response partial;
  size_t partial_consumed = 0;
  MCMESH_FUZZ_CHECK(
      parser.parse(reply.substr(0, prefix), context, &partial, &partial_consumed) ==
          ParseStatus::kNeedMore,
      "a %zu-byte prefix of a %zu-byte reply is not kNeedMore", prefix, consumed);

  // What a text client would get, parsed again. (Meta replies go to meta clients, whose reply
  // shape depends on their flags: text_request_fuzzer encodes those.)
  if (context.meta || command == Command::kNoop || command == Command::kMetaDebug) return;
  Request request;
  request.command = command == Command::kQuit ? Command::kVersion : command;  // quit: no reply
  std::string wire;
  mcmesh::codec::encodeResponse(request, response, &wire);
  Response again;
  size_t again_consumed = 0;
  MCMESH_FUZZ_CHECK(parser.parse(wire, command, &again, &again_consumed) == ParseStatus::kOk,
                    "re-encoded reply does not parse: '%s'", wire.c_str());
  MCMESH_FUZZ_CHECK(again_consumed == wire.size(), "re-parse used %zu of %zu bytes",
                    again_consumed, wire.size());
  checkSame(command, response, again);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mcmesh::fuzz::FuzzInput in(data, size);
  const size_t prefix_pick = size_t{in.takeByte()} * 131 + in.takeByte();
  const absl::string_view input = in.rest();
  ReplyContext context;
  for (int c = 0; c <= static_cast<int>(Command::kMetaGet); ++c) {
    context.command = static_cast<Command>(c);
    context.meta = false;
    context.key.clear();
    if (context.command != Command::kMetaDebug) checkReply(context, input, prefix_pick);
    // encodeRequest's meta form: keyed commands (mg/ms/md/ma/me); retrievals and me carry the key.
    if (mcmesh::isKeyed(context.command) && context.command != Command::kMetaGet) {
      context.meta = true;
      if (mcmesh::isRetrieval(context.command) || context.command == Command::kMetaDebug) {
        context.key = "key";
      }
      checkReply(context, input, prefix_pick);
    }
  }
  return 0;
}

// Meta form both ways: requests to memcached (mg/ms/md/ma/me) and replies to meta clients.
//
// Replies follow memcached 1.6.18 byte for byte where the proxy knows the values: return flags
// in the client's order, O and k on every code that carries them, q hiding exactly what memcached
// hides (mg: EN; ms, md: HD; ma: HD/VA). Two deliberate differences: a "k" for a key the client
// sent base64-encoded comes back base64-encoded with " b" (memcached does that only for items
// stored with b), and "ma ... q" hides a success even when it auto-created the item (memcached
// answers then; the proxy cannot tell the two apart).
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "codec/base64.h"
#include "codec/meta_internal.h"

namespace mcmesh::codec {
namespace internal {
namespace {

bool has(absl::string_view letters, char flag) {
  return letters.find(flag) != absl::string_view::npos;
}

// The token for `flag` in a space-separated list of flag tokens ("h1" for 'h'), or empty.
absl::string_view findToken(absl::string_view list, char flag) {
  while (!list.empty()) {
    const size_t space = list.find(' ');
    const absl::string_view token = list.substr(0, space);
    if (!token.empty() && token[0] == flag) return token;
    if (space == absl::string_view::npos) break;
    list.remove_prefix(space + 1);
  }
  return {};
}

// The key as the client spelled it (base64 after a b flag, then " b" if `with_b`).
void appendClientKey(const Request& request, bool with_b, std::string* out) {
  const absl::string_view key =
      request.keys.empty() ? absl::string_view() : absl::string_view(request.keys.front());
  if (!request.meta.base64_key) {
    out->append(key.data(), key.size());
    return;
  }
  base64Append(key, out);
  if (with_b) out->append(" b");
}

// The return flags of one reply line, in the client's order. `returnable` lists what this line
// can carry; `item` (may be null) holds the values. With `zero_cas` a c without an item is "c0",
// as ms answers on failure.
void appendReturns(const Request& request, absl::string_view returnable, const Item* item,
                   bool zero_cas, std::string* out) {
  for (char flag : request.meta.order) {
    if (!has(returnable, flag)) continue;
    switch (flag) {
      case 'O':
        absl::StrAppend(out, " O", request.meta.opaque);
        break;
      case 'k':
        out->append(" k");
        appendClientKey(request, /*with_b=*/true, out);
        break;
      case 'c':
        if (item != nullptr) {
          absl::StrAppend(out, " c", item->cas);
        } else if (zero_cas) {
          out->append(" c0");
        }
        break;
      case 'f':
        if (item != nullptr) absl::StrAppend(out, " f", item->flags);
        break;
      case 't':
        if (item != nullptr) absl::StrAppend(out, " t", item->ttl);
        break;
      default:  // s, h, l: values only memcached knows, passed back as it sent them.
        if (item != nullptr) {
          const absl::string_view token = findToken(item->meta_extra, flag);
          if (!token.empty()) {
            absl::StrAppend(out, " ", token);
          } else if (flag == 's') {
            absl::StrAppend(out, " s", item->value.size());  // An item memcached did not size.
          }
        }
        break;
    }
  }
}

void appendLine(absl::string_view code, const Request& request, absl::string_view returnable,
                const Item* item, bool zero_cas, std::string* out) {
  out->append(code.data(), code.size());
  appendReturns(request, returnable, item, zero_cas, out);
  out->append("\r\n");
}

void encodeGetReply(const Request& request, const Response& response, std::string* out) {
  if (response.items.empty()) {
    if (request.meta.quiet) return;  // q hides only the miss.
    appendLine("EN", request, "Ok", nullptr, false, out);
    return;
  }
  const Item& item = response.items.front();
  const bool value = has(request.meta.order, 'v');
  if (value) {
    absl::StrAppend(out, "VA ", item.value.size());
  } else {
    out->append("HD");
  }
  appendReturns(request, "Okcftshl", &item, false, out);
  // The recache state memcached adds at the end (Z, X, W), as it sent it.
  for (char flag : {'Z', 'X', 'W'}) {
    const absl::string_view token = findToken(item.meta_extra, flag);
    if (!token.empty()) absl::StrAppend(out, " ", token);
  }
  out->append("\r\n");
  if (value) absl::StrAppend(out, item.value, "\r\n");
}

void encodeWriteReply(const Request& request, const Response& response, std::string* out) {
  const Item* item = response.items.empty() ? nullptr : &response.items.front();
  const bool set = isStorage(request.command);
  // ms returns c (0 on failure), ma t and c on success; both O and k.
  const absl::string_view returnable = set ? "Okc" : request.command == Command::kDelete ? "Ok"
                                                                                          : "Oktc";
  switch (response.type) {
    case ResponseType::kStored:
    case ResponseType::kDeleted:
      if (!request.meta.quiet) appendLine("HD", request, returnable, item, set, out);
      return;
    case ResponseType::kNumber:
      if (request.meta.quiet) return;
      if (has(request.meta.order, 'v')) {
        absl::StrAppend(out, "VA ", response.text.size());
        appendReturns(request, returnable, item, false, out);
        absl::StrAppend(out, "\r\n", response.text, "\r\n");
      } else {
        appendLine("HD", request, returnable, item, false, out);
      }
      return;
    case ResponseType::kNotStored:
      appendLine("NS", request, set ? "Okc" : "Ok", nullptr, set, out);
      return;
    case ResponseType::kExists:
      appendLine("EX", request, set ? "Okc" : "Ok", nullptr, set, out);
      return;
    case ResponseType::kNotFound:
      appendLine("NF", request, set ? "Okc" : "Ok", nullptr, set, out);
      return;
    default:
      out->append("SERVER_ERROR unexpected reply from server\r\n");
      return;
  }
}

// --- Requests to memcached ---

// The token for a flag the proxy models with a request field (so a filter's rewrite of the field
// is what memcached sees). @return false if `flag` has no field for this command.
bool appendModeled(const Request& request, char flag, std::string* out) {
  const Command command = request.command;
  const MetaFlags& meta = request.meta;
  if (isRetrieval(command)) {
    if (flag != 'T') return false;
    if (command == Command::kGat || command == Command::kGats) {
      absl::StrAppend(out, " T", request.exptime);
    }
    return true;
  }
  if (isStorage(command)) {
    switch (flag) {
      case 'F':
        absl::StrAppend(out, " F", request.flags);
        return true;
      case 'T':
        absl::StrAppend(out, " T", request.exptime);
        return true;
      case 'M': {
        static constexpr struct {
          Command command;
          absl::string_view mode;
        } kModes[] = {{Command::kAdd, " ME"},    {Command::kReplace, " MR"},
                      {Command::kAppend, " MA"}, {Command::kPrepend, " MP"},
                      {Command::kSet, " MS"},    {Command::kCas, " MS"}};
        for (const auto& m : kModes) {
          if (m.command == command) out->append(m.mode.data(), m.mode.size());
        }
        return true;
      }
      case 'C':
        if (command == Command::kCas || request.cas_unique != 0) {
          absl::StrAppend(out, " C", request.cas_unique);
        }
        return true;
      case 'c':
        if (meta.return_cas) out->append(" c");
        return true;
      default:
        return false;
    }
  }
  if (command == Command::kDelete) {
    if (flag != 'C') return false;
    if (request.cas_unique != 0) absl::StrAppend(out, " C", request.cas_unique);
    return true;
  }
  if (command == Command::kIncr || command == Command::kDecr) {
    switch (flag) {
      case 'N':
        if (meta.vivify) absl::StrAppend(out, " N", request.exptime);
        return true;
      case 'J':
        absl::StrAppend(out, " J", meta.initial);
        return true;
      case 'D':
        absl::StrAppend(out, " D", request.delta);
        return true;
      case 'M':
        out->append(command == Command::kDecr ? " MD" : " MI");
        return true;
      case 'C':
        if (request.cas_unique != 0) absl::StrAppend(out, " C", request.cas_unique);
        return true;
      default:
        return false;
    }
  }
  return false;
}

// A meta client's flags in its own order: modeled ones from the request's fields, return flags as
// bare letters, the rest verbatim from meta.extra. k and O are answered by the proxy.
void appendClientFlags(const Request& request, absl::string_view bare, std::string* out) {
  for (char flag : request.meta.order) {
    if (flag == 'k' || flag == 'O' || appendModeled(request, flag, out)) continue;
    if (has(bare, flag)) {
      out->push_back(' ');
      out->push_back(flag);
      continue;
    }
    const absl::string_view token = findToken(request.meta.extra, flag);
    if (!token.empty()) absl::StrAppend(out, " ", token);
  }
}

// Adds what the request's fields need that the client's flags did not mention (requests from
// binary clients and filters mention nothing).
void appendMissing(const Request& request, absl::string_view letters, std::string* out) {
  for (char flag : letters) {
    if (!has(request.meta.order, flag)) appendModeled(request, flag, out);
  }
}

}  // namespace

bool appendErrorReply(const Response& response, std::string* out) {
  absl::string_view word;
  switch (response.type) {
    case ResponseType::kError:
      word = "ERROR";
      break;
    case ResponseType::kClientError:
      word = "CLIENT_ERROR";
      break;
    case ResponseType::kServerError:
    case ResponseType::kUpstreamFailure:
      word = "SERVER_ERROR";
      break;
    default:
      return false;
  }
  if (response.text.empty()) {
    absl::StrAppend(out, word, "\r\n");
  } else {
    absl::StrAppend(out, word, " ", response.text, "\r\n");
  }
  return true;
}

void encodeMetaResponse(const Request& request, const Response& response, std::string* out) {
  if (request.command == Command::kNoop) {
    out->append("MN\r\n");
    return;
  }
  if (appendErrorReply(response, out)) return;  // Errors answer even with q.
  if (isRetrieval(request.command)) {
    if (response.type == ResponseType::kValues) {
      encodeGetReply(request, response, out);
      return;
    }
  } else if (request.command == Command::kMetaDebug) {
    if (response.type == ResponseType::kNotFound) {
      out->append("EN\r\n");
      return;
    }
    if (response.type == ResponseType::kDebug) {
      out->append("ME ");
      appendClientKey(request, /*with_b=*/false, out);
      absl::StrAppend(out, " ", response.text, "\r\n");
      return;
    }
  } else {
    encodeWriteReply(request, response, out);
    return;
  }
  out->append("SERVER_ERROR unexpected reply from server\r\n");
}

void encodeMetaRequestHead(const Request& request, std::string* out, ReplyContext* context) {
  const std::string& key = request.keys.front();
  const MetaFlags& meta = request.meta;
  const Command command = request.command;
  const bool storage = isStorage(command);
  const bool arithmetic = command == Command::kIncr || command == Command::kDecr;
  absl::string_view name = "mg";
  if (storage) {
    name = "ms";
  } else if (command == Command::kDelete) {
    name = "md";
  } else if (arithmetic) {
    name = "ma";
  } else if (command == Command::kMetaDebug) {
    name = "me";
  }
  // "<name> <key>[ <datalen>][ b]": keys text cannot carry travel base64-encoded.
  absl::StrAppend(out, name, " ");
  const bool binary_key = !isTextSafeKey(key);
  if (binary_key) {
    base64Append(key, out);
  } else {
    out->append(key);
  }
  if (storage) absl::StrAppend(out, " ", request.value.size());
  if (binary_key) out->append(" b");

  switch (command) {
    case Command::kMetaGet:
      // What a copy needs: size, value, flags, remaining TTL, and the cas a lease hands out.
      out->append(" s v f t c");
      // A lease (replication/lease_copy.h): on a miss memcached leaves a placeholder living
      // `exptime` seconds and answers W to this caller only.
      if (request.meta.vivify) absl::StrAppend(out, " N", request.exptime);
      break;
    case Command::kGet:
    case Command::kGets:
    case Command::kGat:
    case Command::kGats:
      if (meta.meta) {
        appendClientFlags(request, "vftcshl", out);
      } else {
        // What the text reply would have carried.
        out->append(" v f");
        if (command == Command::kGets || command == Command::kGats) out->append(" c");
      }
      appendMissing(request, "T", out);
      break;
    case Command::kTouch:
      // A touch that must report flags and cas (binary touch): mg with T, no value.
      absl::StrAppend(out, " T", request.exptime, " f c");
      break;
    case Command::kDelete:
      appendClientFlags(request, "", out);
      appendMissing(request, "C", out);
      break;
    case Command::kIncr:
    case Command::kDecr:
      if (meta.meta) {
        appendClientFlags(request, "vtc", out);
        appendMissing(request, "NDC", out);
      } else {
        if (meta.vivify) appendMissing(request, "NJ", out);
        appendMissing(request, "DC", out);
        if (command == Command::kDecr) out->append(" MD");
        out->append(meta.return_cas ? " v c" : " v");
      }
      break;
    case Command::kMetaDebug:
      break;
    default: {
      // Storage. append/prepend keep the item's flags and TTL, as their text forms do.
      appendClientFlags(request, "", out);
      const bool concat = command == Command::kAppend || command == Command::kPrepend;
      if (!concat && request.flags != 0) appendMissing(request, "F", out);
      if (!concat && request.exptime != 0) appendMissing(request, "T", out);
      if (command != Command::kSet && command != Command::kCas) appendMissing(request, "M", out);
      appendMissing(request, "Cc", out);
      break;
    }
  }
  out->append("\r\n");
  if (context != nullptr) {
    context->command = command;
    context->meta = true;
    // Retrievals and me: the reply does not reliably name the key (see ReplyContext).
    if (isRetrieval(command) || command == Command::kMetaDebug) {
      context->key = key;
    } else {
      context->key.clear();
    }
  }
}

}  // namespace internal
}  // namespace mcmesh::codec

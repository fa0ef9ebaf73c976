// Encoders: Request -> text for upstream servers, Response -> text for clients.
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "codec/base64.h"
#include "codec/meta_internal.h"
#include "codec/text_codec.h"

namespace mcmesh::codec {
namespace {

// Appends digits in place: StrAppend would size the whole piece list first and zero-fill the
// string's growth, twice per VALUE line.
void appendNumber(uint64_t value, std::string* out) {
  char digits[absl::numbers_internal::kFastToBufferSize];
  char* end = absl::numbers_internal::FastIntToBuffer(value, digits);
  out->append(digits, static_cast<size_t>(end - digits));
}

void appendSigned(int64_t value, std::string* out) {
  char digits[absl::numbers_internal::kFastToBufferSize];
  char* end = absl::numbers_internal::FastIntToBuffer(value, digits);
  out->append(digits, static_cast<size_t>(end - digits));
}

void appendKeys(const Request& request, std::string* out) {
  for (const std::string& key : request.keys) {
    out->push_back(' ');
    out->append(key);
  }
}

// "<name> <key> <flags> <exptime> <bytes>": the head of a storage command's line.
void appendStorageHead(absl::string_view name, const Request& request, std::string* out) {
  out->append(name.data(), name.size());
  out->push_back(' ');
  out->append(request.keys.front());
  out->push_back(' ');
  appendNumber(request.flags, out);
  out->push_back(' ');
  appendSigned(request.exptime, out);
  out->push_back(' ');
  appendNumber(request.value.size(), out);
}

// "<name>[ <args>]\r\n" for the commands whose arguments travel as raw text.
void appendWithArgs(absl::string_view name, const std::string& args, std::string* out) {
  if (args.empty()) {
    absl::StrAppend(out, name, "\r\n");
  } else {
    absl::StrAppend(out, name, " ", args, "\r\n");
  }
}

// "<WORD>[ <text>]\r\n": error lines keep whatever text came with them.
void appendWord(absl::string_view word, const std::string& text, std::string* out) {
  appendWithArgs(word, text, out);
}

// "VALUE <key> <flags> <bytes>[ <cas>]" + data per item, then END (cas for gets/gats only).
void appendValues(const Request& request, const Response& response, std::string* out) {
  const bool with_cas = request.command == Command::kGets || request.command == Command::kGats;
  size_t total = out->size() + 5;
  for (const Item& item : response.items) total += item.key.size() + item.value.size() + 64;
  out->reserve(total);  // one growth for the whole reply, not one per append.
  for (const Item& item : response.items) {
    // " <flags> <bytes>[ <cas>]\r\n" is built on the stack and appended in one go.
    char numbers[3 * absl::numbers_internal::kFastToBufferSize + 8];
    char* p = numbers;
    *p++ = ' ';
    p = absl::numbers_internal::FastIntToBuffer(item.flags, p);
    *p++ = ' ';
    p = absl::numbers_internal::FastIntToBuffer(static_cast<uint64_t>(item.value.size()), p);
    if (with_cas) {
      *p++ = ' ';
      p = absl::numbers_internal::FastIntToBuffer(item.cas, p);
    }
    *p++ = '\r';
    *p++ = '\n';
    out->append("VALUE ", 6);
    out->append(item.key);
    out->append(numbers, static_cast<size_t>(p - numbers));
    out->append(item.value);
    out->append("\r\n", 2);
  }
  out->append("END\r\n", 5);
}

}  // namespace

bool needsMetaForm(const Request& request) {
  if (request.command == Command::kMetaGet || request.command == Command::kMetaDebug) return true;
  // Broadcast commands and multi-key gets only ever come from text clients.
  if (!isKeyed(request.command) || request.keys.size() != 1) return false;
  const MetaFlags& meta = request.meta;
  if (meta.meta || meta.return_cas || meta.vivify || !meta.extra.empty()) return true;
  if (request.cas_unique != 0 && request.command != Command::kCas) return true;
  return !internal::isTextSafeKey(request.keys.front());
}

void encodeRequest(const Request& request, std::string* out, ReplyContext* context) {
  encodeRequestHead(request, out, context);
  if (isStorage(request.command)) {
    out->append(request.value);
    out->append("\r\n", 2);
  }
}

void encodeRequestHead(const Request& request, std::string* out, ReplyContext* context) {
  if (needsMetaForm(request)) {
    internal::encodeMetaRequestHead(request, out, context);
    return;
  }
  if (context != nullptr) {
    context->command = request.command;
    context->meta = false;
    context->key.clear();
    context->keys = static_cast<uint32_t>(request.keys.size());
  }
  const absl::string_view name = commandName(request.command);
  const absl::string_view key =
      request.keys.empty() ? absl::string_view() : absl::string_view(request.keys.front());
  switch (request.command) {
    case Command::kGet:
    case Command::kGets:
      out->append(name.data(), name.size());
      appendKeys(request, out);
      out->append("\r\n");
      return;
    case Command::kGat:
    case Command::kGats:
      absl::StrAppend(out, name, " ", request.exptime);
      appendKeys(request, out);
      out->append("\r\n");
      return;
    case Command::kSet:
    case Command::kAdd:
    case Command::kReplace:
    case Command::kAppend:
    case Command::kPrepend:
      appendStorageHead(name, request, out);
      out->append("\r\n", 2);
      return;
    case Command::kCas:
      appendStorageHead(name, request, out);
      out->push_back(' ');
      appendNumber(request.cas_unique, out);
      out->append("\r\n", 2);
      return;
    case Command::kDelete:
      absl::StrAppend(out, name, " ", key, "\r\n");
      return;
    case Command::kIncr:
    case Command::kDecr:
      absl::StrAppend(out, name, " ", key, " ", request.delta, "\r\n");
      return;
    case Command::kTouch:
      absl::StrAppend(out, name, " ", key, " ", request.exptime, "\r\n");
      return;
    case Command::kFlushAll:
    case Command::kVerbosity:
    case Command::kStats:
      appendWithArgs(name, request.args, out);
      return;
    case Command::kVersion:
    case Command::kQuit:
      absl::StrAppend(out, name, "\r\n");
      return;
    case Command::kNoop:
      out->append("mn\r\n");  // Never forwarded (the connection answers it); harmless if it were.
      return;
    case Command::kMetaGet:
    case Command::kMetaDebug:
      return;  // Always meta form (needsMetaForm), handled above.
  }
}

void encodeResponse(const Request& request, const Response& response, std::string* out) {
  if (request.noreply || request.command == Command::kQuit) return;
  if (request.meta.meta) {
    internal::encodeMetaResponse(request, response, out);
    return;
  }
  switch (response.type) {
    case ResponseType::kValues:
      if (request.command == Command::kMetaGet) {
        // Internal only; mirrors what memcached answers to "mg <key> s v f t".
        if (response.items.empty()) {
          out->append("EN\r\n");
          return;
        }
        const Item& item = response.items.front();
        absl::StrAppend(out, "VA ", item.value.size(), " s", item.value.size(), " f", item.flags,
                        " t", item.ttl, "\r\n", item.value, "\r\n");
        return;
      }
      appendValues(request, response, out);
      return;
    case ResponseType::kStored:
      out->append("STORED\r\n");
      return;
    case ResponseType::kNotStored:
      out->append("NOT_STORED\r\n");
      return;
    case ResponseType::kExists:
      out->append("EXISTS\r\n");
      return;
    case ResponseType::kNotFound:
      out->append("NOT_FOUND\r\n");
      return;
    case ResponseType::kDeleted:
      out->append("DELETED\r\n");
      return;
    case ResponseType::kTouched:
      out->append("TOUCHED\r\n");
      return;
    case ResponseType::kOk:
      // text carries "RESET" for "stats reset" (see TextResponseParser).
      absl::StrAppend(out, response.text.empty() ? "OK" : response.text, "\r\n");
      return;
    case ResponseType::kNumber:
      absl::StrAppend(out, response.text, "\r\n");
      return;
    case ResponseType::kVersion:
      appendWord("VERSION", response.text, out);
      return;
    case ResponseType::kStats:
      for (const auto& stat : response.stats) {
        if (stat.first.empty()) {
          absl::StrAppend(out, stat.second, "\r\n");  // A non-STAT line, kept verbatim.
        } else if (stat.second.empty()) {
          absl::StrAppend(out, "STAT ", stat.first, "\r\n");
        } else {
          absl::StrAppend(out, "STAT ", stat.first, " ", stat.second, "\r\n");
        }
      }
      out->append("END\r\n");
      return;
    case ResponseType::kDebug:
      // Only "me" asks for this, and it is a meta command; a text client never sees it.
      out->append("SERVER_ERROR unexpected reply from server\r\n");
      return;
    case ResponseType::kError:
    case ResponseType::kClientError:
    case ResponseType::kServerError:
    case ResponseType::kUpstreamFailure:
      internal::appendErrorReply(response, out);
      return;
  }
}

}  // namespace mcmesh::codec

// FakeMemcached: the commands the replication module sends, as memcached 1.6.18 answers them.
#include "tests/unit/replication/fake_memcached.h"

#include <utility>

#include "absl/strings/numbers.h"

namespace mcmesh::testing {
namespace {

constexpr int64_t kRelativeLimit = 60 * 60 * 24 * 30;

Response ofType(ResponseType type) { return Response::ofType(type); }

}  // namespace

int64_t absoluteExpiry(int64_t exptime, int64_t now) {
  if (exptime == 0) return 0;
  if (exptime < 0) return now - 1;  // memcached: stored already expired.
  if (exptime <= kRelativeLimit) return now + exptime;
  return exptime;
}

FakeMemcached::Entry* FakeMemcached::live(const std::string& key, int64_t now) {
  auto it = items_.find(key);
  if (it == items_.end()) return nullptr;
  if (it->second.expires_at != 0 && it->second.expires_at <= now) {
    items_.erase(it);  // lazily expired, as memcached does on access.
    return nullptr;
  }
  return &it->second;
}

const FakeMemcached::Entry* FakeMemcached::find(const std::string& key, int64_t now) {
  return live(key, now);
}

void FakeMemcached::put(const std::string& key, const std::string& value, uint32_t flags) {
  write(key, value, flags, 0, 0);
}

void FakeMemcached::write(const std::string& key, std::string value, uint32_t flags,
                          int64_t exptime, int64_t now) {
  // Any store replaces the item: a placeholder stops being one and loses its lease token.
  Entry e;
  e.value = std::move(value);
  e.flags = flags;
  e.cas = next_cas_++;
  e.expires_at = absoluteExpiry(exptime, now);
  items_[key] = std::move(e);
}

Response FakeMemcached::handle(const Request& request, int64_t now) {
  switch (request.command) {
    case Command::kGet:
    case Command::kGets:
    case Command::kGat:
    case Command::kGats:
      return retrieve(request, now);
    case Command::kMetaGet:
      return metaGet(request, now);
    case Command::kSet:
    case Command::kAdd:
    case Command::kReplace:
    case Command::kAppend:
    case Command::kPrepend:
    case Command::kCas:
      return store(request, now);
    case Command::kDelete:
      return remove(request, now);
    case Command::kIncr:
    case Command::kDecr:
      return arithmetic(request, now);
    case Command::kTouch:
      return touch(request, now);
    case Command::kVersion: {
      Response r = ofType(ResponseType::kVersion);
      r.text = "1.6.18";
      return r;
    }
    case Command::kFlushAll:
      items_.clear();
      return ofType(ResponseType::kOk);
    default:
      return ofType(ResponseType::kError);
  }
}

Response FakeMemcached::retrieve(const Request& request, int64_t now) {
  const bool touches = request.command == Command::kGat || request.command == Command::kGats;
  const bool with_cas = request.command == Command::kGets || request.command == Command::kGats;
  Response r = ofType(ResponseType::kValues);
  for (const std::string& key : request.keys) {  // duplicates answered twice, as memcached.
    Entry* e = live(key, now);
    if (e == nullptr) continue;
    if (touches) e->expires_at = absoluteExpiry(request.exptime, now);
    Item item;
    item.key = key;
    item.flags = e->flags;  // a placeholder reads as an empty value with flags 0.
    item.value = e->value;
    item.cas = with_cas ? e->cas : 0;
    r.items.push_back(std::move(item));
  }
  return r;
}

Response FakeMemcached::metaGet(const Request& request, int64_t now) {
  // "mg <key> s v f t c [N<ttl>]": the codec decodes it to one Item with an empty key (no k
  // flag asked), ttl -1 for t-1, and W/Z in meta_extra.
  const std::string& key = request.keys.front();
  Response r = ofType(ResponseType::kValues);
  Entry* e = live(key, now);
  bool won = false;
  if (e == nullptr) {
    if (!request.meta.vivify) return r;  // EN
    write(key, "", 0, request.exptime, now);
    e = live(key, now);
    if (e == nullptr) return r;  // N0 or a negative TTL: nothing lives.
    e->placeholder = true;
    e->token_sent = true;
    won = true;
  }
  Item item;
  item.flags = e->flags;
  item.cas = e->cas;
  item.value = e->value;
  item.ttl = e->expires_at == 0 ? -1 : e->expires_at - now;
  if (won) {
    item.meta_extra = "W";
  } else if (e->token_sent) {
    item.meta_extra = "Z";  // someone holds the lease.
  }
  r.items.push_back(std::move(item));
  return r;
}

Response FakeMemcached::store(const Request& request, int64_t now) {
  const std::string& key = request.keys.front();
  Entry* e = live(key, now);
  const bool compare = request.command == Command::kCas || request.cas_unique != 0;
  switch (request.command) {
    case Command::kAdd:
      if (e != nullptr) return ofType(ResponseType::kNotStored);
      break;
    case Command::kReplace:
      if (e == nullptr) return ofType(ResponseType::kNotStored);
      break;
    case Command::kAppend:
    case Command::kPrepend: {
      if (e == nullptr) return ofType(ResponseType::kNotStored);
      if (compare && e->cas != request.cas_unique) return ofType(ResponseType::kExists);
      std::string value = request.command == Command::kAppend ? e->value + request.value
                                                              : request.value + e->value;
      // Flags and expiry stay the item's own.
      const uint32_t flags = e->flags;
      const int64_t expires_at = e->expires_at;
      write(key, std::move(value), flags, 0, now);
      items_[key].expires_at = expires_at;
      return ofType(ResponseType::kStored);
    }
    default:
      break;
  }
  if (compare) {
    if (e == nullptr) return ofType(ResponseType::kNotFound);
    if (e->cas != request.cas_unique) return ofType(ResponseType::kExists);
  }
  write(key, request.value, request.flags, request.exptime, now);
  return ofType(ResponseType::kStored);
}

Response FakeMemcached::remove(const Request& request, int64_t now) {
  const std::string& key = request.keys.front();
  Entry* e = live(key, now);
  if (e == nullptr) return ofType(ResponseType::kNotFound);
  if (request.cas_unique != 0 && e->cas != request.cas_unique) {
    return ofType(ResponseType::kExists);
  }
  items_.erase(key);
  return ofType(ResponseType::kDeleted);
}

Response FakeMemcached::arithmetic(const Request& request, int64_t now) {
  Entry* e = live(request.keys.front(), now);
  if (e == nullptr) return ofType(ResponseType::kNotFound);
  uint64_t n = 0;
  if (!absl::SimpleAtoi(e->value, &n)) {
    Response r = ofType(ResponseType::kClientError);
    r.text = "cannot increment or decrement non-numeric value";
    return r;
  }
  if (request.command == Command::kIncr) {
    n += request.delta;  // wraps at 2^64, as memcached.
  } else {
    n = n < request.delta ? 0 : n - request.delta;
  }
  e->value = std::to_string(n);
  e->cas = next_cas_++;
  e->placeholder = false;
  e->token_sent = false;
  Response r = ofType(ResponseType::kNumber);
  r.text = e->value;
  return r;
}

Response FakeMemcached::touch(const Request& request, int64_t now) {
  Entry* e = live(request.keys.front(), now);
  if (e == nullptr) return ofType(ResponseType::kNotFound);
  e->expires_at = absoluteExpiry(request.exptime, now);
  return ofType(ResponseType::kTouched);
}

}  // namespace mcmesh::testing

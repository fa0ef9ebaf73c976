// FakeMemcached: an in-memory model of ONE memcached 1.6.18 server, with exactly the semantics
// the replication module relies on, answering the module's Requests as the text codec would
// decode the real server's replies (codec/text_codec.h). The interleaving harness uses
// it instead of a socket so that every delivery order can be replayed deterministically.
//
// Facts it reproduces (measured on Debian's memcached 1.6.18, issue 13 item 2):
//   - `mg k s v f t c N<ttl>` on a miss stores an empty placeholder (flags 0, TTL <ttl>) and
//     answers it with the win flag W and its cas; later mg of it answer Z until it is replaced;
//   - a plain get of a placeholder is a hit with an empty value and flags 0;
//   - cas answers EXISTS on a cas mismatch and NOT_FOUND when the key is missing (so a
//     compare-and-set against a lease fails after a set or a delete);
//   - `md k C<cas>` answers EXISTS on a mismatch, NOT_FOUND when missing.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "proxy/message.h"

namespace mcmesh::testing {

class FakeMemcached {
 public:
  struct Entry {
    std::string value;
    uint32_t flags = 0;
    uint64_t cas = 0;
    int64_t expires_at = 0;      // unix seconds; 0 = never.
    bool placeholder = false;    // created by mg N on a miss (no write stored it yet).
    bool token_sent = false;     // a W was handed out: later mg answer Z.
  };

  /** Applies `request` at `now` (unix seconds) and returns what the module would decode. */
  Response handle(const Request& request, int64_t now);

  /** A restart: everything is gone (cas numbering continues, as it never matters across). */
  void clear() { items_.clear(); }
  /** The live entry for `key` at `now`, or null. */
  const Entry* find(const std::string& key, int64_t now);
  /** Test setup: store an item as a client set would. */
  void put(const std::string& key, const std::string& value, uint32_t flags = 0);

 private:
  Response retrieve(const Request& request, int64_t now);
  Response metaGet(const Request& request, int64_t now);
  Response store(const Request& request, int64_t now);
  Response remove(const Request& request, int64_t now);
  Response arithmetic(const Request& request, int64_t now);
  Response touch(const Request& request, int64_t now);
  Entry* live(const std::string& key, int64_t now);
  void write(const std::string& key, std::string value, uint32_t flags, int64_t exptime,
             int64_t now);

  std::map<std::string, Entry> items_;
  uint64_t next_cas_ = 1;
};

/** memcached's exptime rule: 0 never, < 0 already expired, <= 30 days relative, else a date. */
int64_t absoluteExpiry(int64_t exptime, int64_t now);

}  // namespace mcmesh::testing

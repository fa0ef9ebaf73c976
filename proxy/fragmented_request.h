// FragmentedRequest: one request split into per-server sub-requests, and their replies merged.
// Used by the built-in router (flush_all to every server) and by routing plugins (see
// examples/custom_filter/key_prefix_router).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "proxy/message.h"
#include "proxy/upstream/cluster_snapshot.h"
#include "proxy/upstream/conn_pool.h"

namespace mcmesh {

// The part of one request that goes to one server.
struct Fragment {
  const upstream::HostConfig* host = nullptr;  // null: the server is down, do not send.
  std::string address;                                 // host's address, even when down.
  std::vector<uint32_t> key_indexes;                   // into the request's keys, ascending.
  upstream::Cancellable* handle = nullptr;     // set while the sub-request is in flight.
  Response response;
  bool done = false;
};

/**
 * Bookkeeping for a request fanned out to several servers (twemproxy's fragment/coalesce,
 * Envoy redis's FragmentedRequest): which fragment owns each key, which replies are in, and the
 * merge back into one reply. No I/O: the caller sends and reports replies.
 */
class FragmentedRequest {
 public:
  /** Routes key `key_index` to `address` (host null = down); keys for one server share one. */
  void addKey(uint32_t key_index, const upstream::HostConfig* host,
              const std::string& address);
  /** Adds a whole-request fragment for `host` unless it is already there (broadcasts). */
  void addHost(const upstream::HostConfig& host);

  std::vector<Fragment>& fragments() { return fragments_; }
  size_t outstanding() const { return outstanding_; }

  /** @return the request as fragment `index` sends it: only its keys, in request order. */
  Request subRequest(const Request& request, size_t index) const;

  /** Forgets every fragment (a reused request), keeping the storage. */
  void clear() {
    fragments_.clear();
    outstanding_ = 0;
  }

  /** Call once before sending: every fragment is outstanding until completed. */
  void start() { outstanding_ = fragments_.size(); }
  /**
   * Records fragment `index`'s reply.
   * @return true when it was the last one outstanding (time to merge).
   */
  bool complete(size_t index, Response&& response);

  /**
   * Merges retrieval replies in the request's key order (servers answer in the order asked, so
   * one cursor per fragment suffices). Keys of failed fragments are listed in failed_keys and
   * read as misses; if every fragment failed the result is an upstream failure.
   */
  Response mergeRetrieval(const Request& request);
  /** OK if every server said OK, else SERVER_ERROR naming how many failed and the first reason. */
  Response mergeBroadcast() const;

 private:
  std::vector<Fragment> fragments_;
  size_t outstanding_ = 0;
};

}  // namespace mcmesh

// How much buffer memory may be kept between requests, and where.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "proxy/message.h"

namespace mcmesh {

// Reusable buffers keep their capacity so steady traffic does not allocate, but only up to a
// limit: after a large value or a big multi-get they shrink back. Idle client connections keep
// none (the parse and reply scratch buffers belong to the worker), so what a proxy with
// thousands of idle connections holds does not depend on what those connections once moved.
//
// The worker's parse and reply scratch buffers: one of each per worker.
inline constexpr size_t kMaxKeptWorkerBufferBytes = 64 * 1024;
// Each pooled request (up to ActiveRequestPool's max_idle per worker) and upstream connection.
inline constexpr size_t kMaxKeptRequestBufferBytes = 8 * 1024;
// Key slots a Request keeps (a multi-get's larger vector is freed).
inline constexpr size_t kMaxKeptKeys = 16;

/** Frees `buffer`'s memory if it grew past `limit` (its contents must be spent). */
inline void shrinkIfLarge(std::string& buffer, size_t limit) {
  if (buffer.capacity() > limit) std::string().swap(buffer);
}

namespace buffer_policy_internal {
// What releaseLargeBuffers does to each kind of field (kRequestFields lists them).
struct Release {
  size_t limit;
  void operator()(std::string& s) const { shrinkIfLarge(s, limit); }
  void operator()(std::vector<std::string>& keys) const {
    if (keys.capacity() > kMaxKeptKeys) {
      std::vector<std::string>().swap(keys);
    } else {
      keys.clear();
    }
  }
  void operator()(MetaFlags& meta) const { forEachField(kMetaFlagsFields, *this, meta); }
  void operator()(RequestRoute&) const {}  // holds no buffer.
  template <class T>
  std::enable_if_t<std::is_scalar_v<T>> operator()(T&) const {}
};
}  // namespace buffer_policy_internal

/**
 * Drops a spent request's keys (a big multi-get's vector entirely) and frees any of its strings
 * that grew past `limit`; what is kept is only capacity, for the next request parsed into it.
 */
inline void releaseLargeBuffers(Request& request, size_t limit) {
  forEachField(kRequestFields, buffer_policy_internal::Release{limit}, request);
}

}  // namespace mcmesh

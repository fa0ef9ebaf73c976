// How much buffer memory a connection or pooled request may keep between requests.
#pragma once

#include <cstddef>
#include <string>

namespace mcmesh {

// Reusable buffers keep their capacity so steady traffic does not allocate, but only up to this
// size: after a large value they shrink back, so thousands of connections that each once moved a
// big item do not each hold its size.
inline constexpr size_t kMaxKeptBufferBytes = 16 * 1024;

/** Frees `buffer`'s memory if it grew past kMaxKeptBufferBytes (its contents must be spent). */
inline void shrinkIfLarge(std::string& buffer) {
  if (buffer.capacity() > kMaxKeptBufferBytes) std::string().swap(buffer);
}

}  // namespace mcmesh

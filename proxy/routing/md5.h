// Owns the MD5 digest (RFC 1321) that twemproxy-compatible ketama needs; not for security.
#pragma once

#include <array>
#include <cstdint>

#include "absl/strings/string_view.h"

namespace mcmesh::ketama {

using Md5Digest = std::array<uint8_t, 16>;

/**
 * A small self-contained MD5, so the pure ring library links nothing (OpenSSL 3 deprecates its
 * MD5 API). Ketama uses MD5 only to spread points; collisions do not matter here.
 * @return the 16-byte digest of data.
 */
Md5Digest md5Digest(absl::string_view data);

}  // namespace mcmesh::ketama

// Base64 for meta "b" keys: strict decoding (what memcached accepts), encoding for replies.
#pragma once

#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/string_view.h"

namespace mcmesh::codec {
namespace internal {

// Decodes padded standard base64 into *out. Fails (as memcached's "error decoding key") on
// anything else, including input that decodes to nothing.
inline bool base64Decode(absl::string_view in, std::string* out) {
  if (in.empty() || in.size() % 4 != 0) return false;
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    const bool alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    const bool pad = c == '=' && i >= in.size() - 2 && (i == in.size() - 1 || in.back() == '=');
    if (!alnum && c != '+' && c != '/' && !pad) return false;
  }
  return absl::Base64Unescape(in, out) && !out->empty();
}

// Appends the padded standard base64 of `in`.
inline void base64Append(absl::string_view in, std::string* out) {
  out->append(absl::Base64Escape(in));
}

// Whether `key` can travel in a text or meta command line as is: memcached splits lines on
// spaces and ends them at "\n", so keys with spaces or control bytes must go base64-encoded.
inline bool isTextSafeKey(absl::string_view key) {
  for (unsigned char c : key) {
    if (c <= ' ' || c == 0x7f) return false;
  }
  return !key.empty();
}

}  // namespace internal
}  // namespace mcmesh::codec

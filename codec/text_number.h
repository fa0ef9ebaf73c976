// Strict decimal parsing, line scanning and common error replies shared by the text codec's
// parsers (text and meta requests, replies).
#pragma once

#include <cstdint>
#include <cstring>
#include <limits>

#include "absl/strings/string_view.h"

namespace mcmesh::codec {
namespace internal {

// memcached 1.6 replies (proto_text.c) that the text and meta request parsers both give.
inline constexpr absl::string_view kReplyError = "ERROR\r\n";
inline constexpr absl::string_view kReplyBadFormat = "CLIENT_ERROR bad command line format\r\n";
inline constexpr absl::string_view kReplyBadChunk = "CLIENT_ERROR bad data chunk\r\n";
inline constexpr absl::string_view kReplyTooLarge = "SERVER_ERROR object too large for cache\r\n";

// Digits only (an optional '+' as strtoul allows), no overflow: memcached's safe_strtoull.
inline bool parseUint64(absl::string_view s, uint64_t* out) {
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  if (s.empty()) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    const uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (std::numeric_limits<uint64_t>::max() - d) / 10) return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

inline bool parseUint32(absl::string_view s, uint32_t* out) {
  uint64_t v = 0;
  if (!parseUint64(s, &v) || v > std::numeric_limits<uint32_t>::max()) return false;
  *out = static_cast<uint32_t>(v);
  return true;
}

// memcached's safe_strtol: a signed 32-bit decimal.
inline bool parseInt32(absl::string_view s, int32_t* out) {
  bool negative = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  uint64_t v = 0;
  if (s.empty() || s[0] == '+' || !parseUint64(s, &v)) return false;
  if (negative ? v > uint64_t{1} << 31 : v > uint64_t{std::numeric_limits<int32_t>::max()}) {
    return false;
  }
  *out = negative ? static_cast<int32_t>(-static_cast<int64_t>(v)) : static_cast<int32_t>(v);
  return true;
}

// Signed 64-bit, for TTLs in meta replies.
inline bool parseInt64(absl::string_view s, int64_t* out) {
  bool negative = false;
  if (!s.empty() && s[0] == '-') {
    negative = true;
    s.remove_prefix(1);
  }
  uint64_t v = 0;
  if (s.empty() || s[0] == '+' || !parseUint64(s, &v)) return false;
  if (v > (negative ? uint64_t{1} << 63 : uint64_t{std::numeric_limits<int64_t>::max()})) {
    return false;
  }
  *out = negative ? static_cast<int64_t>(0 - v) : static_cast<int64_t>(v);
  return true;
}

// Splits off the next ' '-separated token of *rest (memcached tokenizes on spaces only, and runs
// of spaces separate like one). Returns an empty view when none is left.
inline absl::string_view nextToken(absl::string_view* rest) {
  size_t i = 0;
  while (i < rest->size() && (*rest)[i] == ' ') ++i;
  size_t j = i;
  while (j < rest->size() && (*rest)[j] != ' ') ++j;
  absl::string_view token = rest->substr(i, j - i);
  rest->remove_prefix(j);
  return token;
}

// Drops leading and trailing spaces.
inline absl::string_view trimSpaces(absl::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

// Finds the line starting at `from`: *line excludes "\n" and a "\r" before it, *next is the
// offset after "\n". Returns false when the newline has not arrived yet.
inline bool findLine(absl::string_view input, size_t from, absl::string_view* line, size_t* next) {
  if (from >= input.size()) return false;
  const void* nl = std::memchr(input.data() + from, '\n', input.size() - from);
  if (nl == nullptr) return false;
  const size_t end = static_cast<const char*>(nl) - input.data();
  size_t line_end = end;
  if (line_end > from && input[line_end - 1] == '\r') --line_end;
  *line = input.substr(from, line_end - from);
  *next = end + 1;
  return true;
}

}  // namespace internal
}  // namespace mcmesh::codec

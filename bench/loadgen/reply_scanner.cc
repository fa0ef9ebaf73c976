// ReplyScanner: line-at-a-time scan of memcached text replies (VALUE/END, status lines).
#include "bench/loadgen/reply_scanner.h"

#include <cstring>

namespace mcmesh::bench {
namespace {

bool startsWith(const char* line, size_t len, const char* prefix) {
  size_t n = std::strlen(prefix);
  return len >= n && std::memcmp(line, prefix, n) == 0;
}

bool isErrorLine(const char* line, size_t len) {
  return startsWith(line, len, "ERROR") || startsWith(line, len, "CLIENT_ERROR") ||
         startsWith(line, len, "SERVER_ERROR");
}

// "VALUE <key> <flags> <bytes> [<cas>]": the 4th token. Returns false if malformed.
bool valueBytes(const char* line, size_t len, uint64_t* bytes) {
  size_t i = 0;
  for (int token = 0; token < 3; ++token) {
    while (i < len && line[i] != ' ') ++i;
    while (i < len && line[i] == ' ') ++i;
  }
  if (i >= len || line[i] < '0' || line[i] > '9') return false;
  uint64_t v = 0;
  while (i < len && line[i] >= '0' && line[i] <= '9') {
    v = v * 10 + static_cast<uint64_t>(line[i] - '0');
    if (v > (uint64_t{1} << 32)) return false;
    ++i;
  }
  *bytes = v;
  return true;
}

}  // namespace

ScanStatus ReplyScanner::finish(size_t end, bool ok) {
  consumed_ = end;
  ok_ = ok;
  hits_done_ = hits_;
  pos_ = 0;
  hits_ = 0;
  return ScanStatus::kDone;
}

ScanStatus ReplyScanner::scan(const char* data, size_t len, ReplyKind kind) {
  while (pos_ < len) {
    const char* line = data + pos_;
    size_t avail = len - pos_;
    const void* nl = std::memchr(line, '\n', avail < kMaxLine ? avail : kMaxLine);
    if (nl == nullptr) return avail >= kMaxLine ? ScanStatus::kBroken : ScanStatus::kNeedMore;
    size_t line_len = static_cast<const char*>(nl) - line;  // without '\n'
    if (line_len == 0 || line[line_len - 1] != '\r') return ScanStatus::kBroken;
    size_t text_len = line_len - 1;
    size_t next = pos_ + line_len + 1;
    if (kind == ReplyKind::kStorage) {
      return finish(next, text_len == 6 && std::memcmp(line, "STORED", 6) == 0);
    }
    if (text_len == 3 && std::memcmp(line, "END", 3) == 0) return finish(next, true);
    if (isErrorLine(line, text_len)) return finish(next, false);
    uint64_t bytes = 0;
    if (!startsWith(line, text_len, "VALUE ") || !valueBytes(line, text_len, &bytes)) {
      return ScanStatus::kBroken;
    }
    if (len - next < bytes + 2) return ScanStatus::kNeedMore;  // rescan only this header later.
    if (data[next + bytes] != '\r' || data[next + bytes + 1] != '\n') return ScanStatus::kBroken;
    ++hits_;
    pos_ = next + bytes + 2;
  }
  return ScanStatus::kNeedMore;
}

}  // namespace mcmesh::bench

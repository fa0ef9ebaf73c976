// readReply / parseGetReply: just enough of the text protocol for the history tests; the
// extra proxy flags from the environment.
#include "tests/integration/history/client_util.h"

#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace mcmesh::history {
namespace {

// The byte count of "VALUE <key> <flags> <bytes> [<cas>]\r\n", or -1 if the line is not one.
int64_t valueBytes(absl::string_view line) {
  std::vector<absl::string_view> parts =
      absl::StrSplit(absl::StripSuffix(line, "\r\n"), ' ', absl::SkipEmpty());
  int64_t bytes = -1;
  if (parts.size() < 4 || parts[0] != "VALUE" || !absl::SimpleAtoi(parts[3], &bytes)) return -1;
  return bytes;
}

}  // namespace

absl::StatusOr<std::string> readReply(testing::TextClient& client, ReplyShape shape) {
  std::string reply;
  while (true) {
    absl::StatusOr<std::string> line = client.readLine();
    if (!line.ok()) return line.status();
    reply += *line;
    const int64_t bytes = shape == ReplyShape::kValues ? valueBytes(*line) : -1;
    if (bytes < 0) return reply;  // END, a one-line reply, or an error line: complete
    // The data block, read line by line until its declared size (a value may contain CRLF).
    std::string data;
    while (static_cast<int64_t>(data.size()) < bytes + 2) {
      absl::StatusOr<std::string> more = client.readLine();
      if (!more.ok()) return more.status();
      data += *more;
    }
    reply += data;
  }
}

GetReply parseGetReply(absl::string_view raw) {
  GetReply out;
  while (!raw.empty()) {
    const size_t eol = raw.find("\r\n");
    if (eol == absl::string_view::npos) break;
    const absl::string_view line = raw.substr(0, eol);
    raw.remove_prefix(eol + 2);
    if (line == "END") return out;
    const int64_t bytes = valueBytes(line);
    if (bytes < 0 || raw.size() < static_cast<size_t>(bytes) + 2) {
      out.error = std::string(line);
      return out;
    }
    std::vector<absl::string_view> parts = absl::StrSplit(line, ' ');
    out.items.emplace_back(std::string(parts[1]), std::string(raw.substr(0, bytes)));
    raw.remove_prefix(bytes + 2);
  }
  out.error = "truncated reply";
  return out;
}

std::vector<std::string> extraProxyFlags() {
  std::vector<std::string> out;
#ifdef MCMESH_SANITIZED
  // Under a sanitizer the proxy itself can stall past the default 250 ms upstream timeout; a
  // write it then reports failed over may still land on the primary, which docs/consistency.md
  // lists under "Not guaranteed", and the checker rightly flags the read that follows (seen once
  // under TSan). history_checker_test stops P2 for 1.8 s there, so it is still ejected.
  out.push_back("--timeout_ms=750");
#endif
  const char* flags = std::getenv("HISTORY_PROXY_FLAGS");
  if (flags == nullptr) return out;
  for (absl::string_view flag : absl::StrSplit(flags, ' ', absl::SkipEmpty())) {
    out.emplace_back(flag);
  }
  return out;
}

}  // namespace mcmesh::history

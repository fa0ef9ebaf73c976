// Leveled logging implementation.
#include "proxy/log.h"

#include <unistd.h>

#include <atomic>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace mcmesh {
namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
const char* levelName(LogLevel level) {
  switch (level) {
    case LogLevel::kError: return "ERROR";
    case LogLevel::kWarn: return "WARN";
    case LogLevel::kInfo: return "INFO";
    case LogLevel::kDebug: return "DEBUG";
  }
  return "?";
}
}  // namespace

void setLogLevel(LogLevel level) { g_level.store(static_cast<int>(level)); }
LogLevel logLevel() { return static_cast<LogLevel>(g_level.load()); }

bool parseLogLevel(absl::string_view name, LogLevel* level) {
  if (name == "error") *level = LogLevel::kError;
  else if (name == "warn") *level = LogLevel::kWarn;
  else if (name == "info") *level = LogLevel::kInfo;
  else if (name == "debug") *level = LogLevel::kDebug;
  else return false;
  return true;
}

void logLine(LogLevel level, absl::string_view message) {
  if (static_cast<int>(level) > g_level.load(std::memory_order_relaxed)) return;
  std::string line = absl::StrCat(
      absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone()), " ",
      levelName(level), " ", message, "\n");
  (void)!::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace mcmesh

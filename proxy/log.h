// Leveled one-line logging to stderr: events worth knowing, never per request by default.
#pragma once

#include "absl/strings/string_view.h"

namespace mcmesh {

enum class LogLevel { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3 };

/** Sets the threshold (process-wide; set once at start-up). */
void setLogLevel(LogLevel level);
LogLevel logLevel();
bool parseLogLevel(absl::string_view name, LogLevel* level);
/** Writes "<time> <level> <message>\n" atomically (one write call) if `level` passes. */
void logLine(LogLevel level, absl::string_view message);

}  // namespace mcmesh

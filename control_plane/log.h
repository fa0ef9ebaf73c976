// One-line, timestamped control-plane log messages on stderr.
#pragma once

#include "absl/strings/string_view.h"

namespace mcmesh {
namespace control_plane {

/** Writes "<UTC time> mcmesh-cp: <line>\n" to stderr in a single write (no interleaving). */
void logLine(absl::string_view line);

} // namespace control_plane
} // namespace mcmesh

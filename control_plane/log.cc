// Implements logLine: one write(2) per line so concurrent streams never interleave.
#include "control_plane/log.h"

#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace mcmesh {
namespace control_plane {

void logLine(absl::string_view line) {
  const std::string text =
      absl::StrCat(absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone()),
                   " mcmesh-cp: ", line, "\n");
  const ssize_t ignored = ::write(STDERR_FILENO, text.data(), text.size());
  (void)ignored;
}

} // namespace control_plane
} // namespace mcmesh

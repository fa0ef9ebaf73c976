// Suppression lists embedded from tools/sanitizers/*.supp (generated: see BUILD).
#pragma once

namespace mcmesh::sanitizers {

extern const char* const kLsanSuppressions;
extern const char* const kTsanSuppressions;

// The exit code every sanitizer runtime uses for a report (see sanitizer_defaults.cc); tests
// treat a child process exiting with it as a failure.
inline constexpr int kSanitizerExitCode = 86;

}  // namespace mcmesh::sanitizers

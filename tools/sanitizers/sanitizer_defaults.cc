// Default sanitizer options, compiled into every binary and test of a sanitizer build (see
// --custom_malloc in .bazelrc), so that processes a test starts (mcmesh, mcmesh_cp) stop at their
// first report with exit code 86 exactly like the test itself, whatever environment they get.
// ASAN_OPTIONS / UBSAN_OPTIONS / LSAN_OPTIONS / TSAN_OPTIONS are parsed after these and override.
// Suppressions come from the *.supp files next to this one (see BUILD: embedded at build time).
#include "tools/sanitizers/sanitizer_defaults.h"

extern "C" {

// Each runtime calls only the hooks it knows about; the others are dead code in that build.
__attribute__((visibility("default"), used)) const char* __asan_default_options() {
  return "halt_on_error=1:exitcode=86:detect_leaks=1:detect_stack_use_after_return=1:"
         "check_initialization_order=1:strict_init_order=1:print_suppressions=0";
}

__attribute__((visibility("default"), used)) const char* __ubsan_default_options() {
  return "halt_on_error=1:print_stacktrace=1:exitcode=86";
}

__attribute__((visibility("default"), used)) const char* __lsan_default_options() {
  return "exitcode=86:print_suppressions=0";
}

__attribute__((visibility("default"), used)) const char* __tsan_default_options() {
  return "halt_on_error=1:exitcode=86:second_deadlock_stack=1:print_suppressions=0";
}

__attribute__((visibility("default"), used)) const char* __lsan_default_suppressions() {
  return mcmesh::sanitizers::kLsanSuppressions;
}

__attribute__((visibility("default"), used)) const char* __tsan_default_suppressions() {
  return mcmesh::sanitizers::kTsanSuppressions;
}

}  // extern "C"

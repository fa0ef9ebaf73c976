// A tiny reader over a fuzzer's input: fixed-size choices taken from the front, the rest as bytes.
// (LLVM's FuzzedDataProvider is not available to gcc builds of the replay tests.)
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/string_view.h"

namespace mcmesh::fuzz {

class FuzzInput {
 public:
  FuzzInput(const uint8_t* data, size_t size)
      : data_(reinterpret_cast<const char*>(data), size) {}

  /** The next byte, or 0 once the input is used up. */
  uint8_t takeByte() {
    if (data_.empty()) return 0;
    const uint8_t b = static_cast<uint8_t>(data_[0]);
    data_.remove_prefix(1);
    return b;
  }
  /** Up to n bytes. */
  absl::string_view take(size_t n) {
    const absl::string_view out = data_.substr(0, n);
    data_.remove_prefix(out.size());
    return out;
  }
  absl::string_view rest() const { return data_; }
  bool empty() const { return data_.empty(); }

 private:
  absl::string_view data_;
};

}  // namespace mcmesh::fuzz

// An invariant a fuzz target checks: prints what broke and aborts, which libFuzzer (and the
// replay test) reports as a crash with the input saved.
#define MCMESH_FUZZ_CHECK(cond, ...)                                        \
  do {                                                                      \
    if (!(cond)) {                                                          \
      std::fprintf(stderr, "fuzz check failed at %s:%d: %s\n", __FILE__,    \
                   __LINE__, #cond);                                        \
      std::fprintf(stderr, "  " __VA_ARGS__);                               \
      std::fprintf(stderr, "\n");                                           \
      std::abort();                                                         \
    }                                                                       \
  } while (0)

// ReplyScanner: resumable scan of one memcached text reply (retrieval or storage) for mcbench.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mcmesh::bench {

enum class ReplyKind : uint8_t {
  kRetrieval,  // get/gets: VALUE blocks then END.
  kStorage,    // set: one status line.
};

enum class ScanStatus : uint8_t {
  kNeedMore,  // the reply is not complete yet; call again with more bytes.
  kDone,      // one reply is complete: see consumed/ok/hits.
  kBroken,    // not a memcached reply: the stream can't be trusted any more.
};

// Scans the reply that starts at data[0]. State survives kNeedMore, so bytes already seen are not
// scanned again when the rest arrives (a 4 KiB value may come in many reads).
class ReplyScanner {
 public:
  /**
   * @param data the buffered bytes, starting at the first byte of the reply being scanned.
   * @param kind what the request expects.
   * @return kDone with consumed (bytes of the reply), ok (false for ERROR/CLIENT_ERROR/
   *         SERVER_ERROR/NOT_STORED/...) and hits (VALUE blocks); the scanner resets itself.
   */
  ScanStatus scan(const char* data, size_t len, ReplyKind kind);

  size_t consumed() const { return consumed_; }
  bool ok() const { return ok_; }
  uint32_t hits() const { return hits_done_; }

  static constexpr size_t kMaxLine = 8192;

 private:
  ScanStatus finish(size_t end, bool ok);

  size_t pos_ = 0;    // next unscanned line start, relative to data.
  uint32_t hits_ = 0;  // VALUE blocks seen in the current reply.
  size_t consumed_ = 0;
  bool ok_ = false;
  uint32_t hits_done_ = 0;
};

}  // namespace mcmesh::bench

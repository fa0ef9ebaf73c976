// Implements md5Digest from RFC 1321 (section 3 and the appendix's constants).
#include "proxy/routing/md5.h"

#include <cstring>

namespace mcmesh::ketama {
namespace {

// Each key lookup hashes the key (twemproxy's `hash: md5`), so this is on the data path: the 64
// steps are unrolled with constant shifts, message indexes and sine constants (RFC 1321 section
// 3.4, T[i] = floor(abs(sin(i + 1)) * 2^32)) instead of a loop with per-step branches.
inline uint32_t rotateLeft(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

#define MCMESH_MD5_STEP(f, a, b, c, d, x, t, s) \
  a += f(b, c, d) + (x) + (t);                  \
  a = rotateLeft(a, s) + b;

inline uint32_t md5F(uint32_t x, uint32_t y, uint32_t z) { return z ^ (x & (y ^ z)); }
inline uint32_t md5G(uint32_t x, uint32_t y, uint32_t z) { return y ^ (z & (x ^ y)); }
inline uint32_t md5H(uint32_t x, uint32_t y, uint32_t z) { return x ^ y ^ z; }
inline uint32_t md5I(uint32_t x, uint32_t y, uint32_t z) { return y ^ (x | ~z); }

// Processes one 64-byte block into the state (a, b, c, d).
void transform(uint32_t state[4], const uint8_t block[64]) {
  uint32_t m[16];
  for (int i = 0; i < 16; ++i) {
    // MD5 reads little-endian words regardless of the host's byte order.
    m[i] = static_cast<uint32_t>(block[i * 4]) | static_cast<uint32_t>(block[i * 4 + 1]) << 8 |
           static_cast<uint32_t>(block[i * 4 + 2]) << 16 |
           static_cast<uint32_t>(block[i * 4 + 3]) << 24;
  }
  uint32_t a = state[0], b = state[1], c = state[2], d = state[3];

  MCMESH_MD5_STEP(md5F, a, b, c, d, m[0], 0xd76aa478, 7)
  MCMESH_MD5_STEP(md5F, d, a, b, c, m[1], 0xe8c7b756, 12)
  MCMESH_MD5_STEP(md5F, c, d, a, b, m[2], 0x242070db, 17)
  MCMESH_MD5_STEP(md5F, b, c, d, a, m[3], 0xc1bdceee, 22)
  MCMESH_MD5_STEP(md5F, a, b, c, d, m[4], 0xf57c0faf, 7)
  MCMESH_MD5_STEP(md5F, d, a, b, c, m[5], 0x4787c62a, 12)
  MCMESH_MD5_STEP(md5F, c, d, a, b, m[6], 0xa8304613, 17)
  MCMESH_MD5_STEP(md5F, b, c, d, a, m[7], 0xfd469501, 22)
  MCMESH_MD5_STEP(md5F, a, b, c, d, m[8], 0x698098d8, 7)
  MCMESH_MD5_STEP(md5F, d, a, b, c, m[9], 0x8b44f7af, 12)
  MCMESH_MD5_STEP(md5F, c, d, a, b, m[10], 0xffff5bb1, 17)
  MCMESH_MD5_STEP(md5F, b, c, d, a, m[11], 0x895cd7be, 22)
  MCMESH_MD5_STEP(md5F, a, b, c, d, m[12], 0x6b901122, 7)
  MCMESH_MD5_STEP(md5F, d, a, b, c, m[13], 0xfd987193, 12)
  MCMESH_MD5_STEP(md5F, c, d, a, b, m[14], 0xa679438e, 17)
  MCMESH_MD5_STEP(md5F, b, c, d, a, m[15], 0x49b40821, 22)

  MCMESH_MD5_STEP(md5G, a, b, c, d, m[1], 0xf61e2562, 5)
  MCMESH_MD5_STEP(md5G, d, a, b, c, m[6], 0xc040b340, 9)
  MCMESH_MD5_STEP(md5G, c, d, a, b, m[11], 0x265e5a51, 14)
  MCMESH_MD5_STEP(md5G, b, c, d, a, m[0], 0xe9b6c7aa, 20)
  MCMESH_MD5_STEP(md5G, a, b, c, d, m[5], 0xd62f105d, 5)
  MCMESH_MD5_STEP(md5G, d, a, b, c, m[10], 0x02441453, 9)
  MCMESH_MD5_STEP(md5G, c, d, a, b, m[15], 0xd8a1e681, 14)
  MCMESH_MD5_STEP(md5G, b, c, d, a, m[4], 0xe7d3fbc8, 20)
  MCMESH_MD5_STEP(md5G, a, b, c, d, m[9], 0x21e1cde6, 5)
  MCMESH_MD5_STEP(md5G, d, a, b, c, m[14], 0xc33707d6, 9)
  MCMESH_MD5_STEP(md5G, c, d, a, b, m[3], 0xf4d50d87, 14)
  MCMESH_MD5_STEP(md5G, b, c, d, a, m[8], 0x455a14ed, 20)
  MCMESH_MD5_STEP(md5G, a, b, c, d, m[13], 0xa9e3e905, 5)
  MCMESH_MD5_STEP(md5G, d, a, b, c, m[2], 0xfcefa3f8, 9)
  MCMESH_MD5_STEP(md5G, c, d, a, b, m[7], 0x676f02d9, 14)
  MCMESH_MD5_STEP(md5G, b, c, d, a, m[12], 0x8d2a4c8a, 20)

  MCMESH_MD5_STEP(md5H, a, b, c, d, m[5], 0xfffa3942, 4)
  MCMESH_MD5_STEP(md5H, d, a, b, c, m[8], 0x8771f681, 11)
  MCMESH_MD5_STEP(md5H, c, d, a, b, m[11], 0x6d9d6122, 16)
  MCMESH_MD5_STEP(md5H, b, c, d, a, m[14], 0xfde5380c, 23)
  MCMESH_MD5_STEP(md5H, a, b, c, d, m[1], 0xa4beea44, 4)
  MCMESH_MD5_STEP(md5H, d, a, b, c, m[4], 0x4bdecfa9, 11)
  MCMESH_MD5_STEP(md5H, c, d, a, b, m[7], 0xf6bb4b60, 16)
  MCMESH_MD5_STEP(md5H, b, c, d, a, m[10], 0xbebfbc70, 23)
  MCMESH_MD5_STEP(md5H, a, b, c, d, m[13], 0x289b7ec6, 4)
  MCMESH_MD5_STEP(md5H, d, a, b, c, m[0], 0xeaa127fa, 11)
  MCMESH_MD5_STEP(md5H, c, d, a, b, m[3], 0xd4ef3085, 16)
  MCMESH_MD5_STEP(md5H, b, c, d, a, m[6], 0x04881d05, 23)
  MCMESH_MD5_STEP(md5H, a, b, c, d, m[9], 0xd9d4d039, 4)
  MCMESH_MD5_STEP(md5H, d, a, b, c, m[12], 0xe6db99e5, 11)
  MCMESH_MD5_STEP(md5H, c, d, a, b, m[15], 0x1fa27cf8, 16)
  MCMESH_MD5_STEP(md5H, b, c, d, a, m[2], 0xc4ac5665, 23)

  MCMESH_MD5_STEP(md5I, a, b, c, d, m[0], 0xf4292244, 6)
  MCMESH_MD5_STEP(md5I, d, a, b, c, m[7], 0x432aff97, 10)
  MCMESH_MD5_STEP(md5I, c, d, a, b, m[14], 0xab9423a7, 15)
  MCMESH_MD5_STEP(md5I, b, c, d, a, m[5], 0xfc93a039, 21)
  MCMESH_MD5_STEP(md5I, a, b, c, d, m[12], 0x655b59c3, 6)
  MCMESH_MD5_STEP(md5I, d, a, b, c, m[3], 0x8f0ccc92, 10)
  MCMESH_MD5_STEP(md5I, c, d, a, b, m[10], 0xffeff47d, 15)
  MCMESH_MD5_STEP(md5I, b, c, d, a, m[1], 0x85845dd1, 21)
  MCMESH_MD5_STEP(md5I, a, b, c, d, m[8], 0x6fa87e4f, 6)
  MCMESH_MD5_STEP(md5I, d, a, b, c, m[15], 0xfe2ce6e0, 10)
  MCMESH_MD5_STEP(md5I, c, d, a, b, m[6], 0xa3014314, 15)
  MCMESH_MD5_STEP(md5I, b, c, d, a, m[13], 0x4e0811a1, 21)
  MCMESH_MD5_STEP(md5I, a, b, c, d, m[4], 0xf7537e82, 6)
  MCMESH_MD5_STEP(md5I, d, a, b, c, m[11], 0xbd3af235, 10)
  MCMESH_MD5_STEP(md5I, c, d, a, b, m[2], 0x2ad7d2bb, 15)
  MCMESH_MD5_STEP(md5I, b, c, d, a, m[9], 0xeb86d391, 21)

  state[0] += a;
  state[1] += b;
  state[2] += c;
  state[3] += d;
}

#undef MCMESH_MD5_STEP

}  // namespace

Md5Digest md5Digest(absl::string_view data) {
  uint32_t state[4] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476};
  const auto* bytes = reinterpret_cast<const uint8_t*>(data.data());
  size_t remaining = data.size();
  while (remaining >= 64) {
    transform(state, bytes);
    bytes += 64;
    remaining -= 64;
  }
  // Padding: 0x80, zeros to 56 mod 64, then the bit length as a little-endian 64-bit number.
  uint8_t tail[128] = {};
  std::memcpy(tail, bytes, remaining);
  tail[remaining] = 0x80;
  const size_t tail_size = remaining < 56 ? 64 : 128;
  const uint64_t bit_length = static_cast<uint64_t>(data.size()) * 8;
  for (int i = 0; i < 8; ++i) {
    tail[tail_size - 8 + i] = static_cast<uint8_t>(bit_length >> (8 * i));
  }
  transform(state, tail);
  if (tail_size == 128) {
    transform(state, tail + 64);
  }
  Md5Digest digest;
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 4; ++j) {
      digest[i * 4 + j] = static_cast<uint8_t>(state[i] >> (8 * j));
    }
  }
  return digest;
}

}  // namespace mcmesh::ketama

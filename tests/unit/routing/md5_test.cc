// Checks md5Digest against RFC 1321's test suite and every padding boundary (55..65 bytes).
#include <string>

#include "absl/strings/escaping.h"
#include "proxy/routing/md5.h"
#include "gtest/gtest.h"

namespace mcmesh::ketama {
namespace {

std::string hex(absl::string_view data) {
  const Md5Digest d = md5Digest(data);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(d.data()), 16));
}

TEST(Md5Test, Rfc1321TestSuite) {
  EXPECT_EQ(hex(""), "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_EQ(hex("a"), "0cc175b9c0f1b6a831c399e269772661");
  EXPECT_EQ(hex("abc"), "900150983cd24fb0d6963f7d28e17f72");
  EXPECT_EQ(hex("message digest"), "f96b697d7cb7938d525a2f31aaf161d0");
  EXPECT_EQ(hex("abcdefghijklmnopqrstuvwxyz"), "c3fcd3d76192e4007dfb496cca67e13b");
  EXPECT_EQ(hex("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"),
            "d174ab98d277d9f5a5611c2c9f419d9f");
  EXPECT_EQ(hex("123456789012345678901234567890123456789012345678901234567890123456789012345678"
                "90"),
            "57edf4a22be3c955ac49da2e2107b67a");
}

// Values from Python's hashlib.md5: lengths around the 56-byte padding and 64-byte block edges.
TEST(Md5Test, PaddingBoundaries) {
  EXPECT_EQ(hex(std::string(55, 'a')), "ef1772b6dff9a122358552954ad0df65");
  EXPECT_EQ(hex(std::string(56, 'a')), "3b0c8ac703f828b04c6c197006d17218");
  EXPECT_EQ(hex(std::string(57, 'a')), "652b906d60af96844ebd21b674f35e93");
  EXPECT_EQ(hex(std::string(63, 'a')), "b06521f39153d618550606be297466d5");
  EXPECT_EQ(hex(std::string(64, 'a')), "014842d480b571495a4a0363793f7367");
  EXPECT_EQ(hex(std::string(65, 'a')), "c743a45e0d2e6a95cb859adae0248435");
  EXPECT_EQ(hex(std::string(119, 'a')), "8a7bd0732ed6a28ce75f6dabc90e1613");
  EXPECT_EQ(hex(std::string(120, 'a')), "5f61c0ccad4cac44c75ff505e1f1e537");
  EXPECT_EQ(hex(std::string(1000, 'a')), "cabe45dcc9ae5b66ba86600cca6b8ba8");
}

}  // namespace
}  // namespace mcmesh::ketama

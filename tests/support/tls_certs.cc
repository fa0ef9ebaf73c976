// TestCerts: openssl req/x509 commands run through /bin/sh; keys are EC P-256 (fast to make).
#include "tests/support/tls_certs.h"

#include <stdlib.h>

#include <cstdio>
#include <fstream>
#include <string>

namespace mcmesh::testing {
namespace {

bool run(const std::string& command) {
  int rc = std::system((command + " >/dev/null 2>&1").c_str());
  if (rc != 0) std::fprintf(stderr, "TestCerts: failed (%d): %s\n", rc, command.c_str());
  return rc == 0;
}

bool writeFile(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  return static_cast<bool>(out);
}

}  // namespace

TestCerts TestCerts::create() {
  TestCerts c;
  char pattern[] = "/tmp/mcmesh-tls-XXXXXX";
  const char* tmp = getenv("TEST_TMPDIR");
  std::string templ = tmp != nullptr ? std::string(tmp) + "/mcmesh-tls-XXXXXX" : pattern;
  if (mkdtemp(templ.data()) == nullptr) return c;
  const std::string d = templ;
  const std::string key = "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ";
  auto ca = [&](const std::string& name, const std::string& cn) {
    return run(key + d + "/" + name + ".key") &&
           run("openssl req -x509 -new -key " + d + "/" + name + ".key -days 2 -subj /CN=" + cn +
               " -out " + d + "/" + name + ".pem");
  };
  auto leaf = [&](const std::string& name, const std::string& cn, const std::string& ext) {
    return run(key + d + "/" + name + ".key") &&
           run("openssl req -new -key " + d + "/" + name + ".key -subj /CN=" + cn + " -out " +
               d + "/" + name + ".csr") &&
           writeFile(d + "/" + name + ".ext", ext + "\n") &&
           run("openssl x509 -req -in " + d + "/" + name + ".csr -CA " + d + "/ca.pem -CAkey " +
               d + "/ca.key -CAcreateserial -days 2 -extfile " + d + "/" + name + ".ext -out " +
               d + "/" + name + ".pem");
  };
  if (!ca("ca", "mcmesh-test-ca") || !ca("other_ca", "unrelated-ca") ||
      !leaf("server", "localhost", "subjectAltName=IP:127.0.0.1,DNS:localhost") ||
      !leaf("client", "mcmesh-client", "extendedKeyUsage=clientAuth")) {
    run("rm -rf " + d);
    return c;
  }
  c.dir = d;
  c.ca = d + "/ca.pem";
  c.server_cert = d + "/server.pem";
  c.server_key = d + "/server.key";
  c.client_cert = d + "/client.pem";
  c.client_key = d + "/client.key";
  c.other_ca = d + "/other_ca.pem";
  c.other_key = d + "/other_ca.key";
  return c;
}

void TestCerts::remove() const {
  if (!dir.empty()) run("rm -rf " + dir);
}

}  // namespace mcmesh::testing

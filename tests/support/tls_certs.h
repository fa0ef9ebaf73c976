// TestCerts: a throw-away PKI made with the openssl CLI in a temp dir (CA, server and client
// certificates, and a second unrelated CA), for TLS unit and integration tests.
#pragma once

#include <string>

namespace mcmesh::testing {

struct TestCerts {
  std::string dir;
  std::string ca;           // signs everything below
  std::string server_cert;  // SAN: IP 127.0.0.1, DNS localhost
  std::string server_key;
  std::string client_cert;  // CN mcmesh-client
  std::string client_key;
  std::string other_ca;     // unrelated: verifying against it must fail
  std::string other_key;    // a key that matches none of the certificates

  /** Creates everything under a fresh temp dir; empty `dir` (and a message on stderr) on error. */
  static TestCerts create();
  /** Removes the directory. */
  void remove() const;
};

}  // namespace mcmesh::testing

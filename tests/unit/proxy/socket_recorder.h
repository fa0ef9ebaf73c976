// Recorder and runUntil: what BufferedSocket's unit tests (plain and TLS) share: callbacks that
// record what a socket reports, and a loop that turns until a condition holds.
#pragma once

#include <event2/buffer.h>
#include <event2/event.h>

#include <functional>
#include <string>

#include "absl/time/clock.h"
#include "proxy/buffered_socket.h"
#include "proxy/dispatcher.h"
#include "tests/unit/proxy/run_until.h"

namespace mcmesh::testing {

struct Recorder : BufferedSocket::Callbacks {
  std::string read;
  int readable_calls = 0;
  int drained_calls = 0;
  bool connected = false;
  bool closed = false;
  int close_error = -1;
  BufferedSocket* socket = nullptr;
  bool consume_input = true;  // false: leave the bytes in socket->input().

  void onReadable() override {
    ++readable_calls;
    if (!consume_input) return;
    evbuffer* in = socket->input();
    size_t len = evbuffer_get_length(in);
    std::string chunk(len, '\0');
    evbuffer_remove(in, chunk.data(), len);
    read += chunk;
  }
  void onWriteDrained() override { ++drained_calls; }
  void onConnected() override { connected = true; }
  void onClosed(int error) override {
    closed = true;
    close_error = error;
  }
};

}  // namespace mcmesh::testing

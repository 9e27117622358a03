// MetricsServer: a small HTTP/1.0 server for Prometheus. GET /metrics
// answers the latest text given to publish() (text/plain; version=0.0.4);
// anything else gets 404. One request per connection.
//
// It runs on its own thread with blocking sockets and a 2 s timeout per
// client, so a slow or hostile scraper costs only that thread; publish()
// swaps a string under a mutex and never waits for a client. Thread safety:
// publish() from any thread; the destructor stops the thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "reel/status.h"

namespace reel::net {

class MetricsServer {
 public:
  // Listens on ADDR:PORT (IPv4; port 0 picks one).
  static Result<std::unique_ptr<MetricsServer>> start(const std::string& address, uint16_t port);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  void publish(std::string text);
  uint16_t port() const { return port_; }
  uint64_t requests() const { return requests_.load(); }

 private:
  MetricsServer(int fd, uint16_t port);
  void run();
  void answer(int client);

  int fd_;
  uint16_t port_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> requests_{0};
  std::mutex mu_;
  std::string text_;  // guarded by mu_
  std::thread thread_;
};

}  // namespace reel::net

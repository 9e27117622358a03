// MetricsServer: a small HTTP/1.0 server for Prometheus. GET /metrics
// answers the latest text given to publish() (text/plain; version=0.0.4);
// anything else gets 404. One request per connection.
//
// One thread serves up to kMaxClients connections at once with
// non-blocking sockets, each with one deadline (kRequestDeadline) for its
// whole request and answer: a client that trickles its request or does not
// read the answer is closed then, and holds only its own slot meanwhile.
// With every slot taken, a new connection closes the oldest. publish()
// swaps a string under a mutex and never waits for a client; the
// destructor stops the thread within about 100 ms whatever clients do.
// Thread safety: publish() and the counters from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "net/allow_list.h"
#include "reel/status.h"
#include "util/mutex.h"

namespace reel::net {

class MetricsServer {
 public:
  static constexpr size_t kMaxClients = 32;
  static constexpr std::chrono::seconds kRequestDeadline{2};

  // Listens on ADDR:PORT (IPv4; port 0 picks one); a peer not in `allow`
  // (when not empty) is closed at once.
  static Result<std::unique_ptr<MetricsServer>> start(const std::string& address, uint16_t port,
                                                      AllowList allow = {});
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  void publish(std::string text);
  uint16_t port() const { return port_; }
  // Requests answered; connections closed unanswered (deadline, or
  // evicted for a newer one).
  uint64_t requests() const { return requests_.load(); }
  uint64_t dropped() const { return dropped_.load(); }

  struct Client;

 private:
  MetricsServer(int fd, uint16_t port, AllowList allow);
  void run();
  std::string answer(const std::string& request);

  int fd_;
  uint16_t port_;
  const AllowList allow_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> requests_{0}, dropped_{0};
  Mutex mu_;
  std::string text_ GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace reel::net

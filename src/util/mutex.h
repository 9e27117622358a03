// Mutex: std::mutex with clang thread-safety annotations
// (util/thread_annotations.h), and its RAII holders. Same cost as
// std::mutex and std::lock_guard; not recursive.
#pragma once

#include <mutex>

#include "util/thread_annotations.h"

namespace reel {

class CAPABILITY("mutex") Mutex {
 public:
  void lock() ACQUIRE() { mu_.lock(); }
  void unlock() RELEASE() { mu_.unlock(); }
  bool try_lock() TRY_ACQUIRE(true) { return mu_.try_lock(); }

 private:
  std::mutex mu_;
};

// Holds `mu` from construction to destruction. The second constructor
// adopts a lock the caller already took (after a successful try_lock()).
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mu) ACQUIRE(mu) : mu_(mu) { mu_.lock(); }
  MutexLock(Mutex& mu, std::adopt_lock_t) REQUIRES(mu) : mu_(mu) {}
  ~MutexLock() RELEASE() { mu_.unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex& mu_;
};

// Holds `mu` like MutexLock, and may let it go and take it again in between
// (unlock(), lock()); releases it at destruction if held, so an exception
// never leaves `mu` locked.
class SCOPED_CAPABILITY RelockableLock {
 public:
  explicit RelockableLock(Mutex& mu) ACQUIRE(mu) : mu_(mu) { mu_.lock(); }
  // Adopts a lock the caller already took (try_lock(), then lock()).
  RelockableLock(Mutex& mu, std::adopt_lock_t) REQUIRES(mu) : mu_(mu) {}
  ~RelockableLock() RELEASE() {
    if (held_) mu_.unlock();
  }
  void lock() ACQUIRE() {
    mu_.lock();
    held_ = true;
  }
  void unlock() RELEASE() {
    held_ = false;
    mu_.unlock();
  }
  RelockableLock(const RelockableLock&) = delete;
  RelockableLock& operator=(const RelockableLock&) = delete;

 private:
  Mutex& mu_;
  bool held_ = true;
};

}  // namespace reel

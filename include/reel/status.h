// reel::Status and reel::Result<T>: how every reel call reports failure.
// Plain values: copy them between threads freely; one object is not for
// concurrent modification.
//
// No exception crosses include/reel/. Expected outcomes (not found, locked,
// full disk) are ordinary return values; the message names the file, seq or
// offset involved, ready to print as one line.
#pragma once

#include "reel/export.h"

#include <optional>
#include <string>
#include <utility>

namespace reel {

enum class Code {
  kOk = 0,
  kNotFound,
  kCorruption,
  kIoError,
  kInvalidArgument,
  kBusy,     // locked by another writer; the ring is full; a wait timed out
  kNoSpace,  // no room: a segment could not be created for a full disk or a
             // process out of file descriptors (a writer stalls and retries),
             // or an open could not index or create what it needs
  kFailed,   // an earlier write or sync failed; the store no longer acknowledges
};

class REEL_EXPORT Status {
 public:
  Status() = default;
  static Status ok() { return Status(); }
  static Status not_found(std::string msg) { return Status(Code::kNotFound, std::move(msg)); }
  static Status corruption(std::string msg) { return Status(Code::kCorruption, std::move(msg)); }
  static Status io_error(std::string msg) { return Status(Code::kIoError, std::move(msg)); }
  static Status invalid_argument(std::string msg) {
    return Status(Code::kInvalidArgument, std::move(msg));
  }
  static Status busy(std::string msg) { return Status(Code::kBusy, std::move(msg)); }
  static Status no_space(std::string msg) { return Status(Code::kNoSpace, std::move(msg)); }
  static Status failed(std::string msg) { return Status(Code::kFailed, std::move(msg)); }
  // An I/O error from errno `err` while doing `what` (which names the file).
  static Status from_errno(const std::string& what, int err);

  bool is_ok() const { return code_ == Code::kOk; }
  explicit operator bool() const { return is_ok(); }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // "corruption: wal/....seg: bad checksum at offset 81920 (seq 500000)"
  std::string to_string() const;
  // The same code, with `context` put before the message.
  Status with_context(const std::string& context) const {
    return Status(code_, context + ": " + message_);
  }

 private:
  Status(Code code, std::string msg) : code_(code), message_(std::move(msg)) {}
  Code code_ = Code::kOk;
  std::string message_;
};

// A value or the Status that explains why there is none.
template <typename T>
class Result {
 public:
  Result(T value) : value_(std::move(value)) {}          // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {}  // NOLINT: implicit by design

  bool is_ok() const { return status_.is_ok(); }
  explicit operator bool() const { return is_ok(); }
  const Status& status() const { return status_; }
  T& value() { return *value_; }
  const T& value() const { return *value_; }
  T& operator*() { return *value_; }
  const T& operator*() const { return *value_; }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace reel

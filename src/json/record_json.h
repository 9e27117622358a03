// Renders records as JSON through the reflection schema (.bfbs) that the
// store keeps in STORE/schemas/, so any machine can print any store.
#pragma once

#include <memory>
#include <string>

#include "reel/record_view.h"
#include "reel/status.h"

namespace flatbuffers {
class Parser;
}

namespace reel::json {

class RecordJson {
 public:
  RecordJson();
  ~RecordJson();
  // Loads the reflection schema from `bfbs_path`.
  Status load(const std::string& bfbs_path);
  // One line of JSON for `record`.
  Result<std::string> render(const RecordView& record) const;

 private:
  std::unique_ptr<flatbuffers::Parser> parser_;
};

}  // namespace reel::json

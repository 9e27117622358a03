// Renders records as JSON through the reflection schema (.bfbs) that the
// store keeps in STORE/schemas/, so any machine can print any store.
//
// Fields appear in schema order; absent optional fields are left out. Byte
// vectors ([ubyte], such as key and payload) print as a JSON string when they
// are valid UTF-8 without control characters other than tab, and otherwise as
// "<name>_base64": "<standard base64>".
#pragma once

#include <string>

#include "reel/record_view.h"
#include "reel/status.h"

namespace reflection {
struct Schema;
struct Object;
}  // namespace reflection

namespace flatbuffers {
class Table;
}

namespace reel::json {

class RecordJson {
 public:
  // Loads and verifies the reflection schema from `bfbs_path`.
  Status load(const std::string& bfbs_path);
  // One line of JSON for `record`.
  std::string render(const RecordView& record) const;

 private:
  void render_table(const reflection::Object& object, const flatbuffers::Table& table,
                    std::string* out) const;
  std::string bfbs_;
  const reflection::Schema* schema_ = nullptr;
};

}  // namespace reel::json

// Renders records as JSON through the reflection schema (.bfbs) that the
// store keeps in STORE/schemas/, so any machine can print any store.
//
// Fields appear in schema order; absent optional fields are left out. Byte
// vectors ([ubyte], such as key and payload) print as a JSON string when they
// are valid UTF-8 without control characters other than tab, and otherwise as
// "<name>_base64": "<standard base64>".
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "reel/record_view.h"
#include "reel/status.h"

namespace reflection {
struct Schema;
struct Object;
}  // namespace reflection

namespace flatbuffers {
class Table;
}

namespace reflection {
struct Field;
}  // namespace reflection

namespace reel::json {

// Appends `s` to `out` as a quoted JSON string.
void append_escaped(std::string_view s, std::string* out);

class RecordJson {
 public:
  // Loads and verifies the reflection schema from `bfbs_path`.
  Status load(const std::string& bfbs_path);
  // The same from the schema's bytes (`bfbs_path` names them in errors).
  Status load_bytes(std::string bytes, const std::string& bfbs_path);
  // One line of JSON for `record`.
  std::string render(const RecordView& record) const;

 private:
  // Renders `table`, an instance of schema object number `object`.
  void render_table(size_t object, const flatbuffers::Table& table, std::string* out) const;
  std::string bfbs_;
  const reflection::Schema* schema_ = nullptr;
  // Each object's fields in schema (id) order, indexed like schema_->objects().
  std::vector<std::vector<const reflection::Field*>> fields_by_object_;
  size_t root_object_ = 0;
};

}  // namespace reel::json

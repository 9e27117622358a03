#include "json/record_json.h"

#include <flatbuffers/reflection.h>

#include <algorithm>
#include <cstdio>
#include <vector>

#include "util/read_file.h"
#include "wal/frame_format.h"

namespace reel::json {
void append_escaped(std::string_view s, std::string* out) {
  out->push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        *out += "\\\"";
        break;
      case '\\':
        *out += "\\\\";
        break;
      case '\n':
        *out += "\\n";
        break;
      case '\r':
        *out += "\\r";
        break;
      case '\t':
        *out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          *out += buf;
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
  }
  out->push_back('"');
}

namespace {

// Valid UTF-8 with no control characters but tab, newline and CR.
bool is_text(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') return false;
      if (c == 0x7f) return false;
      ++i;
      continue;
    }
    size_t len = (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    if (len == 0 || i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 0x2) return false;
    }
    i += len;
  }
  return true;
}

std::string base64(std::string_view s) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < s.size(); i += 3) {
    uint32_t v = static_cast<uint32_t>(static_cast<unsigned char>(s[i])) << 16 |
                 static_cast<uint32_t>(static_cast<unsigned char>(s[i + 1])) << 8 |
                 static_cast<unsigned char>(s[i + 2]);
    for (int k = 3; k >= 0; --k) out.push_back(kAlphabet[(v >> (6 * k)) & 63]);
  }
  if (i < s.size()) {
    uint32_t v = static_cast<uint32_t>(static_cast<unsigned char>(s[i])) << 16;
    if (i + 1 < s.size()) v |= static_cast<uint32_t>(static_cast<unsigned char>(s[i + 1])) << 8;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(i + 1 < s.size() ? kAlphabet[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

bool is_unsigned(reflection::BaseType t) {
  return t == reflection::UType || t == reflection::Bool || t == reflection::UByte ||
         t == reflection::UShort || t == reflection::UInt || t == reflection::ULong;
}

}  // namespace

Status RecordJson::load(const std::string& bfbs_path) {
  auto bytes = read_file(bfbs_path);
  if (!bytes) return bytes.status();
  return load_bytes(std::move(*bytes), bfbs_path);
}

Status RecordJson::load_bytes(std::string bytes, const std::string& bfbs_path) {
  bfbs_ = std::move(bytes);
  flatbuffers::Verifier verifier(reinterpret_cast<const uint8_t*>(bfbs_.data()), bfbs_.size());
  if (!reflection::VerifySchemaBuffer(verifier)) {
    return Status::corruption(bfbs_path + ": not a valid reflection schema");
  }
  schema_ = reflection::GetSchema(bfbs_.data());
  if (schema_->root_table() == nullptr) {
    return Status::corruption(bfbs_path + ": the schema has no root type");
  }
  fields_by_object_.clear();
  for (const reflection::Object* object : *schema_->objects()) {
    std::vector<const reflection::Field*> fields(object->fields()->begin(),
                                                 object->fields()->end());
    std::sort(
        fields.begin(), fields.end(),
        [](const reflection::Field* x, const reflection::Field* y) { return x->id() < y->id(); });
    if (object == schema_->root_table()) root_object_ = fields_by_object_.size();
    fields_by_object_.push_back(std::move(fields));
  }
  return Status::ok();
}

void RecordJson::render_table(size_t object, const flatbuffers::Table& table,
                              std::string* out) const {
  const auto& fields = fields_by_object_[object];
  out->push_back('{');
  bool first = true;
  for (const reflection::Field* field : fields) {
    const auto type = field->type()->base_type();
    const bool scalar = type <= reflection::Double;
    if (!scalar && !table.CheckField(field->offset())) continue;  // absent
    std::string name = field->name()->str();
    std::string value;
    if (type == reflection::Float || type == reflection::Double) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.17g", flatbuffers::GetAnyFieldF(table, *field));
      value = buf;
    } else if (scalar && is_unsigned(type)) {
      value = std::to_string(static_cast<uint64_t>(flatbuffers::GetAnyFieldI(table, *field)));
    } else if (scalar) {
      value = std::to_string(flatbuffers::GetAnyFieldI(table, *field));
    } else if (type == reflection::String) {
      append_escaped(flatbuffers::GetFieldS(table, *field)->string_view(), &value);
    } else if (type == reflection::Vector && (field->type()->element() == reflection::UByte ||
                                              field->type()->element() == reflection::Byte)) {
      const auto* v = table.GetPointer<const flatbuffers::Vector<uint8_t>*>(field->offset());
      std::string_view bytes(reinterpret_cast<const char*>(v->data()), v->size());
      if (is_text(bytes)) {
        append_escaped(bytes, &value);
      } else {
        name += "_base64";
        value = '"' + base64(bytes);
        value += '"';
      }
    } else if (type == reflection::Obj &&
               !schema_->objects()->Get(field->type()->index())->is_struct()) {
      const auto* sub = table.GetPointer<const flatbuffers::Table*>(field->offset());
      render_table(static_cast<size_t>(field->type()->index()), *sub, &value);
    } else {
      value = "null";  // vectors of other types, structs, unions: not used by reel's schema yet
    }
    if (!first) out->push_back(',');
    first = false;
    append_escaped(name, out);
    out->push_back(':');
    *out += value;
  }
  out->push_back('}');
}

std::string RecordJson::render(const RecordView& record) const {
  const auto* body =
      reinterpret_cast<const uint8_t*>(record.frame().data()) + wal::kFrameBodyOffset;
  std::string out;
  render_table(root_object_, *flatbuffers::GetAnyRoot(body), &out);
  return out;
}

}  // namespace reel::json

#include "json/record_json.h"

#include <flatbuffers/idl.h>

#include "store/store_dir.h"

namespace reel::json {

RecordJson::RecordJson() = default;
RecordJson::~RecordJson() = default;

Status RecordJson::load(const std::string& bfbs_path) {
  auto bytes = store::read_file(bfbs_path);
  if (!bytes) return bytes.status();
  auto parser = std::make_unique<flatbuffers::Parser>();
  parser->opts.strict_json = true;
  parser->opts.indent_step = -1;  // one line per record
  parser->opts.output_default_scalars_in_json = true;
  if (!parser->Deserialize(reinterpret_cast<const uint8_t*>(bytes->data()), bytes->size())) {
    return Status::corruption(bfbs_path + ": not a valid reflection schema");
  }
  if (parser->root_struct_def_ == nullptr) {
    return Status::corruption(bfbs_path + ": the schema has no root type");
  }
  parser_ = std::move(parser);
  return Status::ok();
}

Result<std::string> RecordJson::render(const RecordView& record) const {
  std::string text;
  const auto* body = reinterpret_cast<const uint8_t*>(record.frame().data()) + 24;
  if (!flatbuffers::GenerateText(*parser_, body, &text)) {
    return Status::corruption("seq " + std::to_string(record.seq()) + ": cannot render as JSON");
  }
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

}  // namespace reel::json

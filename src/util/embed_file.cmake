# Turns the binary file IN into a C++ source OUT defining
# reel::embedded::kRecordBfbs / kRecordBfbsSize.
file(READ ${IN} HEX HEX)
string(LENGTH "${HEX}" HEX_LEN)
math(EXPR SIZE "${HEX_LEN} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," BYTES "${HEX}")
file(WRITE ${OUT} "// generated from record.bfbs; do not edit\n#include <cstddef>\n#include <cstdint>\nnamespace reel::embedded {\nextern const std::uint8_t kRecordBfbs[];\nextern const std::size_t kRecordBfbsSize;\nalignas(8) const std::uint8_t kRecordBfbs[] = {${BYTES}};\nconst std::size_t kRecordBfbsSize = ${SIZE};\n}  // namespace reel::embedded\n")

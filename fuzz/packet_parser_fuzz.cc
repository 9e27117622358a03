// libFuzzer target: capture::parse_frame (reel import) on hostile frames.
// The first byte picks the link type and the layer, the second how much of
// the frame the capture "cut". A payload must lie inside the frame, and a
// cut frame is never stored as a whole frame (kEth).
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include <pcap/dlt.h>

#include "capture/packet_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using reel::capture::Layer;
  if (size < 2) return 0;
  static constexpr int kLinks[] = {DLT_EN10MB, DLT_LINUX_SLL, DLT_LINUX_SLL2, DLT_NULL,
                                   DLT_LOOP,   DLT_RAW,       DLT_IPV4,       DLT_IPV6};
  const int link = kLinks[data[0] % 8];
  const Layer layer = static_cast<Layer>((data[0] >> 3) % 3);
  const uint32_t cut = data[1] % 4 == 0 ? data[1] : 0;
  const std::span<const uint8_t> frame(data + 2, size - 2);
  const auto p =
      reel::capture::parse_frame(link, frame, static_cast<uint32_t>(frame.size()) + cut, layer);
  if (p.skip == reel::capture::Skip::kNone) {
    if (p.payload.data() < frame.data() ||
        p.payload.data() + p.payload.size() > frame.data() + frame.size()) {
      std::abort();  // a payload outside the frame
    }
    // A cut frame is never stored whole; a UDP payload or IP packet may be
    // (the capture cut only the link layer's trailer after it), and then it
    // is within the IP packet's length (checked by the bounds above).
    if (cut != 0 && layer == Layer::kEth) std::abort();
  }
  return 0;
}

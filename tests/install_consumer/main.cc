// Writes three records with the installed reel, reads them back, prints them.
#include <cstdio>

#include <reel/reel.h>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  {
    auto store = reel::Store::open(argv[1]);
    if (!store) {
      std::fprintf(stderr, "%s\n", store.status().to_string().c_str());
      return 1;
    }
    for (const char* p : {"alpha", "beta", "gamma"}) {
      if (!(*store)->append("demo", p)) return 1;
    }
  }
  auto reader = reel::Reader::open(argv[1]);
  if (!reader) return 1;
  reel::Cursor cursor = (*reader)->range(1);
  reel::RecordView v;
  while (cursor.next(&v)) {
    std::printf("%llu %.*s %s\n", static_cast<unsigned long long>(v.seq()),
                static_cast<int>(v.payload().size()), v.payload().data(),
                v.record()->stream_name() ? v.record()->stream_name()->c_str() : "-");
  }
  return cursor.status().is_ok() ? 0 : 1;
}

// REEL_EXPORT marks what libreel.so exports. The library is built with
// hidden visibility: only the public classes declared under include/reel/
// are visible to programs that link it; everything in src/ stays internal
// (the CLI and the tests link the internal static library instead).
#pragma once

#if defined(__GNUC__) || defined(__clang__)
#define REEL_EXPORT __attribute__((visibility("default")))
#else
#define REEL_EXPORT
#endif

// For the private Impl of an exported class: nested classes take their
// outer class's visibility unless told otherwise.
#if defined(__GNUC__) || defined(__clang__)
#define REEL_INTERNAL __attribute__((visibility("hidden")))
#else
#define REEL_INTERNAL
#endif

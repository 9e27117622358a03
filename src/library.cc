// libreel.so: the objects of reel_internal, linked whole (CMakeLists.txt).
// This file only gives the shared library target a source of its own.
#include "reel/reel.h"

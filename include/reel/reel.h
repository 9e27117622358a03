// The whole public API of reel.
#pragma once

#include "reel/export.h"
#include "reel/options.h"
#include "reel/publisher.h"
#include "reel/reader.h"
#include "reel/record_view.h"
#include "reel/replayer.h"
#include "reel/status.h"
#include "reel/store.h"
#include "reel/subscriber.h"
#include "reel/tailer.h"
#include "reel/types.h"

// The live stream's frames as JPEG, each encoded once for all clients (raw and annotated kept
// apart), and a status card while the source has produced no frame.
//
// Usage:
//   StreamEncoder enc(source_spec, quality);
//   StreamCursor cursor;                       // one per client
//   auto jpeg = enc.next(engine, cursor, /*annotate=*/true, 500);   // nullptr: nothing new
// Thread safety: next() may be called from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "live_engine.hpp"

namespace vlrface::serve {

// Where one stream client is: the engine and the frame number it last sent (a model reload
// replaces the engine, whose frame numbers start again).
struct StreamCursor {
  const void* engine = nullptr;
  std::uint64_t frame = 0;
};

class StreamEncoder {
 public:
  // The status card takes the source's configured size (640x480 when it has none).
  StreamEncoder(const live::SourceSpec& source, int quality);

  // The next frame of `engine` after `cursor` (advanced); while the source has produced no
  // frame, a status card. nullptr when there is no engine or nothing new came within
  // `timeout_ms`.
  std::shared_ptr<const std::string> next(const std::shared_ptr<live::LiveEngine>& engine,
                                          StreamCursor& cursor, bool annotate, int timeout_ms);

 private:
  int card_width_, card_height_, quality_;
  std::mutex mu_;  // held while encoding, so a frame is encoded once
  struct Encoded {
    // Identity only: holding the snapshot would keep a frame alive that the engine has dropped.
    std::weak_ptr<const live::Snapshot> snap;
    std::shared_ptr<const std::string> jpeg;
  };
  Encoded encoded_[2];  // raw, annotated
};

}  // namespace vlrface::serve

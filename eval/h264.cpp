#include "h264.hpp"

#include <cstring>
#include <memory>
#include <opencv2/imgproc.hpp>
#include <string>

#include "vlrface/error.hpp"

#if VLRFACE_HAVE_LIBAVCODEC
extern "C" {
#include <libavcodec/avcodec.h>
#include <libavutil/error.h>
#include <libavutil/frame.h>
#include <libavutil/opt.h>
}
#endif

namespace vlrface::evaluation {

#if VLRFACE_HAVE_LIBAVCODEC
namespace {

struct CodecDeleter {
  void operator()(AVCodecContext* c) const { avcodec_free_context(&c); }
};
struct FrameDeleter {
  void operator()(AVFrame* f) const { av_frame_free(&f); }
};
struct PacketDeleter {
  void operator()(AVPacket* p) const { av_packet_free(&p); }
};
using CodecPtr = std::unique_ptr<AVCodecContext, CodecDeleter>;
using FramePtr = std::unique_ptr<AVFrame, FrameDeleter>;
using PacketPtr = std::unique_ptr<AVPacket, PacketDeleter>;

std::string av_message(int rc) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(rc, buf, sizeof buf);
  return buf;
}

void check(int rc, const char* what) {
  if (rc < 0) throw Error("eval", std::string("H.264 round trip: ") + what + ": " + av_message(rc));
}

const AVCodec* x264() { return avcodec_find_encoder_by_name("libx264"); }

CodecPtr open_encoder(int width, int height, int crf) {
  const AVCodec* codec = x264();
  if (!codec) throw Error("eval", "H.264 round trip: this libavcodec has no libx264 encoder");
  CodecPtr c(avcodec_alloc_context3(codec));
  if (!c) throw Error("eval", "H.264 round trip: out of memory");
  c->width = width;
  c->height = height;
  c->pix_fmt = AV_PIX_FMT_YUV420P;
  c->time_base = AVRational{1, 25};
  c->gop_size = 1;  // every frame a keyframe (see the header)
  c->max_b_frames = 0;
  c->thread_count = 1;  // eval parallelises over images; x264's own threads would fight them
  av_opt_set(c->priv_data, "preset", "veryfast", 0);
  av_opt_set(c->priv_data, "tune", "zerolatency", 0);
  av_opt_set(c->priv_data, "crf", std::to_string(crf).c_str(), 0);
  // x264 reports statistics per encoder at INFO level: one encoder per frame would flood
  // stderr. log=0 is X264_LOG_ERROR: errors still reach ffmpeg's log.
  av_opt_set(c->priv_data, "x264-params", "log=0", 0);
  check(avcodec_open2(c.get(), codec, nullptr), "opening libx264");
  return c;
}

CodecPtr open_decoder() {
  const AVCodec* codec = avcodec_find_decoder(AV_CODEC_ID_H264);
  if (!codec) throw Error("eval", "H.264 round trip: this libavcodec has no H.264 decoder");
  CodecPtr c(avcodec_alloc_context3(codec));
  if (!c) throw Error("eval", "H.264 round trip: out of memory");
  c->thread_count = 1;
  check(avcodec_open2(c.get(), codec, nullptr), "opening the H.264 decoder");
  return c;
}

}  // namespace

bool h264_available() { return x264() && avcodec_find_decoder(AV_CODEC_ID_H264); }

cv::Mat h264_round_trip(const cv::Mat& bgr, int crf) {
  if (bgr.empty() || bgr.type() != CV_8UC3) {
    throw Error("eval", "H.264 round trip: expects a non-empty 8-bit BGR frame");
  }
  if (bgr.cols % 2 || bgr.rows % 2) {
    throw Error("eval", "H.264 round trip: 4:2:0 needs an even frame size, not " +
                            std::to_string(bgr.cols) + "x" + std::to_string(bgr.rows));
  }
  if (crf < 0 || crf > 51) {
    throw Error("eval", "H.264 round trip: CRF " + std::to_string(crf) + " is outside 0..51");
  }
  const int w = bgr.cols, h = bgr.rows;
  cv::Mat i420;  // Y plane (h rows), then U and V (h/4 rows each of w): one contiguous buffer
  cv::cvtColor(bgr, i420, cv::COLOR_BGR2YUV_I420);

  CodecPtr enc = open_encoder(w, h, crf);
  FramePtr in(av_frame_alloc());
  PacketPtr pkt(av_packet_alloc());
  if (!in || !pkt) throw Error("eval", "H.264 round trip: out of memory");
  in->format = AV_PIX_FMT_YUV420P;
  in->width = w;
  in->height = h;
  in->pts = 0;
  // Point the frame's planes at the I420 buffer: libx264 copies the input, nothing is written.
  in->data[0] = i420.data;
  in->data[1] = i420.data + w * h;
  in->data[2] = i420.data + w * h + (w / 2) * (h / 2);
  in->linesize[0] = w;
  in->linesize[1] = w / 2;
  in->linesize[2] = w / 2;

  CodecPtr dec = open_decoder();
  FramePtr out(av_frame_alloc());
  if (!out) throw Error("eval", "H.264 round trip: out of memory");
  bool decoded = false;
  auto drain_decoder = [&] {  // one frame in, at most one frame out
    const int rc = avcodec_receive_frame(dec.get(), out.get());
    if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return;
    check(rc, "decoding");
    decoded = true;
  };
  auto pass_packets = [&] {
    for (;;) {
      const int rc = avcodec_receive_packet(enc.get(), pkt.get());
      if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return;
      check(rc, "encoding");
      check(avcodec_send_packet(dec.get(), pkt.get()), "decoding");
      av_packet_unref(pkt.get());
      drain_decoder();
    }
  };
  check(avcodec_send_frame(enc.get(), in.get()), "encoding");
  pass_packets();
  check(avcodec_send_frame(enc.get(), nullptr), "flushing the encoder");
  pass_packets();
  if (!decoded) {
    check(avcodec_send_packet(dec.get(), nullptr), "flushing the decoder");
    drain_decoder();
  }
  if (!decoded || out->width != w || out->height != h || out->format != AV_PIX_FMT_YUV420P) {
    throw Error("eval", "H.264 round trip: the decoder gave no " + std::to_string(w) + "x" +
                            std::to_string(h) + " 4:2:0 frame back");
  }
  cv::Mat back(h * 3 / 2, w, CV_8UC1);
  for (int y = 0; y < h; ++y) {
    std::memcpy(back.ptr(y), out->data[0] + y * out->linesize[0], w);
  }
  for (int y = 0; y < h / 2; ++y) {
    std::memcpy(back.data + w * h + y * (w / 2), out->data[1] + y * out->linesize[1], w / 2);
    std::memcpy(back.data + w * h + (w / 2) * (h / 2) + y * (w / 2),
                out->data[2] + y * out->linesize[2], w / 2);
  }
  cv::Mat result;
  cv::cvtColor(back, result, cv::COLOR_YUV2BGR_I420);
  return result;
}

#else

bool h264_available() { return false; }

cv::Mat h264_round_trip(const cv::Mat&, int) {
  throw Error("eval", "H.264 round trip: this build has no libavcodec (install libavcodec-dev "
                      "and rebuild)");
}

#endif

}  // namespace vlrface::evaluation

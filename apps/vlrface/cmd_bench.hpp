// `vlrface bench`: per-stage latency, model load time, memory and threads, in one process.
#pragma once

#include <string>
#include <vector>

#include "bench_scale.hpp"
#include "context.hpp"

namespace CLI {
class App;
}

namespace vlrface::cli {

struct BenchOptions {
  std::vector<int> resolutions{16, 24, 32};
  std::vector<int> threads{1, 2};  // each is a separate pass; 0: OpenCV's default (all cores)
  int repeat = 50;
  int warmup = 5;
  std::vector<int> gallery_sizes{1000, 10000};
  std::string image;  // a face image to build the 640x480 frame from; empty: synthetic frame
  std::string json;   // write every number here too
  // "fp32,int8": also time each model at these precisions, interleaved; empty: not done.
  std::string precision;
  std::string calibration;     // dataset folder for int8 calibration; empty: the bench input
  int calibration_count = 32;  // images taken from it
  bool report = false;         // print the pasteable report block instead of the table
  // --gallery-scale N: the scale benchmark (bench_scale.hpp) instead of the per-stage one.
  ScaleBenchOptions scale;
};

// Adds the `bench` subcommand writing into `options`; main() runs run_bench() when it was given.
CLI::App* add_bench_command(CLI::App& app, BenchOptions& options);

int run_bench(const GlobalOptions& g, const BenchOptions& o);

}  // namespace vlrface::cli

// vlrface/dataset.hpp — evaluation datasets: images, landmarks, LFW-style pairs, gallery/probe.
//
// Usage:
//   vlrface::EvalDataset d = vlrface::load_eval_dataset("/data/lfw");
//   for (const auto& p : d.pairs) ... d.images[p.first] ...   // paths relative to d.root
// Layout (docs/EVALUATION.md):
//   DIR/images/<id>/<n>.jpg
//   DIR/landmarks.csv   optional: "file,identity,x1,y1,...,x5,y5" (align.hpp's landmark order)
//   DIR/pairs.txt       optional, LFW View-2: "<folds>\t<N>", then per fold N genuine lines
//                       "name\ti\tj" and N impostor lines "name1\ti\tname2\tj"; or
//                       "<folds>\t<N>\t<M>": M impostor lines per fold (more impostors pin a
//                       low FAR down; accuracy is then class-balanced, eval.hpp)
//   DIR/gallery.txt, DIR/probe.txt   optional, together: lines "images/<id>/<n>.jpg <id>"
// At least one of pairs.txt or gallery.txt + probe.txt must be present. Malformed files raise
// Error("eval", "<file>:<line>: <what is wrong>"); so does a listed image that does not exist.
// Thread safety: free functions without shared state.
#pragma once

#include <filesystem>
#include <istream>
#include <map>
#include <string>
#include <vector>

#include "vlrface/align.hpp"

namespace vlrface {

struct PairLine {
  std::string first, second;  // image paths relative to the dataset, "images/<id>/<n>.jpg"
  bool genuine = false;
  int fold = 0;  // 0-based
  int line = 0;  // in pairs.txt, for messages
};

struct PairsFile {
  int folds = 0;
  int per_fold = 0;            // N: genuine pairs per fold
  int impostors_per_fold = 0;  // M: impostor pairs per fold (LFW's header: M = N)
  std::vector<PairLine> pairs;
};

struct ListedImage {
  std::string file;  // relative to the dataset
  std::string identity;
  int line = 0;
};

// `name` is the file name used in error messages ("pairs.txt").
PairsFile parse_pairs(std::istream& in, const std::string& name);
std::vector<ListedImage> parse_image_list(std::istream& in, const std::string& name);
// Keyed by the file column; a header line starting with "file," is skipped.
std::map<std::string, Landmarks> parse_landmarks(std::istream& in, const std::string& name);

struct EvalDataset {
  std::filesystem::path root;
  PairsFile pairs;                             // folds == 0: no pairs.txt
  std::vector<ListedImage> gallery, probe;     // both empty: no gallery.txt/probe.txt
  std::map<std::string, Landmarks> landmarks;  // empty: no landmarks.csv
  bool has_pairs() const { return pairs.folds > 0; }
  bool has_identification() const { return !gallery.empty(); }
  bool has_landmarks() const { return !landmarks.empty(); }
};

// Reads and checks the dataset at `dir` (every referenced image must exist).
EvalDataset load_eval_dataset(const std::filesystem::path& dir);

}  // namespace vlrface

// eval/eval_report.hpp — an evaluation Report as people read it (a table), as JSON (every figure,
// for tools/compare_models.py and the docs) and as plots (ROC curves, similarity histograms).
//
// Usage:
//   const Report rep = evaluation::run(store, dataset, options);
//   evaluation::print_report(std::cout, rep, dataset_path, calibrate_far, seconds, jobs);
//   json j = evaluation::report_json(rep, dataset_path, calibrate_far, options);
//   j["date"] = ...;  // the caller adds what only it knows (date, machine, jobs, wall time)
//   evaluation::write_plots(rep, dataset_path, "plots/");
// calibrate_far is -1 when no calibration was asked for. Errors: vlrface::Error naming the file
// that cannot be written.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>

#include "eval_run.hpp"

namespace vlrface::evaluation {

void print_report(std::ostream& os, const Report& rep, const std::string& dataset, double calibrate,
                  double seconds, int jobs);

nlohmann::json report_json(const Report& rep, const std::string& dataset, double calibrate,
                           const RunOptions& ro);

void write_plots(const Report& rep, const std::string& dataset, const std::filesystem::path& dir);

}  // namespace vlrface::evaluation

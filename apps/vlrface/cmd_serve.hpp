// `vlrface serve`: the command's options; the server itself is the vlrface_serve library
// (serve/serve.hpp).
//
// Usage (main.cpp):
//   serve::ServeOptions serve;
//   CLI::App* c_serve = add_serve_command(app, serve);
//   ...
//   if (*c_serve) return run_serve(g, serve);
// run_serve blocks until SIGTERM or SIGINT, then returns 0; start-up problems are thrown.
#pragma once

#include <CLI/CLI.hpp>

#include "context.hpp"
#include "serve.hpp"

namespace vlrface::cli {

CLI::App* add_serve_command(CLI::App& app, serve::ServeOptions& options);
int run_serve(const GlobalOptions& g, const serve::ServeOptions& options);

}  // namespace vlrface::cli

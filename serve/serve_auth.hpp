// Access tokens for `vlrface serve`: where the token lives, generating it, checking requests.
//
// Usage:
//   TokenFile t = load_or_create_token(default_token_path());   // t.generated: print it once
//   if (!tokens_equal(presented, t.token)) -> 401
// A token is 32 random bytes from /dev/urandom as 64 hex digits, stored in a file of mode 0600
// in a folder of mode 0700; a token file that others can read is refused, as ssh does for keys.
// Thread safety: free functions without shared state.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace vlrface::serve {

struct TokenFile {
  std::string token;
  std::filesystem::path path;
  bool generated = false;  // created by this call
};

// $XDG_CONFIG_HOME/vlrface/token, else ~/.config/vlrface/token.
std::filesystem::path default_token_path();

// Reads the token (surrounding whitespace ignored), or creates the file with a new token when it
// does not exist. Error("serve", ...) for a token file that is unreadable, readable by group or
// others, or holds fewer than 16 characters.
TokenFile load_or_create_token(const std::filesystem::path& path);

std::string random_hex(std::size_t bytes);

// Compares in time independent of where the strings differ (length leaks, content does not).
bool tokens_equal(std::string_view a, std::string_view b);

// True for addresses only this machine can reach: 127.0.0.0/8, ::1, "localhost".
bool is_loopback_host(const std::string& host);

// The value of cookie `name` in a Cookie header, or "".
std::string cookie_value(const std::string& cookie_header, const std::string& name);

}  // namespace vlrface::serve

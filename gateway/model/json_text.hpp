#pragma once
// Writing small JSON texts (event attributes, CLI output) without a library.

#include <string>
#include <string_view>

namespace communegw {

// Appends text as a JSON string literal, escaping what JSON requires.
void append_json_string(std::string& out, std::string_view text);

}  // namespace communegw

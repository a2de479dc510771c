#pragma once
// Writing small JSON texts (event attributes, CLI output) without a library.

#include <cstddef>
#include <string>
#include <string_view>

namespace communegw {

// Appends text as a JSON string literal, escaping what JSON requires.
void append_json_string(std::string& out, std::string_view text);

// Appends a finite double as a JSON number: the shortest text that reads back
// as the same double (what fmt's "{}" writes). Not for NaN or infinity, which
// JSON cannot hold (validated readings are finite).
void append_json_number(std::string& out, double value);
// The same, written at `out`, which has room for json_number_max_chars; returns the end.
inline constexpr std::size_t json_number_max_chars = 32;
char* write_json_number(char* out, double value);

}  // namespace communegw

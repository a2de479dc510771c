#include "gateway/service/process_io.hpp"

#include <fstream>
#include <string>

namespace communegw {

std::optional<std::uint64_t> process_write_bytes() {
  std::ifstream io("/proc/self/io");
  std::string key;
  std::uint64_t value = 0;
  while (io >> key >> value) {
    if (key == "write_bytes:") return value;
  }
  return std::nullopt;
}

}  // namespace communegw

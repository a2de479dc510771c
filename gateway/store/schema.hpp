#pragma once
// Schema migrations, in order. PRAGMA user_version holds how many have been
// applied. Never edit a released step: add a new one.

#include <string>
#include <vector>

namespace communegw {

const std::vector<std::string>& schema_migrations();

}  // namespace communegw

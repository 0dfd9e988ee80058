// The SQLite gallery store (internal): Store over one SQLite file, errors mapped
// to fk::Status. Created through Store::Open (store.h).
#pragma once

#include <string>

#include "facekit/status.h"

namespace fk::gallery {

// Maps an SQLite result code to a Status naming the database file and the action.
Status SqliteStatus(int rc, const std::string& file, const std::string& what, const char* sqlite_msg);

}  // namespace fk::gallery

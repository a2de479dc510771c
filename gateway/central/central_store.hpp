#pragma once
// The reference centre-side receiver's store (`communegw central`): what the
// programme server keeps of every gateway's uplink. Records are unique by
// (gateway, stream, seq): a batch sent twice (a gateway that crashed before
// it saw the PUBACK, a reconnect) is stored once and the copy counted. Of an
// aggregate window only the latest revision is kept. Gaps per gateway and
// stream are what is missing below the highest seq received.
//
// Threading: one thread (the MQTT callback thread of `communegw central`).

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/store/sqlite.hpp"

namespace communegw {

struct central_ingest_result {
  bool ok = false;
  std::string error;          // why the message was refused (bad topic, not zstd, bad JSON…)
  std::size_t stored = 0;     // new records
  std::size_t duplicates = 0; // records already held
};

struct central_stream_summary {
  std::string gateway, stream;
  std::int64_t records = 0, max_seq = 0, gaps = 0, duplicates = 0, batches = 0, wire_bytes = 0;
};

class central_store {
 public:
  explicit central_store(const std::filesystem::path& path);

  // One uplink MQTT message, in one transaction (committed before the MQTT
  // callback returns, so before the PUBACK: nothing acknowledged is lost).
  central_ingest_result ingest(std::string_view topic, std::string_view payload);

  std::vector<central_stream_summary> summary();
  sqlite::database& database() { return db_; }

 private:
  sqlite::database db_;
  sqlite::statement insert_record_, upsert_aggregate_, upsert_incident_, add_stats_, set_status_, count_rejection_;
};

// The summary as an aligned text table (one line per gateway and stream).
std::string format_central_summary(const std::vector<central_stream_summary>& rows);

}  // namespace communegw

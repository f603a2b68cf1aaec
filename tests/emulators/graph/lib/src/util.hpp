// Small helpers of graph-emulator: Graph's error replies, ids, times, JSON.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "emulator/http.hpp"

namespace graph_emulator {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

// A Graph error on its way to the client: {"error":{"code","message","innerError":{...}}}.
struct GraphError : std::runtime_error {
  GraphError(int status, std::string code, std::string message)
      : std::runtime_error(message), status(status), code(std::move(code)) {}
  int status;
  std::string code;
  std::vector<emulator::Header> headers;
  std::string inner_code;  // innerError's "code" and "status" (throttling) when not empty
};

GraphError not_found(const std::string& what = "The specified object was not found in the store.");
GraphError bad_request(const std::string& code, const std::string& message);

// The reply for an error; `client_request_id` echoes the request's header (or a new GUID).
emulator::Reply error_reply(const GraphError& e, const std::string& client_request_id);

std::string new_guid();
// An Outlook-style item id: "AAMkA" + base64url of random bytes, ending in "=".
std::string new_item_id();
// A change key: base64 of 16 random bytes (Outlook's look: "y53lbKh6jkaxHzFwGhgyxgAAw5zhug==").
std::string new_change_key();
std::string random_token(std::size_t bytes);  // base64url, no padding

// UTC milliseconds since 1970 -> "2017-04-15T03:00:50.7570000Z" (digits: 0 or 7).
std::string format_utc(std::int64_t ms, int digits = 7);
// "2020-08-18T12:51:51" (innerError's date: no zone, as Graph prints it).
std::string format_inner_date(std::int64_t ms);
// Days since 1970-01-01 of a civil date, and back.
std::int64_t days_from_civil(int y, unsigned m, unsigned d);
void civil_from_days(std::int64_t z, int& y, unsigned& m, unsigned& d);
// ISO 8601 with an offset or Z (or none: UTC) -> ms; nullopt if malformed.
std::optional<std::int64_t> parse_iso_utc(const std::string& s);

// JSON
std::string to_json(const rapidjson::Value& v);
std::string str_member(const rapidjson::Value& obj, const char* key);
void put_string(rapidjson::Value& obj, const char* key, const std::string& value,
                rapidjson::Document::AllocatorType& a);
void put_value(rapidjson::Value& obj, const std::string& key, rapidjson::Value& value,
               rapidjson::Document::AllocatorType& a);

std::string lower(std::string s);
bool iequal(const std::string& a, const std::string& b);
std::vector<std::string> split(const std::string& s, char sep);
std::string trim(const std::string& s);
std::string url_encode(const std::string& s);

}  // namespace graph_emulator

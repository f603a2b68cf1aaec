// Request bodies: JSON (iteratively parsed, so that deep nesting cannot exhaust the stack),
// checked against the CSDL type before anything is written; and If-Match against change keys.
#include "service.hpp"

namespace graph_emulator {

rapidjson::Document parse_body(const emulator::Request& req, const Csdl& csdl,
                               const std::string& type, const BodyRules& rules) {
  const std::string unreadable =
      "Unable to read JSON request payload. Please ensure Content-Type header is set and payload "
      "is of valid JSON format.";
  std::string ct = lower(req.header("Content-Type"));
  if (ct.find("application/json") == std::string::npos) throw bad_request("BadRequest", unreadable);
  rapidjson::Document d;
  d.Parse<rapidjson::kParseIterativeFlag>(req.body.c_str(), req.body.size());
  if (d.HasParseError()) throw bad_request("BadRequest", unreadable);
  if (auto e = csdl.check_body(d, type, rules)) throw bad_request(e->code, e->message);
  return d;
}

void check_if_match(const emulator::Request& req, const Item& it) {
  std::string h = trim(req.header("If-Match"));
  if (h.empty() || h == "*") return;
  for (auto tag : split(h, ',')) {
    tag = trim(tag);
    if (tag.rfind("W/", 0) == 0) tag = tag.substr(2);
    if (tag.size() >= 2 && tag.front() == '"' && tag.back() == '"')
      tag = tag.substr(1, tag.size() - 2);
    if (tag == it.change_key) return;
  }
  throw GraphError(412, "ErrorIrresolvableConflict",
                   "The send or update operation could not be performed because the change key "
                   "passed in the request does not match the current change key for the item.");
}

}  // namespace graph_emulator

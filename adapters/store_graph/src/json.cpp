#include "json.hpp"

#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "crmsync/model/text.hpp"

namespace crmsync::graph {

Result<Doc> parse_object(std::string_view body, std::string_view what, std::size_t max_bytes) {
  if (body.size() > max_bytes)
    return Error::Invalid(std::string(what) + ": a reply of " + std::to_string(body.size()) +
                          " bytes, over the " + std::to_string(max_bytes) + " allowed");
  Doc doc;
  // Iterative: deep nesting cannot exhaust the stack; the encoding is validated as it is read.
  doc.Parse<rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag>(body.data(),
                                                                                    body.size());
  if (doc.HasParseError())
    return Error::Invalid(std::string(what) + ": malformed JSON at byte " +
                          std::to_string(doc.GetErrorOffset()) + ": " +
                          rapidjson::GetParseError_En(doc.GetParseError()));
  if (!doc.IsObject()) return Error::Invalid(std::string(what) + ": the JSON is not an object");
  return doc;
}

const Json* member(const Json& obj, std::string_view key) {
  if (!obj.IsObject()) return nullptr;
  auto it = obj.FindMember(Json(rapidjson::StringRef(key.data(), key.size())));
  return it == obj.MemberEnd() ? nullptr : &it->value;
}

std::string text(const Json& obj, std::string_view key) {
  const Json* v = member(obj, key);
  if (!v || !v->IsString()) return {};
  return std::string(v->GetString(), v->GetStringLength());
}

Result<std::optional<std::string>> opt_text(const Json& obj, std::string_view key) {
  const Json* v = member(obj, key);
  if (!v || v->IsNull()) return std::optional<std::string>();
  if (!v->IsString()) return Error::Invalid("'" + std::string(key) + "' is not a string");
  return std::optional<std::string>(std::string(v->GetString(), v->GetStringLength()));
}

Result<std::vector<std::string>> text_list(const Json& obj, std::string_view key) {
  std::vector<std::string> out;
  const Json* v = member(obj, key);
  if (!v || v->IsNull()) return out;
  if (!v->IsArray()) return Error::Invalid("'" + std::string(key) + "' is not an array");
  for (const auto& e : v->GetArray()) {
    if (!e.IsString()) return Error::Invalid("'" + std::string(key) + "' holds a non-string");
    out.emplace_back(e.GetString(), e.GetStringLength());
  }
  return out;
}

Json str(std::string_view s, Alloc& a) {
  return Json(s.data(), static_cast<rapidjson::SizeType>(s.size()), a);
}

void put(Json& obj, std::string_view key, Json value, Alloc& a) {
  obj.AddMember(str(key, a), value, a);
}

std::string serialize(const Json& v) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  v.Accept(w);
  return std::string(sb.GetString(), sb.GetSize());
}

Result<void> check_text(std::string_view field, std::string_view s) {
  if (!is_valid_utf8(s) || s.find('\0') != std::string_view::npos)
    return Error::Invalid("field " + std::string(field) +
                          ": text Graph cannot carry (invalid UTF-8 or a NUL character)");
  return Ok();
}

}  // namespace crmsync::graph

// E-mails: SPEC §7's e-mail fields on Graph's message. SentTime and ReceivedTime are read only;
// subject, body and the message id change only while the message is a draft (message-update.md:
// the server refuses the rest, which comes back as kInvalid). T4: after tracking only the link
// and Regarding change, and those are extended properties.
#include "codec.hpp"
#include "crmsync/model/mapping.hpp"

namespace crmsync::graph {
namespace {

bool known(std::string_view name) {
  for (std::string_view n : {"Subject", "Body", "From", "To", "Cc", "MessageId", "Importance",
                             "SentTime", "ReceivedTime", "Regarding"})
    if (n == name) return true;
  return false;
}

Result<std::string> opt_text_field(const FieldMap& merged, std::string_view name) {
  const Value* v = field(merged, name);
  if (empty_value(v)) return std::string();
  return text_value(name, *v);
}

Result<Json> recipients(const FieldMap& merged, std::string_view name, Alloc& a) {
  Json arr(rapidjson::kArrayType);
  const Value* v = field(merged, name);
  if (empty_value(v)) return arr;
  auto parties = parties_value(name, *v);
  if (!parties) return parties.error();
  for (const Party& p : *parties) {
    Json r(rapidjson::kObjectType);
    put(r, "emailAddress", email_address(p, a), a);
    arr.PushBack(r, a);
  }
  return arr;
}

PartyList parties_in(const Json& v, std::string_view key) {
  PartyList out;
  const Json* list = member(v, key);
  if (!list || !list->IsArray()) return out;
  for (const auto& r : list->GetArray())
    if (const Json* e = member(r, "emailAddress"); e && e->IsObject()) out.push_back(party_of(*e));
  return out;
}

}  // namespace

Result<void> write_message(const FieldMap& merged, const std::set<std::string>& changed,
                           FieldsOut out) {
  auto& a = out.alloc;
  for (const auto& name : changed) {
    if (known(name)) continue;
    if (is_known_store_field(ItemKind::kEmail, name))
      return invalid_field(name, "not supported by the Graph store");
    return invalid_field(name, "unknown for an e-mail");
  }
  for (const char* name : {"SentTime", "ReceivedTime"})
    if (const Value* v = field(merged, name); changed.count(name) && v)
      CRMSYNC_TRY(check_type(name, *v, "time"));
  if (changed.count("Subject")) {
    auto t = opt_text_field(merged, "Subject");
    if (!t) return t.error();
    put(out.body, "subject", str(*t, a), a);
  }
  if (changed.count("Body")) {
    auto t = opt_text_field(merged, "Body");
    if (!t) return t.error();
    Json body(rapidjson::kObjectType);
    put(body, "contentType", str("text", a), a);
    put(body, "content", str(*t, a), a);
    put(out.body, "body", std::move(body), a);
  }
  if (changed.count("MessageId")) {
    auto t = opt_text_field(merged, "MessageId");
    if (!t) return t.error();
    if (!t->empty()) put(out.body, "internetMessageId", str(*t, a), a);
  }
  if (changed.count("Importance")) {
    const Value* v = field(merged, "Importance");
    std::string wire = "normal";
    if (!empty_value(v)) {
      auto w = importance_wire(*v);
      if (!w) return w.error();
      wire = *w;
    }
    put(out.body, "importance", str(wire, a), a);
  }
  if (changed.count("From")) {
    const Value* v = field(merged, "From");
    if (empty_value(v)) {
      put(out.body, "from", Json(rapidjson::kNullType), a);
    } else {
      auto parties = parties_value("From", *v);
      if (!parties) return parties.error();
      if (parties->size() != 1) return invalid_field("From", "expected exactly one party");
      Json from(rapidjson::kObjectType);
      put(from, "emailAddress", email_address(parties->front(), a), a);
      put(out.body, "from", std::move(from), a);
    }
  }
  for (auto [name, graph] : {std::pair{"To", "toRecipients"}, std::pair{"Cc", "ccRecipients"}}) {
    if (!changed.count(name)) continue;
    auto r = recipients(merged, name, a);
    if (!r) return r.error();
    put(out.body, graph, std::move(*r), a);
  }
  if (changed.count("Regarding")) {
    const Value* v = field(merged, "Regarding");
    std::string wire;
    if (!empty_value(v)) {
      auto r = reference_wire("Regarding", *v);
      if (!r) return r.error();
      wire = *r;
    }
    out.props.emplace_back(named_prop("Regarding"), wire);
  }
  return Ok();
}

Result<FieldMap> read_message(const Json& v, const Props& props) {
  FieldMap out;
  auto set_text = [&](const char* name, std::string t) {
    if (!t.empty()) out[name] = std::move(t);
  };
  set_text("Subject", text(v, "subject"));
  if (const Json* body = member(v, "body"); body && body->IsObject())
    set_text("Body", text(*body, "content"));
  set_text("MessageId", text(v, "internetMessageId"));
  if (std::string imp = text(v, "importance"); !imp.empty()) {
    auto i = importance_from(imp);
    if (!i) return i.error();
    out["Importance"] = *i;
  }
  if (const Json* from = member(v, "from"); from && from->IsObject())
    if (const Json* e = member(*from, "emailAddress"); e && e->IsObject())
      out["From"] = PartyList{party_of(*e)};
  if (auto to = parties_in(v, "toRecipients"); !to.empty()) out["To"] = to;
  if (auto cc = parties_in(v, "ccRecipients"); !cc.empty()) out["Cc"] = cc;
  for (auto [name, graph] :
       {std::pair{"SentTime", "sentDateTime"}, std::pair{"ReceivedTime", "receivedDateTime"}}) {
    std::string t = text(v, graph);
    if (t.empty()) continue;
    auto parsed = UtcTime::parse(t);
    if (!parsed) return Error::Invalid(std::string("bad ") + graph);
    out[name] = *parsed;
  }
  if (auto it = props.find(canonical_prop(named_prop("Regarding")));
      it != props.end() && !it->second.empty()) {
    auto r = reference_from("Regarding", it->second);
    if (!r) return r.error();
    out["Regarding"] = *r;
  }
  return out;
}

}  // namespace crmsync::graph

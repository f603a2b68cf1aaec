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
    auto t = merged_text(merged, "Subject");
    if (!t) return t.error();
    put(out.body, "subject", str(*t, a), a);
  }
  if (changed.count("Body")) CRMSYNC_TRY(write_body(merged, out));
  if (changed.count("MessageId")) {
    auto t = merged_text(merged, "MessageId");
    if (!t) return t.error();
    if (!t->empty()) put(out.body, "internetMessageId", str(*t, a), a);
  }
  if (changed.count("Importance")) CRMSYNC_TRY(write_importance(merged, out));
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
  if (changed.count("Regarding")) CRMSYNC_TRY(write_regarding_prop(merged, out));
  return Ok();
}

Result<FieldMap> read_message(const Json& v, const Props& props) {
  FieldMap out;
  auto set_text = [&](const char* name, std::string t) {
    if (!t.empty()) out[name] = std::move(t);
  };
  set_text("Subject", text(v, "subject"));
  set_text("MessageId", text(v, "internetMessageId"));
  CRMSYNC_TRY(read_body_and_importance(v, out));
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
  CRMSYNC_TRY(read_regarding_prop(props, out));
  return out;
}

}  // namespace crmsync::graph

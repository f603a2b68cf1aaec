// Target crm_response: a CRM Organization Service reply, as the adapter reads it.
#include <functional>

#include "codec.hpp"
#include "crmsync/core/original_state.hpp"
#include "crmsync/fuzz/harness.hpp"
#include "crmsync/model/mapping.hpp"
#include "crmsync/model/text.hpp"
#include "errors.hpp"

namespace crmsync::fuzz {
namespace {

using soap::Element;

// What parse_xml promises about every tree it returns.
std::string check_tree(const Element& e, int depth, const soap::ParseLimits& limits) {
  if (depth > limits.max_depth) return "tree deeper than max_depth";
  if (e.name().empty()) return "element without a local name";
  if (!crmsync::is_valid_utf8(e.text())) return "text of <" + e.name() + "> is not valid UTF-8";
  for (const auto& a : e.attributes())
    if (!crmsync::is_valid_utf8(a.value)) return "attribute " + a.local + " is not valid UTF-8";
  for (const auto& c : e.children())
    if (auto v = check_tree(c, depth + 1, limits); !v.empty()) return v;
  return {};
}

// A bad reply is an error for that reply, never a crash or a different kind of error.
template <typename T>
std::string check_reader(const Result<T>& r, std::string_view what) {
  if (r.ok()) return {};
  if (!r.error().is(ErrorKind::kInvalid))
    return std::string(what) + " answered " + r.error().describe() + " instead of kInvalid";
  if (r.error().message().empty()) return std::string(what) + " gave an empty error message";
  return {};
}

std::string check_record(const CrmRecord& r, std::string_view what) {
  if (r.id.is_nil()) return std::string(what) + " gave a record without an id";
  for (const auto& [name, value] : r.attributes)
    if (const auto* s = std::get_if<std::string>(&value); s && !crmsync::is_valid_utf8(*s))
      return std::string(what) + " gave attribute " + name + " as invalid UTF-8";
  // The mapping is the next reader of hostile CRM values: wrong types must be kInvalid.
  static const FixedOffsetZone kZone(std::chrono::minutes(90));
  auto store = crm_to_store(r.entity, r.attributes, MapContext{&kZone, true});
  return check_reader(store, "crm_to_store");
}

// Every field of a record (the attributes in the original state's canonical form).
std::string describe(const CrmRecord& r) {
  return std::string(to_string(r.entity)) + " " + r.id.str() + " " +
         std::to_string(r.modified_on.ms) + " " + (r.owner ? r.owner->str() : "-") + " [" +
         r.row_version + "] " + serialize_fields(r.attributes);
}

std::string describe(const std::vector<CrmRecord>& records, bool more, const std::string& cookie) {
  std::string out = std::string(more ? "more|" : "last|") + cookie;
  for (const auto& r : records) out += "\n" + describe(r);
  return out;
}

}  // namespace

Outcome crm_response(std::string_view input) {
  Outcome out;
  const soap::ParseLimits limits;
  const auto changes_in_place = crm_soap::read_entity_changes_reply(input, limits);
  const auto multiple_in_place = crm_soap::read_retrieve_multiple_reply(input, limits);
  const bool taken = changes_in_place || multiple_in_place;
  auto env = soap::parse_envelope(input, limits);
  if (!env.ok()) {
    out.violation = check_reader(env, "parse_envelope");
    if (taken) out.violation = "a reply parse_envelope refuses was read in place";
    return out;
  }
  out.accepted = true;
  if (taken && (env->fault || !env->body)) {
    out.violation = "a fault or an empty Body was read in place";
    return out;
  }
  if (env->fault) {
    const Error e = crm_soap::error_from_fault(*env->fault);
    if (e.message().empty()) out.violation = "error_from_fault gave an empty message";
    if (auto ms = e.retry_after_ms(); ms && (*ms < 0 || *ms > 24 * 3600 * 1000))
      out.violation = "Retry-After of " + std::to_string(*ms) + " ms is out of range";
    for (const auto& [key, value] : env->fault->details) {
      (void)crm_soap::timespan_ms(value);
      (void)crm_soap::retry_after_header_ms(value);
    }
    return out;
  }
  if (!env->body) return out;
  const Element& body = *env->body;
  if (auto v = check_tree(body, 3, limits); !v.empty()) {
    out.violation = v;
    return out;
  }
  std::string& v = out.violation;
  auto retrieve = crm_soap::parse_retrieve(body);
  if (v = check_reader(retrieve, "parse_retrieve"); !v.empty()) return out;
  if (retrieve.ok() && !(v = check_record(*retrieve, "parse_retrieve")).empty()) return out;

  auto multiple = crm_soap::parse_retrieve_multiple(body);
  if (v = check_reader(multiple, "parse_retrieve_multiple"); !v.empty()) return out;
  if (multiple_in_place) {
    if (!multiple.ok()) {
      v = "read_retrieve_multiple_reply took a reply parse_retrieve_multiple refuses";
      return out;
    }
    if (describe(multiple_in_place->records, multiple_in_place->more,
                 multiple_in_place->paging_cookie) !=
        describe(multiple->records, multiple->more, multiple->paging_cookie)) {
      v = "read_retrieve_multiple_reply gave another page than parse_retrieve_multiple";
      return out;
    }
  }
  if (multiple.ok())
    for (const auto& r : multiple->records)
      // A "privilege" row (not a synced entity) may come without an id.
      if (!r.id.is_nil() && !(v = check_record(r, "parse_retrieve_multiple")).empty()) return out;

  auto changes = crm_soap::parse_entity_changes(body);
  if (v = check_reader(changes, "parse_entity_changes"); !v.empty()) return out;
  if (changes_in_place) {
    if (!changes.ok()) {
      v = "read_entity_changes_reply took a reply parse_entity_changes refuses";
      return out;
    }
    auto whole = [](const CrmChangePage& p) {
      std::string s = describe(p.new_or_updated, p.more, p.paging_cookie) + "|" + p.data_version;
      for (const auto& id : p.removed) s += "|" + id.str();
      return s;
    };
    if (whole(*changes_in_place) != whole(*changes)) {
      v = "read_entity_changes_reply gave another page than parse_entity_changes";
      return out;
    }
  }
  if (changes.ok()) {
    for (const auto& r : changes->new_or_updated)
      if (v = check_record(r, "parse_entity_changes"); !v.empty()) return out;
    for (const auto& id : changes->removed)
      if (id.is_nil()) {
        v = "parse_entity_changes removed a nil id";
        return out;
      }
  }

  auto batch = crm_soap::parse_execute_multiple(body);
  if (v = check_reader(batch, "parse_execute_multiple"); !v.empty()) return out;
  if (batch.ok())
    for (const auto& item : *batch)
      if (item.fault && crm_soap::error_from_fault(*item.fault).message().empty()) {
        v = "error_from_fault gave an empty message";
        return out;
      }

  if (v = check_reader(crm_soap::parse_who_am_i(body), "parse_who_am_i"); !v.empty()) return out;
  v = check_reader(crm_soap::parse_user_privileges(body), "parse_user_privileges");
  return out;
}

}  // namespace crmsync::fuzz

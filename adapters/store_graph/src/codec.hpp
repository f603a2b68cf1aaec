// Graph JSON for the store adapter: SPEC §7 store fields <-> contact, todoTask, event and message
// properties (one file per kind), the CRM link (single-value extended properties in crmsync's
// property set; a linked resource on To Do tasks, which have none), the categories of U1, and
// a defensive reader of entities. No I/O here.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "crmsync/core/store_adapter.hpp"
#include "crmsync/core/track_category.hpp"
#include "json.hpp"
#include "zone.hpp"

namespace crmsync::graph {

// crmsync's property set: the EWS and MAPI adapters' names, so one mailbox reads the same.
inline constexpr std::string_view kPropertySet = "c3a7d2f0-5b1e-4e8a-9f6d-2a4b8c1e7f35";
// The linked resource that carries a To Do task's CRM link.
inline constexpr std::string_view kLinkApplication = "crmsync";

// "String {set} Name CrmId": a named property of crmsync's set.
std::string named_prop(std::string_view name, std::string_view type = "String");
// An extended property id in the form Graph compares: type, GUID, tag and "Name"/"Id" in lower
// case, a name as written.
std::string canonical_prop(std::string_view id);
// The link's properties, and those of a kind's fields that live in MAPI properties.
std::vector<std::string> props_of_kind(ItemKind kind);
// $expand of the extended properties this adapter reads for a kind (tasks: linkedResources).
std::string expand_of(ItemKind kind);
const std::string& crm_id_prop();

std::string_view entity_type(ItemKind kind);  // "contact", "todoTask", "event", "message"

struct CodecContext {
  const Zone* zone = nullptr;
  const TrackCategory* track = nullptr;
};

// What every entity of a collection carries, read defensively. `removed`: an @removed entry.
struct Entity {
  std::string id;
  std::string change_key;  // @odata.etag (else changeKey)
  UtcTime modified;
  std::vector<std::string> categories;
  bool removed = false;
  std::string event_type;       // events: singleInstance, seriesMaster, occurrence, exception
  std::string parent_folder;    // messages
  std::optional<CrmLink> link;  // when the entity came with its link properties expanded
};
// kInvalid for an @odata.type of another type, a missing id, malformed members.
Result<Entity> entity_of(ItemKind kind, const Json& v);

// Extended property values of an entity by canonical id.
using Props = std::map<std::string, std::string>;
Props props_in(const Json& v);

// The mapped store item. kInvalid for values that do not parse, a recurring event (U5).
Result<StoreItem> item_of(ItemKind kind, const Json& v, Folder folder, const CodecContext& ctx);
// The CRM link of an entity whose link properties (or linked resources) were expanded.
Result<CrmLink> link_of(ItemKind kind, const Json& v);

// A POST body. kInvalid for unknown fields, values of the wrong type, text Graph cannot carry.
// Events carry `transactionId` (the CRM id) so that a retried POST creates nothing (X1).
Result<Doc> create_body(const NewStoreItem& item, const CodecContext& ctx);

struct Patch {
  Doc body;  // the PATCH of the item: only what changes (an empty object: nothing)
  // Tasks: the new value of crmsync's linked resource when the link or Regarding changes.
  std::optional<Doc> linked;
};
// The PATCH that sets `changes` (null clears) and, when given, the link (with the track category
// kept in step) on `current`. Properties that hold several fields (emailAddresses, businessPhones,
// businessAddress, start/end, attendees) are written whole from the current values and the changes.
Result<Patch> patch_of(const StoreItem& current, const FieldMap& changes,
                       const std::optional<CrmLink>& link, const CodecContext& ctx);
// The PATCH of the tracked mark alone (and the categories in step), for U1 and record_decision:
// a track keeps the item's CRM id, an untrack clears the whole link.
Result<Patch> mark_patch(const StoreItem& current, bool tracked, const CodecContext& ctx);

// Whether a kind's field lives in an extended property (which a create's answer leaves out).
bool in_props(ItemKind kind, std::string_view field);

// The id of crmsync's linked resource on a task read with $expand=linkedResources ("" if none).
std::string linked_resource_id(const Json& task);

// ---- per kind (codec_contact.cpp, codec_task.cpp, codec_event.cpp, codec_message.cpp) ----

// Fields written through MAPI properties: (id as Graph spells it, value; "" clears).
using PropWrites = std::vector<std::pair<std::string, std::string>>;
struct FieldsOut {
  Json& body;
  Alloc& alloc;
  PropWrites& props;
};
// Writes the properties of the fields named in `changed`, from `merged` (the item's values after
// the change); composite properties whole. kInvalid for an unknown field or a wrong value.
Result<void> write_contact(const FieldMap& merged, const std::set<std::string>& changed,
                           FieldsOut out);
Result<void> write_task(const FieldMap& merged, const std::set<std::string>& changed,
                        FieldsOut out);
Result<void> write_event(const FieldMap& merged, const std::set<std::string>& changed,
                         const CodecContext& ctx, FieldsOut out);
Result<void> write_message(const FieldMap& merged, const std::set<std::string>& changed,
                           FieldsOut out);
Result<FieldMap> read_contact(const Json& v, const Props& props);
Result<FieldMap> read_task(const Json& v);
Result<FieldMap> read_event(const Json& v, const Props& props, const CodecContext& ctx);
Result<FieldMap> read_message(const Json& v, const Props& props);
std::vector<std::string> contact_props();  // the MAPI properties contacts map
bool contact_in_props(std::string_view field);

// ---- shared value helpers (codec.cpp) ----
Error invalid_field(std::string_view field, std::string_view why);
Result<std::string> text_value(std::string_view field, const Value& v);  // checked text
const Value* field(const FieldMap& m, std::string_view name);
bool empty_value(const Value* v);  // absent, null, "" or an empty list
// Dates: written as midnight UTC, read as the nearest midnight (a date stored at local midnight
// anywhere in UTC-12..+12 keeps its day).
std::string date_wire(const Date& d);
Result<Date> date_from_wire(std::string_view field, std::string_view text);
Result<Value> importance_from(std::string_view text);  // low/normal/high
Result<std::string> importance_wire(const Value& v);
// {"address","name"} <-> Party.
Json email_address(const Party& p, Alloc& a);
Party party_of(const Json& email_address);
Result<PartyList> parties_value(std::string_view field, const Value& v);
// A reference ("entity:guid") as text, for Regarding.
Result<std::string> reference_wire(std::string_view field, const Value& v);
Result<Value> reference_from(std::string_view field, std::string_view text);
// The text of a field after a change ("" when absent); kInvalid for another type.
Result<std::string> merged_text(const FieldMap& merged, std::string_view name);
// The writers and readers several kinds share: Body as a text itemBody, Importance (cleared:
// normal), Regarding in crmsync's extended property (events, messages).
Result<void> write_body(const FieldMap& merged, FieldsOut out);
Result<void> write_importance(const FieldMap& merged, FieldsOut out);
Result<void> write_regarding_prop(const FieldMap& merged, FieldsOut out);
Result<void> read_body_and_importance(const Json& v, FieldMap& out);
Result<void> read_regarding_prop(const Props& props, FieldMap& out);
// Rejects a value of the wrong type for a field that is not written (read-only).
Result<void> check_type(std::string_view field, const Value& v, std::string_view type);

}  // namespace crmsync::graph

// EWS wire format for the store adapter: the field table (SPEC §7 store fields <-> EWS
// elements and extended properties), request writers (element order as types.xsd and
// messages.xsd demand) and defensive response readers. No I/O here. Implemented in
// item_fields.cpp (the table per kind), item_codec.cpp (items), requests.cpp, responses.cpp,
// hidden_codec.cpp (lease and queue items) and wire.cpp (the pieces they share).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "crmsync/core/category_store.hpp"
#include "crmsync/core/store_adapter.hpp"
#include "crmsync/soap/xml.hpp"

namespace crmsync::ews {

inline constexpr std::string_view kMNs =
    "http://schemas.microsoft.com/exchange/services/2006/messages";
inline constexpr std::string_view kTNs =
    "http://schemas.microsoft.com/exchange/services/2006/types";
// The property set of crmsync's named properties (CRM link, Regarding, lease, queue).
inline constexpr std::string_view kPropertySet = "c3a7d2f0-5b1e-4e8a-9f6d-2a4b8c1e7f35";
inline constexpr std::string_view kLeaseClass = "IPM.Configuration.crmsync.lease";
inline constexpr std::string_view kQueueClass = "IPM.Configuration.crmsync.queue";

// The distinguished folder id ("contacts", "sentitems", ...) of a store folder.
std::string_view distinguished_id(Folder f);
using crmsync::kind_of_folder;  // core/ports
std::vector<Folder> folders_of(ItemKind kind);
inline constexpr Folder kAllFolders[] = {Folder::kContacts, Folder::kTasks,     Folder::kCalendar,
                                         Folder::kInbox,    Folder::kSentItems, Folder::kDrafts};

// A whole SOAP envelope around one operation element (RequestServerVersion Exchange2010_SP2),
// acting as `impersonate` (an SMTP address, ExchangeImpersonation) when it is not empty.
std::string envelope(std::string_view operation_xml, std::string_view impersonate = {});

struct ItemRef {
  std::string id;
  std::string change_key;
};

// ---- requests (each returns the operation element; wrap with envelope()) ----

// CreateItem of a store item. kInvalid for unknown fields, values of the wrong type or text
// that XML cannot carry. Appointments carry `zone_id` (the user's Windows zone id) as their
// StartTimeZone and EndTimeZone: an all-day event's midnights are that zone's. `categories`
// (SPEC U1, crmsync/core/category_store.hpp): the item's categories and TrackCategory.
Result<std::string> create_item(const NewStoreItem& item, std::string_view zone_id,
                                const CategoryWrite& categories = {});
// The same in two steps, for many items in one request: each item's element (checked as
// create_item checks it), then one CreateItem of elements that all go to `folder`.
Result<std::string> item_element(const NewStoreItem& item, std::string_view zone_id,
                                 const CategoryWrite& categories = {});
std::string create_items(Folder folder, const std::vector<std::string>& elements);
// UpdateItem with NeverOverwrite. kInvalid as create_item; "" when there is nothing to write
// (no changes, or only read-only fields such as Organizer and Duration). An appointment whose
// Start, End or AllDayEvent changes gets `zone_id` as its zones too. `categories` replaces the
// item's categories and sets or deletes TrackCategory as it says.
Result<std::string> update_item(ItemKind kind, const ItemRef& ref, const FieldMap& changes,
                                const std::optional<CrmLink>& link, std::string_view zone_id,
                                const CategoryWrite& categories = {});
// UpdateItem with NeverOverwrite of the tracked mark alone, as the user's track or untrack
// sets it (SPEC U1, U2): tracked sets Tracked and leaves the rest of the CRM link, untracked
// clears the whole link; with `categories`.
Result<std::string> update_mark(ItemKind kind, const ItemRef& ref, bool tracked,
                                const CategoryWrite& categories);
// GetItem of many ids with every mapped field (full), or a probe: id, parent folder, class,
// and what U1 needs of it (category_mark_of).
std::string get_items(const std::vector<std::string>& ids, bool full);
std::string delete_item(const std::string& id, ItemKind kind, bool hard);
std::string get_folders(const std::vector<std::string_view>& distinguished);
// FindItem ids of a folder modified at or after `since`, newest first, one page; with
// `headers`, also each item's class and Tracked flag (for header_of: no GetItem needed).
std::string find_modified(Folder folder, UtcTime since, int offset, int max, bool headers);
// FindItem of the items in the folders whose CRM id is one of `crm_ids` (an Or of them when
// there are several), each listed with its CRM id (crm_id_of).
std::string find_by_crm_ids(const std::vector<Folder>& folders,
                            const std::vector<std::string>& crm_ids);
// SyncFolderItems of a folder, each changed item listed with what category_mark_of reads.
std::string sync_folder_items(Folder folder, const std::string& sync_state, int max);
std::string subscribe_pull(int timeout_minutes);
std::string get_events(const std::string& subscription_id, const std::string& watermark);
// A streaming subscription on the synced folders, and the long-lived request that streams its
// events for at most `connection_minutes` (1..30).
std::string subscribe_streaming();
std::string get_streaming_events(const std::string& subscription_id, int connection_minutes);

// Hidden items (lease, queue): a Message with `item_class` in the root folder carrying
// string-valued named properties of our set.
using Props = std::vector<std::pair<std::string, std::string>>;
std::string create_hidden(std::string_view item_class, const Props& props);
std::string update_hidden(const ItemRef& ref, const Props& props);
// GetItem of hidden items with their class, creation time and named properties.
std::string get_hidden(const std::vector<std::string>& ids,
                       const std::vector<std::string>& prop_names);
// FindItem of the hidden items of a class, oldest first, with the named properties.
std::string find_hidden(std::string_view item_class, const std::vector<std::string>& prop_names,
                        int offset, int max);

// The mailbox's master category list (SPEC U1): the "CategoryList" user configuration of the
// calendar folder, its XmlData the document of crmsync/core/category_store.hpp.
inline constexpr std::string_view kCategoryListConfig = "CategoryList";
std::string get_category_list();
// Create (the mailbox has none yet) or replace its XmlData with `xml`.
std::string create_category_list(std::string_view xml);
std::string update_category_list(std::string_view xml);

// ---- responses ----

struct Message {
  std::string response_class;  // Success, Warning, Error
  std::string code;            // ResponseCode
  std::string text;            // MessageText
  std::optional<int> backoff_ms;
  soap::Element element;  // the whole <m:...ResponseMessage>
  bool ok() const { return response_class != "Error"; }
};

// Reads an HTTP reply to `op`: the response messages in input order, or an error (HTTP
// status, SOAP fault with its ResponseCode, malformed or unexpected XML -> kInvalid).
Result<std::vector<Message>> parse_response(std::string_view op, int http_status,
                                            std::string_view body);
// The error a failed response message stands for (ErrorItemNotFound -> kNotFound, ...).
Error error_of(const Message& m);
Error error_of_code(std::string_view code, std::string_view text, std::optional<int> backoff_ms);

// The items of a GetItem/CreateItem/FindItem message, each with its id.
struct RawItem {
  ItemRef ref;
  std::string element;  // Contact, Task, CalendarItem, Message, ...
  std::string parent_folder_id;
  std::string item_class;
  soap::Element xml;
};
Result<std::vector<RawItem>> items_of(const soap::Element& container);
// The mapped store item. `folder_of` maps a ParentFolderId to a synced folder (nullopt: the
// item is elsewhere, e.g. Deleted Items -> kNotFound).
Result<StoreItem> to_store_item(
    const RawItem& raw, const std::function<std::optional<Folder>(const std::string&)>& folder_of);
// The header of an item that a find_modified(headers) page listed in `folder`; kNotFound for
// what is not synced there (another kind, crmsync's hidden items).
Result<StoreItemHeader> header_of(const RawItem& raw, Folder folder);
// The CRM id property of an item a find_by_crm_ids page listed ("" without one).
std::string crm_id_of(const RawItem& raw);
// Our named string properties of an item (hidden items).
Props props_of(const soap::Element& item);
// The item's categories (in the user's order), tracked mark and TrackCategory, from a full
// GetItem, a probe or a SyncFolderItems change.
CategoryMark category_mark_of(const RawItem& raw);
// The XmlData of a GetUserConfiguration message, decoded; "" when it has none. kInvalid for
// XmlData that is not base64 or is larger than kMaxCategoryListBytes.
Result<std::string> user_config_xml_of(const Message& m);

struct SyncChange {
  enum class Type { kCreate, kUpdate, kDelete, kReadFlag };
  Type type = Type::kCreate;
  RawItem item;  // for deletes, only ref.id
};
struct SyncPage {
  std::string sync_state;
  bool last = true;
  std::vector<SyncChange> changes;
};
Result<SyncPage> sync_page_of(const Message& m);

struct FindPage {
  std::vector<RawItem> items;
  bool last = true;
  int total = 0;
};
Result<FindPage> find_page_of(const Message& m);

struct Subscription {
  std::string id;
  std::string watermark;
};
Result<Subscription> subscription_of(const Message& m);
struct EventsPage {
  std::string watermark;  // the newest one seen
  bool more = false;
  int changes = 0;  // item events other than status
};
Result<EventsPage> events_of(const Message& m);

// One GetStreamingEvents response message: how many item events it carries and its
// ConnectionStatus ("OK", "Closed"; "" when absent).
struct StreamBatch {
  int changes = 0;
  std::string status;
};
Result<StreamBatch> streaming_events_of(const Message& m);
// A streamed body holds whole SOAP envelopes one after another: takes the first complete one
// off the front of `buffer` (nullopt while it has not fully arrived).
std::optional<std::string> take_envelope(std::string& buffer);

// Folder ids of a GetFolder message.
Result<std::string> folder_id_of(const Message& m);

}  // namespace crmsync::ews

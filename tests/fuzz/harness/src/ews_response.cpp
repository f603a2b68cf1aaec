// Target ews_response: an Exchange Web Services reply (or a piece of a streamed one), as the
// EWS store adapter reads it: the envelope and its response messages for every operation the
// adapter sends, then each reader of what a message holds, and the stream splitter.
#include <string>

#include "crmsync/core/category_store.hpp"
#include "crmsync/fuzz/harness.hpp"
#include "crmsync/model/text.hpp"
#include "store_ews/src/codec.hpp"

namespace crmsync::fuzz {
namespace {

// A reply the adapter cannot use is an error with a message; which kind depends on the
// ResponseCode the reply names (ErrorServerBusy is kTransient, ...), never a crash.
template <typename T>
std::string check_clean(const Result<T>& r, std::string_view what) {
  if (r.ok() || !r.error().message().empty()) return {};
  return std::string(what) + " gave an error without a message";
}

// Readers of message contents: what is wrong with the XML is kInvalid.
template <typename T>
std::string check_invalid(const Result<T>& r, std::string_view what) {
  if (r.ok()) return {};
  if (!r.error().is(ErrorKind::kInvalid))
    return std::string(what) + " answered " + r.error().describe() + " instead of kInvalid";
  return check_clean(r, what);
}

std::string check_item(const StoreItem& item) {
  for (const auto& [name, value] : item.item.fields)
    if (const auto* s = std::get_if<std::string>(&value); s && !crmsync::is_valid_utf8(*s))
      return "to_store_item gave field " + name + " as invalid UTF-8";
  if (item.entry_id.empty()) return "to_store_item gave an item without an id";
  return {};
}

std::string check_items(const soap::Element& container) {
  auto raw = ews::items_of(container);
  if (auto v = check_invalid(raw, "items_of"); !v.empty() || !raw.ok()) return v;
  for (const auto& r : *raw) {
    auto header = ews::header_of(r, Folder::kContacts);
    if (!header.ok() && !header.error().is(ErrorKind::kInvalid) &&
        !header.error().is(ErrorKind::kNotFound))
      return "header_of answered " + header.error().describe();
    if (header.ok() && (header->entry_id.empty() || header->change_key.empty()))
      return "header_of gave a header without an id or change key";
    auto item = ews::to_store_item(r, [](const std::string& id) -> std::optional<Folder> {
      if (id.empty()) return std::nullopt;
      return Folder::kContacts;  // every parent is "synced": the mapping is exercised
    });
    if (!item.ok()) {
      if (!item.error().is(ErrorKind::kInvalid) && !item.error().is(ErrorKind::kNotFound))
        return "to_store_item answered " + item.error().describe();
      if (item.error().message().empty()) return "to_store_item gave an empty error message";
      continue;
    }
    if (auto v = check_item(*item); !v.empty()) return v;
    (void)ews::props_of(r.xml);
    for (const auto& c : ews::category_mark_of(r).categories)
      if (c.empty() || !crmsync::is_valid_utf8(c)) return "category_mark_of gave a bad category";
  }
  return {};
}

// The master category list document (U1): names read cleanly, and adding ours gives a
// document whose names are the old ones and ours.
std::string category_list(const std::string& xml) {
  auto names = category_list_names(xml);
  if (auto v = check_invalid(names, "category_list_names"); !v.empty()) return v;
  auto added = add_to_category_list(xml, kDefaultTrackCategory, UtcTime{0},
                                    "00000000-0000-4000-8000-000000000000");
  if (auto v = check_invalid(added, "add_to_category_list"); !v.empty()) return v;
  // A blank document is no list yet: adding makes one, reading it finds no root.
  const bool blank = xml.find_first_not_of(" \t\r\n") == std::string::npos;
  if (!blank && names.ok() != added.ok())
    return "category_list_names and add_to_category_list disagree";
  if (blank && (!added.ok() || !*added)) return "add_to_category_list made no list of nothing";
  if (blank) names = std::vector<std::string>();
  if (!added.ok() || !*added) return {};
  auto after = category_list_names(**added);
  if (!after.ok()) return "add_to_category_list made a document it cannot read";
  auto expected = *names;
  expected.emplace_back(kDefaultTrackCategory);
  if (*after != expected) return "add_to_category_list changed the other names";
  return {};
}

}  // namespace

Outcome ews_response(std::string_view input) {
  Outcome out;
  std::string& v = out.violation;
  // The streamed body splitter: whole envelopes off the front, the rest kept, never more
  // than was there.
  std::string buffer(input);
  const std::size_t before = buffer.size();
  std::size_t taken = 0;
  while (auto env = ews::take_envelope(buffer)) {
    taken += env->size();
    if (env->empty()) {
      v = "take_envelope took an empty envelope";
      return out;
    }
    if (taken + buffer.size() > before) {
      v = "take_envelope made text";
      return out;
    }
  }

  static constexpr std::string_view kOps[] = {"GetItem",
                                              "CreateItem",
                                              "UpdateItem",
                                              "DeleteItem",
                                              "FindItem",
                                              "GetFolder",
                                              "Subscribe",
                                              "GetEvents",
                                              "GetStreamingEvents",
                                              "SyncFolderItems",
                                              "GetUserConfiguration"};
  for (int status : {200, 500}) {
    for (std::string_view op : kOps) {
      auto msgs = ews::parse_response(op, status, input);
      if (v = check_clean(msgs, "parse_response"); !v.empty()) return out;
      if (!msgs.ok()) continue;
      out.accepted = true;
      for (const auto& m : *msgs) {
        if (!m.ok()) {
          if (ews::error_of(m).message().empty()) {
            v = "error_of gave an empty message for " + m.code;
            return out;
          }
          if (auto ms = m.backoff_ms; ms && *ms < 0) {
            v = "a negative BackOffMilliseconds";
            return out;
          }
          continue;
        }
        if (const soap::Element* items = m.element.child(ews::kMNs, "Items"))
          if (v = check_items(*items); !v.empty()) return out;
        if (op == "SyncFolderItems") {
          auto page = ews::sync_page_of(m);
          if (v = check_invalid(page, "sync_page_of"); !v.empty()) return out;
        } else if (op == "FindItem") {
          auto page = ews::find_page_of(m);
          if (v = check_invalid(page, "find_page_of"); !v.empty()) return out;
          if (page.ok() && page->total < 0) {
            v = "find_page_of gave a negative total";
            return out;
          }
        } else if (op == "Subscribe") {
          if (v = check_invalid(ews::subscription_of(m), "subscription_of"); !v.empty()) return out;
        } else if (op == "GetEvents") {
          if (v = check_invalid(ews::events_of(m), "events_of"); !v.empty()) return out;
        } else if (op == "GetStreamingEvents") {
          auto batch = ews::streaming_events_of(m);
          if (v = check_invalid(batch, "streaming_events_of"); !v.empty()) return out;
        } else if (op == "GetFolder") {
          if (v = check_invalid(ews::folder_id_of(m), "folder_id_of"); !v.empty()) return out;
        } else if (op == "GetUserConfiguration") {
          auto xml = ews::user_config_xml_of(m);
          if (v = check_invalid(xml, "user_config_xml_of"); !v.empty() || !xml.ok()) {
            if (!v.empty()) return out;
            continue;
          }
          if (v = category_list(*xml); !v.empty()) return out;
        }
      }
      // One status is enough where the reply is no SOAP at all.
    }
  }
  return out;
}

}  // namespace crmsync::fuzz

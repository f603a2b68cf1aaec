#include "item_json.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <type_traits>

namespace crmsync::cli {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void str(Writer& w, std::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

void write_value(Writer& w, const Value& v) {
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
          w.Null();
        } else if constexpr (std::is_same_v<T, std::string>) {
          str(w, x);
        } else if constexpr (std::is_same_v<T, std::int64_t>) {
          w.Int64(x);
        } else if constexpr (std::is_same_v<T, bool>) {
          w.Bool(x);
        } else if constexpr (std::is_same_v<T, PartyList>) {
          w.StartArray();
          for (const auto& p : x) {
            w.StartObject();
            w.Key("address");
            str(w, p.address);
            w.Key("name");
            str(w, p.name);
            if (p.ref) {
              w.Key("ref");
              str(w, p.ref->str());
            }
            w.EndObject();
          }
          w.EndArray();
        } else {
          str(w, display(Value(x)));  // times, dates, references: their text forms
        }
      },
      v);
}

void write_item(Writer& w, const StoreItem& it) {
  w.StartObject();
  w.Key("entry_id");
  str(w, it.entry_id.str());
  w.Key("kind");
  str(w, to_string(it.item.kind));
  w.Key("folder");
  str(w, to_string(it.folder));
  w.Key("tracked");
  w.Bool(it.link.tracked);
  w.Key("crm_id");
  if (it.link.crm_id)
    str(w, it.link.crm_id->str());
  else
    w.Null();
  w.Key("crm_id_pending");
  w.Bool(it.link.crm_id_pending);
  w.Key("crm_entity");
  if (it.link.crm_entity)
    str(w, to_string(*it.link.crm_entity));
  else
    w.Null();
  w.Key("change_key");
  str(w, it.change_key);
  w.Key("fields");
  w.StartObject();
  for (const auto& [name, value] : it.item.fields) {
    str(w, name);
    write_value(w, value);
  }
  w.EndObject();
  w.Key("categories");
  w.StartArray();
  for (const auto& c : it.categories) str(w, c);
  w.EndArray();
  w.Key("modified");
  str(w, it.item.modified.iso());
  w.EndObject();
}

std::string summary(const StoreItem& it) {
  if (it.item.kind == ItemKind::kContact) {
    std::string name = it.item.text("FirstName");
    std::string last = it.item.text("LastName");
    if (!last.empty()) name += (name.empty() ? "" : " ") + last;
    return name;
  }
  return it.item.text("Subject");
}

std::string pad(std::string s, std::size_t n) {
  if (s.size() < n) s.append(n - s.size(), ' ');
  return s;
}

}  // namespace

std::string item_to_json(const StoreItem& item) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  write_item(w, item);
  return std::string(buf.GetString(), buf.GetSize());
}

std::string items_to_json(const std::vector<StoreItem>& items) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartArray();
  for (const auto& it : items) write_item(w, it);
  w.EndArray();
  return std::string(buf.GetString(), buf.GetSize());
}

std::string items_to_table(const std::vector<StoreItem>& items) {
  std::string out = pad("ENTRY_ID", 49) + pad("KIND", 12) + pad("FOLDER", 10) + pad("TRACKED", 8) +
                    pad("CRM_ID", 37) + pad("MODIFIED", 25) + "SUMMARY\n";
  for (const auto& it : items) {
    out += pad(it.entry_id.str(), 49) + pad(std::string(to_string(it.item.kind)), 12) +
           pad(std::string(to_string(it.folder)), 10) + pad(it.link.tracked ? "yes" : "no", 8) +
           pad(it.link.crm_id ? it.link.crm_id->str() + (it.link.crm_id_pending ? "*" : "") : "-",
               37) +
           pad(it.item.modified.iso(), 25) + summary(it) + "\n";
  }
  return out;
}

std::string item_to_text(const StoreItem& it) {
  std::string out;
  out += "entry_id: " + it.entry_id.str() + "\n";
  out += "kind: " + std::string(to_string(it.item.kind)) + "\n";
  out += "folder: " + std::string(to_string(it.folder)) + "\n";
  out += "tracked: " + std::string(it.link.tracked ? "yes" : "no") + "\n";
  out += "crm_id: " + (it.link.crm_id ? it.link.crm_id->str() : std::string("-")) +
         (it.link.crm_id_pending ? " (pending)" : "") + "\n";
  if (it.link.crm_entity)
    out += "crm_entity: " + std::string(to_string(*it.link.crm_entity)) + "\n";
  out += "change_key: " + it.change_key + "\n";
  std::string categories;
  for (const auto& c : it.categories) categories += (categories.empty() ? "" : "; ") + c;
  if (!categories.empty()) out += "categories: " + categories + "\n";
  out += "modified: " + it.item.modified.iso() + "\n";
  for (const auto& [name, value] : it.item.fields) out += name + ": " + display(value) + "\n";
  return out;
}

}  // namespace crmsync::cli

// The item model: an item is its element name plus its top-level fields, each
// kept as canonical XML (prefix t:), so whatever valid element a client sends is
// stored and returned faithfully. Property paths (FieldURI, IndexedFieldURI,
// ExtendedFieldURI), response shapes and the UpdateItem field operations.
#pragma once

#include <libxml/tree.h>

#include <optional>
#include <string>
#include <vector>

#include "xml.hpp"

namespace ews_emulator {

// A per-item failure reported as ResponseClass="Error" inside HTTP 200.
struct ItemError {
  std::string code;
  std::string text;
};

struct Field {
  std::string name;  // local element name
  std::string xml;   // canonical element
};

struct ItemData {
  std::string kind;  // Contact, Task, CalendarItem, Message, Item, ...
  std::vector<Field> fields;

  const Field* find(const std::string& name) const;
  void set(const std::string& name, const std::string& xml);  // replace or append
  void erase(const std::string& name);
};

struct Path {
  enum Kind { kField, kIndexed, kExtended } kind = kField;
  std::string uri;    // FieldURI value
  std::string name;   // element (for indexed: the container element)
  std::string index;  // FieldIndex
  std::string part;   // PhysicalAddress part (Street, City, ...)
  std::string ext;    // normalized extended-property identity
  // Key used for the per-field change history.
  std::string key() const;
};

// Parses t:FieldURI / t:IndexedFieldURI / t:ExtendedFieldURI; nullopt otherwise.
std::optional<Path> parse_path(const xmlNode* n);

// Wraps a stored fragment in a namespace-declaring element and parses it.
DocPtr parse_fragment(const std::string& xml);

ItemData load_item(const std::string& stored);
std::string store_xml(const ItemData& item);
// From a request's item element; server-managed fields are dropped.
ItemData item_from_request(const xmlNode* element);

// Sorts fields by the schema order of the item's type (stable for unknown names).
void sort_fields(ItemData& item, const Schemas& schemas);

struct Shape {
  std::string base = "Default";  // IdOnly, Default, AllProperties
  std::string body_type;         // Text, HTML, Best or empty
  std::vector<Path> extra;
};
Shape parse_shape(const xmlNode* item_shape);
// `item` must be complete (computed fields included) and sorted.
std::string render_item(const ItemData& item, const Shape& shape);
// The text value of the property at `path` (for restrictions and sorting).
std::optional<std::string> value_at(const ItemData& item, const Path& path);

// UpdateItem operations. `value` is the item element of SetItemField /
// AppendToItemField (holding one field). Throw ItemError.
void set_field(ItemData& item, const Path& path, const xmlNode* value);
void append_field(ItemData& item, const Path& path, const xmlNode* value);
void delete_field(ItemData& item, const Path& path);

}  // namespace ews_emulator

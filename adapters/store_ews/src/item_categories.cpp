// SPEC U1 on the EWS wire: an item's Categories (an ArrayOfStrings of ItemType) and crmsync's
// TrackCategory property, read from items and written with creates and updates.
#include "item_fields.hpp"

namespace crmsync::ews {

using namespace detail;

namespace {

Result<std::string> categories_xml(const std::vector<std::string>& categories) {
  XmlWriter w;
  w.open("t:Categories");
  for (const auto& c : categories) {
    if (!soap::is_xml_text(c)) return Error::Invalid("a category XML cannot carry");
    w.leaf("t:String", c);
  }
  w.close();
  return w.take();
}

std::string ext_xml(const Ext& e, std::string_view value) {
  XmlWriter w;
  write_ext(w, e, value);
  return w.take();
}

}  // namespace

namespace detail {

std::string category_mark_uris() {
  return "<t:FieldURI FieldURI=\"item:Categories\"/>" + ext_uri_xml(kTracked) +
         ext_uri_xml(kTrackCategory);
}

Result<std::vector<std::pair<int, std::string>>> category_pieces(ItemKind kind,
                                                                 const CategoryWrite& w) {
  std::vector<std::pair<int, std::string>> out;
  if (w.categories && !w.categories->empty()) {
    auto xml = categories_xml(*w.categories);
    if (!xml) return xml.error();
    out.emplace_back(order_of(kind, "Categories"), std::move(*xml));
  }
  if (w.kept && !w.kept->empty()) {
    if (!soap::is_xml_text(*w.kept)) return Error::Invalid("a category XML cannot carry");
    out.emplace_back(order_of(kind, "ExtendedProperty"), ext_xml(kTrackCategory, *w.kept));
  }
  return out;
}

std::string set_ext_field(ItemKind kind, const Ext& e, std::string_view value) {
  const std::string el = "t:" + std::string(element_of(kind));
  return "<t:SetItemField>" + ext_uri_xml(e) + "<" + el + ">" + ext_xml(e, value) + "</" + el +
         "></t:SetItemField>";
}

std::string delete_ext_field(const Ext& e) {
  return "<t:DeleteItemField>" + ext_uri_xml(e) + "</t:DeleteItemField>";
}

Result<std::string> category_updates(ItemKind kind, const CategoryWrite& w) {
  std::string out;
  if (w.categories) {
    if (w.categories->empty()) {
      out += "<t:DeleteItemField><t:FieldURI FieldURI=\"item:Categories\"/></t:DeleteItemField>";
    } else {
      auto xml = categories_xml(*w.categories);
      if (!xml) return xml.error();
      const std::string el = "t:" + std::string(element_of(kind));
      out += "<t:SetItemField><t:FieldURI FieldURI=\"item:Categories\"/><" + el + ">" + *xml +
             "</" + el + "></t:SetItemField>";
    }
  }
  if (w.kept) {
    if (!soap::is_xml_text(*w.kept)) return Error::Invalid("a category XML cannot carry");
    out += w.kept->empty() ? delete_ext_field(kTrackCategory)
                           : set_ext_field(kind, kTrackCategory, *w.kept);
  }
  return out;
}

}  // namespace detail

CategoryMark category_mark_of(const RawItem& raw) {
  CategoryMark m;
  if (const Element* cats = tchild(raw.xml, "Categories"))
    for (const Element& c : cats->children())
      if (c.is(kTNs, "String") && !c.text().empty()) m.categories.push_back(c.text());
  m.tracked = ext_flag(raw.xml, kTracked);
  if (const std::string* kept = ext_value(raw.xml, kTrackCategory)) m.kept = *kept;
  return m;
}

}  // namespace crmsync::ews

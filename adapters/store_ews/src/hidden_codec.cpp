// The wire form of what crmsync keeps in the mailbox beside the items: the hidden items (lease,
// handoff queue: Messages in the root folder whose values are string-valued named properties
// of our set) and the master category list (a user configuration of the calendar folder).
#include "crmsync/model/encoding.hpp"
#include "wire.hpp"

namespace crmsync::ews {

using namespace detail;

namespace {
std::string hidden_props_xml(const Props& props) {
  std::string out;
  for (const auto& [name, value] : props) {
    XmlWriter w;
    write_ext(w, Ext{kPropertySet, {}, name, 0, "String"}, value);
    out += w.take();
  }
  return out;
}
}  // namespace

std::string create_hidden(std::string_view item_class, const Props& props) {
  return "<m:CreateItem MessageDisposition=\"SaveOnly\"><m:SavedItemFolderId>"
         "<t:DistinguishedFolderId Id=\"root\"/></m:SavedItemFolderId><m:Items><t:Message>"
         "<t:ItemClass>" +
         std::string(item_class) + "</t:ItemClass><t:Subject>crmsync</t:Subject>" +
         hidden_props_xml(props) + "</t:Message></m:Items></m:CreateItem>";
}

std::string update_hidden(const ItemRef& ref, const Props& props) {
  std::string updates;
  for (const auto& p : props) {
    Ext e{kPropertySet, {}, p.first, 0, "String"};
    updates += "<t:SetItemField>" + ext_uri_xml(e) + "<t:Message>" + hidden_props_xml({p}) +
               "</t:Message></t:SetItemField>";
  }
  XmlWriter id;
  id.open("t:ItemId").attr("Id", ref.id).attr("ChangeKey", ref.change_key).close();
  return "<m:UpdateItem ConflictResolution=\"NeverOverwrite\" MessageDisposition=\"SaveOnly\">"
         "<m:ItemChanges><t:ItemChange>" +
         id.take() + "<t:Updates>" + updates +
         "</t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>";
}

std::string get_hidden(const std::vector<std::string>& ids,
                       const std::vector<std::string>& prop_names) {
  std::string out =
      "<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>"
      "<t:FieldURI FieldURI=\"item:ItemClass\"/><t:FieldURI FieldURI=\"item:DateTimeCreated\"/>";
  for (const auto& n : prop_names) out += ext_uri_xml(Ext{kPropertySet, {}, n, 0, "String"});
  out += "</t:AdditionalProperties></m:ItemShape><m:ItemIds>";
  for (const auto& id : ids) {
    XmlWriter w;
    w.open("t:ItemId").attr("Id", id).close();
    out += w.take();
  }
  return out + "</m:ItemIds></m:GetItem>";
}

std::string find_hidden(std::string_view item_class, const std::vector<std::string>& prop_names,
                        int offset, int max) {
  std::string props = "<t:FieldURI FieldURI=\"item:DateTimeCreated\"/>";
  for (const auto& n : prop_names) props += ext_uri_xml(Ext{kPropertySet, {}, n, 0, "String"});
  return "<m:FindItem Traversal=\"Shallow\"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape>"
         "<t:AdditionalProperties>" +
         props +
         "</t:AdditionalProperties></m:ItemShape><m:IndexedPageItemView MaxEntriesReturned=\"" +
         std::to_string(max) + "\" Offset=\"" + std::to_string(offset) +
         "\" BasePoint=\"Beginning\"/><m:Restriction><t:IsEqualTo>"
         "<t:FieldURI FieldURI=\"item:ItemClass\"/><t:FieldURIOrConstant><t:Constant Value=\"" +
         std::string(item_class) +
         "\"/></t:FieldURIOrConstant></t:IsEqualTo></m:Restriction>"
         "<m:SortOrder><t:FieldOrder Order=\"Ascending\"><t:FieldURI "
         "FieldURI=\"item:DateTimeCreated\"/></t:FieldOrder></m:SortOrder>"
         "<m:ParentFolderIds><t:DistinguishedFolderId Id=\"root\"/></m:ParentFolderIds>"
         "</m:FindItem>";
}

Props props_of(const Element& item) {
  Props out;
  for (const Element& c : item.children()) {
    if (!c.is(kTNs, "ExtendedProperty")) continue;
    const Element* uri = tchild(c, "ExtendedFieldURI");
    const Element* value = tchild(c, "Value");
    if (!uri || !value || !iequal(attr(*uri, "PropertySetId"), kPropertySet)) continue;
    out.emplace_back(attr(*uri, "PropertyName"), value->text());
  }
  return out;
}

namespace {

// A UserConfiguration of the calendar folder with the category list as its XmlData.
std::string category_list_config(std::string_view xml) {
  return "<m:UserConfiguration><t:UserConfigurationName Name=\"" +
         std::string(kCategoryListConfig) +
         "\"><t:DistinguishedFolderId Id=\"calendar\"/></t:UserConfigurationName><t:XmlData>" +
         base64_encode(xml) + "</t:XmlData></m:UserConfiguration>";
}

}  // namespace

std::string get_category_list() {
  return "<m:GetUserConfiguration><m:UserConfigurationName Name=\"" +
         std::string(kCategoryListConfig) +
         "\"><t:DistinguishedFolderId Id=\"calendar\"/></m:UserConfigurationName>"
         "<m:UserConfigurationProperties>XmlData</m:UserConfigurationProperties>"
         "</m:GetUserConfiguration>";
}

std::string create_category_list(std::string_view xml) {
  return "<m:CreateUserConfiguration>" + category_list_config(xml) + "</m:CreateUserConfiguration>";
}

std::string update_category_list(std::string_view xml) {
  return "<m:UpdateUserConfiguration>" + category_list_config(xml) + "</m:UpdateUserConfiguration>";
}

Result<std::string> user_config_xml_of(const Message& m) {
  const Element* config = mchild(m.element, "UserConfiguration");
  if (!config) return Error::Invalid("GetUserConfiguration reply without UserConfiguration");
  const Element* data = tchild(*config, "XmlData");
  if (!data) return std::string();
  const std::string text = trimmed(data->text());
  if (text.size() > kMaxCategoryListBytes / 3 * 4 + 4)
    return Error::Invalid("GetUserConfiguration: XmlData too large");
  auto xml = base64_decode(text);
  if (!xml) return Error::Invalid("GetUserConfiguration: XmlData is not base64");
  return std::move(*xml);
}

}  // namespace crmsync::ews

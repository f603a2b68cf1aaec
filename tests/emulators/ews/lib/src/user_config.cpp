// User configuration objects ([MS-OXWSUSRCFG]): named per folder, each with a Dictionary, XML
// data and binary data, as Outlook keeps its settings (the master category list is the
// calendar folder's "CategoryList", its XmlData the category list document). Create refuses a
// name the folder has, Get, Update and Delete one it has not (ErrorItemNotFound); Update
// replaces the parts the request gives and keeps the others.
#include <sstream>

#include "replies.hpp"
#include "service.hpp"

namespace ews_emulator {

namespace {

// The parts a UserConfigurationProperties list asks for ("Id Dictionary", "All", ...).
struct Parts {
  bool id = false, dictionary = false, xml_data = false, binary_data = false;
};

Parts parts_of(const std::string& list) {
  Parts p;
  std::istringstream in(list);
  for (std::string word; in >> word;) {
    const bool all = word == "All";
    p.id = p.id || all || word == "Id";
    p.dictionary = p.dictionary || all || word == "Dictionary";
    p.xml_data = p.xml_data || all || word == "XmlData";
    p.binary_data = p.binary_data || all || word == "BinaryData";
  }
  return p;
}

// The folder element (FolderId or DistinguishedFolderId) inside a UserConfigurationName.
const xmlNode* folder_of_name(const xmlNode* name) {
  for (xmlNode* e : elements(name))
    if (is(e, kTNs, "FolderId") || is(e, kTNs, "DistinguishedFolderId")) return e;
  return nullptr;
}

// The response payload of a GetUserConfiguration message.
std::string render(const UserConfig& c, const Parts& p) {
  std::string out = "<m:UserConfiguration><t:UserConfigurationName Name=\"" + esc(c.name) + "\">" +
                    folder_id_xml(c.folder) + "</t:UserConfigurationName>";
  if (p.id) out += fmt::format("<t:ItemId Id=\"{}\" ChangeKey=\"{}\"/>", c.id, change_key(c.cn));
  if (p.dictionary && !c.dictionary.empty()) out += c.dictionary;
  if (p.xml_data && !c.xml_data.empty()) out += "<t:XmlData>" + c.xml_data + "</t:XmlData>";
  if (p.binary_data && !c.binary_data.empty())
    out += "<t:BinaryData>" + c.binary_data + "</t:BinaryData>";
  return out + "</m:UserConfiguration>";
}

// The parts a Create or Update request gives, over `c`.
void apply_parts(const xmlNode* config, UserConfig& c) {
  if (const xmlNode* d = child(config, kTNs, "Dictionary")) c.dictionary = canonical(d);
  if (const xmlNode* x = child(config, kTNs, "XmlData")) c.xml_data = text(x);
  if (const xmlNode* b = child(config, kTNs, "BinaryData")) c.binary_data = text(b);
}

}  // namespace

std::string Service::user_configuration(const std::string& op, const xmlNode* req, const Ctx& ctx) {
  const bool get = op == "GetUserConfiguration", remove = op == "DeleteUserConfiguration";
  // Get and Delete name it in m:UserConfigurationName; Create and Update in the object.
  const xmlNode* config = get || remove ? nullptr : child(req, kMNs, "UserConfiguration");
  const xmlNode* name = config ? child(config, kTNs, "UserConfigurationName")
                               : child(req, kMNs, "UserConfigurationName");
  try {
    const xmlNode* folder_el = folder_of_name(name);
    if (!folder_el) throw ItemError{"ErrorInvalidRequest", "The configuration has no folder."};
    Folder folder = resolve_folder(folder_el, ctx);
    const std::string config_name = attr_or(name, "Name");
    auto existing = store_.user_config(folder.id, config_name);
    if (op == "CreateUserConfiguration") {
      if (existing)
        throw ItemError{"ErrorItemSave", "The user configuration object already exists."};
      UserConfig c{
          folder.id, config_name, make_opaque(kItemIdKind, random_bytes(18)), store_.next_cn(), {},
          {},        {}};
      apply_parts(config, c);
      store_.put_user_config(c);
      return wrap(op, ok_msg(op, ""));
    }
    if (!existing) throw not_found();
    if (get)
      return wrap(
          op, ok_msg(op, render(*existing,
                                parts_of(child_text(req, kMNs, "UserConfigurationProperties")))));
    if (remove) {
      store_.delete_user_config(folder.id, config_name);
      return wrap(op, ok_msg(op, ""));
    }
    apply_parts(config, *existing);
    existing->cn = store_.next_cn();
    store_.put_user_config(*existing);
    return wrap(op, ok_msg(op, ""));
  } catch (const ItemError& e) {
    return wrap(op, err_msg(op, e, ""));
  }
}

}  // namespace ews_emulator

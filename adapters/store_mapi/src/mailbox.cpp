// Opening the profile's default store: the store, crmsync's named properties, the default
// folders and Deleted Items; messages and folders by entry id.
#include <cstring>

#include "errors.hpp"
#include "mailbox.hpp"

namespace crmsync::mapi {

Mailbox::~Mailbox() {
  for (auto& f : folders_) f.second.folder.reset();
  wastebasket_.reset();
  root_.reset();
  store_.reset();
}

Result<void> Mailbox::open() {
  CRMSYNC_TRY(open_default_store());
  CRMSYNC_TRY(resolve_named());
  return open_folders();
}

Result<void> Mailbox::open_default_store() {
  Com<IMAPITable> stores;
  if (HRESULT h = session_.get()->GetMsgStoresTable(0, stores.out()); FAILED(h))
    return error_of(h, "GetMsgStoresTable");
  constexpr ULONG kDefaultStore = 0x3400000B;  // PR_DEFAULT_STORE (PT_BOOLEAN 0x3400)
  TagArray cols({PR_ENTRYID, kDefaultStore});
  if (HRESULT h = stores->SetColumns(cols.get(), 0); FAILED(h)) return error_of(h, "SetColumns");
  Rows rows(api());
  if (HRESULT h = stores->QueryRows(1000, 0, rows.out()); FAILED(h))
    return error_of(h, "QueryRows of the stores");
  for (ULONG i = 0; i < rows.size(); ++i) {
    const SRow& row = rows[i];
    if (row.lpProps[1].ulPropTag != kDefaultStore || !row.lpProps[1].Value.b) continue;
    const SBinary& eid = row.lpProps[0].Value.bin;
    HRESULT h =
        session_.get()->OpenMsgStore(0, eid.cb, reinterpret_cast<LPENTRYID>(eid.lpb), nullptr,
                                     MDB_WRITE | MDB_NO_MAIL | MAPI_BEST_ACCESS, store_.out());
    if (FAILED(h)) return error_of(h, "OpenMsgStore");
    return Ok();
  }
  return Error::Permission("MAPI profile '" + profile_ + "' has no default store");
}

Result<void> Mailbox::resolve_named() {
  // One GetIDsFromNames for the whole table; MAPI_CREATE registers names new to the store.
  std::vector<MAPINAMEID> ids(named_props().size());
  std::vector<LPMAPINAMEID> ptrs;
  std::vector<GUID> guids(named_props().size());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const NamedProp& p = named_props()[i];
    std::memcpy(&guids[i], &p.set, sizeof(GUID));
    ids[i].lpguid = &guids[i];
    if (const auto* lid = std::get_if<std::uint32_t>(&p.name)) {
      ids[i].ulKind = MNID_ID;
      ids[i].Kind.lID = static_cast<LONG>(*lid);
    } else {
      ids[i].ulKind = MNID_STRING;
      ids[i].Kind.lpwstrName = const_cast<LPWSTR>(
          reinterpret_cast<LPCWSTR>(std::get<std::u16string_view>(p.name).data()));
    }
    ptrs.push_back(&ids[i]);
  }
  MapiBuffer<SPropTagArray> tags(api());
  HRESULT h = store_->GetIDsFromNames(static_cast<ULONG>(ptrs.size()), ptrs.data(), MAPI_CREATE,
                                      tags.out());
  if (FAILED(h) || !tags.get()) return error_of(h, "GetIDsFromNames");
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const ULONG t = tags->aulPropTag[i];
    if (PROP_TYPE(t) == PT_ERROR)
      return Error::Permission("the store cannot register the named property " +
                               std::string(named_props()[i].label));
    named_tags_[i] = PROP_TAG(static_cast<ULONG>(named_props()[i].type), PROP_ID(t));
  }
  return Ok();
}

Result<void> Mailbox::open_folders() {
  Com<IMAPIFolder> inbox;
  {
    ULONG cb = 0;
    MapiBuffer<ENTRYID> eid(api());
    HRESULT h = store_->GetReceiveFolder(const_cast<LPWSTR>(L"IPM.Note"), MAPI_UNICODE, &cb,
                                         eid.out(), nullptr);
    if (FAILED(h)) return error_of(h, "GetReceiveFolder");
    Binary id(reinterpret_cast<BYTE*>(eid.get()), reinterpret_cast<BYTE*>(eid.get()) + cb);
    auto f = open_folder(id);
    if (!f) return f.error().context("Inbox");
    folders_[Folder::kInbox] = {id, std::move(*f)};
  }
  // The root folder: its FAI hold the lease and the queue; it (or the Inbox) carries the
  // PidTagIpm*EntryId of the other default folders ([MS-OXOSFLD] 2.2.3).
  {
    ULONG type = 0;
    if (HRESULT h = store_->OpenEntry(0, nullptr, nullptr, MAPI_BEST_ACCESS, &type,
                                      reinterpret_cast<LPUNKNOWN*>(root_.out()));
        FAILED(h))
      return error_of(h, "open the root folder");
  }
  auto from = [&](IMAPIProp* a, IMAPIProp* b, ULONG t) -> Result<Binary> {
    auto id = binary_prop(a, t);
    if (id || !b) return id;
    return binary_prop(b, t);
  };
  const std::pair<Folder, ULONG> on_inbox[] = {{Folder::kContacts, tag::kIpmContactEntryId},
                                               {Folder::kTasks, tag::kIpmTaskEntryId},
                                               {Folder::kCalendar, tag::kIpmAppointmentEntryId},
                                               {Folder::kDrafts, tag::kIpmDraftsEntryId}};
  for (auto [folder, t] : on_inbox) {
    auto id = from(root_.get(), folders_[Folder::kInbox].folder.get(), t);
    if (!id) return id.error().context(std::string(to_string(folder)) + " folder id");
    auto f = open_folder(*id);
    if (!f) return f.error().context(to_string(folder));
    folders_[folder] = {*id, std::move(*f)};
  }
  auto sent = binary_prop(store_.get(), PR_IPM_SENTMAIL_ENTRYID);
  if (!sent) return sent.error().context("sent items folder id");
  auto sf = open_folder(*sent);
  if (!sf) return sf.error().context("sentitems");
  folders_[Folder::kSentItems] = {*sent, std::move(*sf)};
  auto waste = binary_prop(store_.get(), PR_IPM_WASTEBASKET_ENTRYID);
  if (!waste) return waste.error().context("deleted items folder id");
  auto wf = open_folder(*waste);
  if (!wf) return wf.error().context("deleted items");
  wastebasket_ = std::move(*wf);
  wastebasket_id_ = *waste;
  return Ok();
}

Result<Com<IMAPIFolder>> Mailbox::open_folder(const Binary& id) {
  Com<IMAPIFolder> f;
  ULONG type = 0;
  HRESULT h = store_->OpenEntry(static_cast<ULONG>(id.size()),
                                reinterpret_cast<LPENTRYID>(const_cast<BYTE*>(id.data())), nullptr,
                                MAPI_BEST_ACCESS, &type, reinterpret_cast<LPUNKNOWN*>(f.out()));
  if (FAILED(h)) return error_of(h, "OpenEntry of a folder");
  if (type != MAPI_FOLDER) return Error::Invalid("entry is not a folder");
  return f;
}

Result<Com<IMessage>> Mailbox::open_message(const Binary& id, bool write) {
  Com<IMessage> m;
  ULONG type = 0;
  HRESULT h = store_->OpenEntry(static_cast<ULONG>(id.size()),
                                reinterpret_cast<LPENTRYID>(const_cast<BYTE*>(id.data())), nullptr,
                                write ? MAPI_MODIFY : MAPI_BEST_ACCESS, &type,
                                reinterpret_cast<LPUNKNOWN*>(m.out()));
  if (FAILED(h)) {
    Error e = error_of(h, "OpenEntry");
    if (h == E_INVALIDARG) return Error::NotFound("no item " + to_hex(id).substr(0, 64));
    return e.is(ErrorKind::kNotFound) ? Error::NotFound("no item " + to_hex(id).substr(0, 64)) : e;
  }
  if (type != MAPI_MESSAGE)
    return Error::NotFound("entry " + to_hex(id).substr(0, 64) + " is not an item");
  return m;
}

ULONG Mailbox::tag_of(const PropRef& r) const {
  if (const auto* t = std::get_if<std::uint32_t>(&r.id)) return *t;
  return named_tags_[static_cast<std::size_t>(std::get<Named>(r.id))];
}

Result<Binary> Mailbox::binary_prop(IMAPIProp* p, ULONG t) {
  TagArray tags({t});
  ULONG count = 0;
  MapiBuffer<SPropValue> vals(api());
  HRESULT h = p->GetProps(tags.get(), MAPI_UNICODE, &count, vals.out());
  if (FAILED(h)) return error_of(h, "GetProps");
  if (count != 1 || vals->ulPropTag != t)
    return Error::NotFound("property " + PropRef{t}.label() + " missing");
  return binary_of(vals->Value.bin);
}

}  // namespace crmsync::mapi
